//! The base image, made from Debian packages on a host with no registry:
//! debootstrap a minimal bookworm and `docker import` it.

use std::fs;
use std::path::Path;

use super::{BASE_IMAGE, ImageError, exists, import_command, scratch};
use crate::exec::{APT_GET, DEBOOTSTRAP, DOCKER, Sink, TAR};

/// What the base carries beyond minbase: what the git gate and an agent's
/// tools need to reach the network and git.
const BASE_PACKAGES: &str = "ca-certificates,curl,git,openssh-client";

/// Makes the base image from Debian packages when it is missing: debootstrap
/// a minimal bookworm, then `docker import` it under `BASE_IMAGE`. Returns
/// whether it had to.
pub fn bootstrap(sink: &Sink) -> Result<bool, ImageError> {
    if exists(BASE_IMAGE)? {
        return Ok(false);
    }
    DEBOOTSTRAP.output(&mut DEBOOTSTRAP.command(["--version"]))?;
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ImageError::NeedRoot);
    }
    let mirror = mirror()?;
    let scratch = scratch("rootfs")?;
    // A folder debootstrap makes (0755): tar records it as the image's `/`.
    let root = scratch.path().join("rootfs");
    let result = (|| {
        sink.line(&format!(
            "bot-bottle: debootstrap bookworm into {} ({mirror})",
            root.display()
        ));
        let mut cmd = DEBOOTSTRAP.command([
            "--variant=minbase",
            &format!("--include={BASE_PACKAGES}"),
            "bookworm",
        ]);
        cmd.arg(&root).arg(&mirror);
        DEBOOTSTRAP.run_to(&mut cmd, sink)?;
        for dir in ["var/lib/apt/lists", "var/cache/apt/archives"] {
            clear_dir(&root.join(dir));
        }
        sink.line(&format!("bot-bottle: importing it as {BASE_IMAGE}"));
        let mut tar = TAR.command(["--numeric-owner", "-C"]);
        tar.arg(&root).args(["-c", "."]);
        let (mut tar, tar_out) = TAR.spawn_piped(&mut tar)?;
        let mut import = import_command(BASE_IMAGE, "base", &["CMD [\"/bin/bash\"]"]);
        import
            .stdin(tar_out)
            .stdout(sink.stdio().map_err(|e| ImageError::io(&root, e))?);
        let status = DOCKER.status(&mut import)?;
        let _ = tar.wait();
        DOCKER.check(&import, status, "docker import failed")?;
        Ok(())
    })();
    drop(scratch);
    result.map(|()| true)
}

fn clear_dir(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Where debootstrap fetches from: `BOT_BOTTLE_DEBIAN_MIRROR`, else the
/// machine's own apt source for Debian (its mirror, its proxy), never an
/// address of ours.
fn mirror() -> Result<String, ImageError> {
    if let Some(set) = std::env::var("BOT_BOTTLE_DEBIAN_MIRROR")
        .ok()
        .filter(|m| !m.is_empty())
    {
        return Ok(set);
    }
    let out = APT_GET.output(&mut APT_GET.command([
        "indextargets",
        "--format",
        "$(REPO_URI) $(RELEASE) $(TARGET_OF) $(COMPONENT)",
    ]))?;
    debian_mirror(&String::from_utf8_lossy(&out.stdout)).ok_or(ImageError::NoMirror)
}

/// The first source in `apt-get indextargets` lines ("URI RELEASE
/// TARGET_OF COMPONENT") that serves Debian bookworm or trixie main
/// packages.
fn debian_mirror(indextargets: &str) -> Option<String> {
    indextargets.lines().find_map(
        |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [uri, "bookworm" | "trixie", "deb", "main"] => Some(uri.to_owned()),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::debian_mirror;

    #[test]
    fn the_mirror_is_the_machines_own_debian_source() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "http://mirror.example/debian/ bookworm deb main\n",
                Some("http://mirror.example/debian/"),
            ),
            (
                "http://sec.example/debian-security/ bookworm-security deb main\n\
                 http://mirror.example/debian/ trixie deb-src main\n\
                 http://mirror.example/debian/ trixie deb contrib\n\
                 http://mirror.example/debian/ trixie deb main\n",
                Some("http://mirror.example/debian/"),
            ),
            ("http://archive.example/ubuntu/ noble deb main\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(debian_mirror(text).as_deref(), *want, "{text}");
        }
    }
}
