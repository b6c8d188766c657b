//! The base image, made from Debian packages on a host with no registry:
//! debootstrap a minimal bookworm and `docker import` it.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use super::{BASE_IMAGE, ImageError, exists, import_command, scratch};
use crate::exec::{DEBOOTSTRAP, DOCKER, Sink, TAR};

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
    let mirror = std::env::var("BOT_BOTTLE_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
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
        tar.arg(&root).args(["-c", "."]).stdout(Stdio::piped());
        let mut tar = TAR.spawn(&mut tar)?;
        let tar_out = tar
            .stdout
            .take()
            .map(Stdio::from)
            .unwrap_or_else(Stdio::null);
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
