//! Files bot-bottle writes under the shared temporary folder (`$TMPDIR`,
//! else `/tmp`), where any user can make names too, and may have made them
//! first: a symlink or a file planted at a name bot-bottle would use must
//! change nothing and never be followed.
//!
//! - `Scratch`: a folder of one use, made with `mkdtemp` (a name no one can
//!   guess, made only if nothing is there, mode 0700), its files made with
//!   `O_EXCL` and mode 0600; removed with everything in it when dropped.
//! - `user_dir`: a folder kept for later runs of the same user (the git
//!   gate's host keys learned on first use), used only when it is a real
//!   folder of this user's that no one else may enter, as tmux does with
//!   its socket folder.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StateError;

/// A private folder of one use under the temporary folder.
#[derive(Debug)]
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// `bot-bottle-<purpose>-<random>`, mode 0700.
    pub(crate) fn new(purpose: &str) -> Result<Scratch, StateError> {
        let base = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix(&format!("bot-bottle-{purpose}-"))
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(&base)
            .map_err(|e| StateError::io(&base, e))?;
        Ok(Scratch { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A new file `name` in the folder holding `bytes`, mode 0600; an
    /// existing one is an error, never overwritten.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, StateError> {
        let path = self.dir.path().join(name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| StateError::io(&path, e))?;
        file.write_all(bytes)
            .map_err(|e| StateError::io(&path, e))?;
        Ok(path)
    }
}

/// `bot-bottle-<purpose>-<uid>` under the temporary folder, kept between
/// runs: made with mode 0700 when missing; refused when it is a link, not
/// a folder, another user's, or open to group or others.
pub(crate) fn user_dir(purpose: &str) -> Result<PathBuf, StateError> {
    // SAFETY: geteuid cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    let dir = std::env::temp_dir().join(format!("bot-bottle-{purpose}-{uid}"));
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StateError::io(&dir, e)),
    }
    // Not followed: a link there is refused, whatever it points at.
    let meta = fs::symlink_metadata(&dir).map_err(|e| StateError::io(&dir, e))?;
    let problem = if !meta.file_type().is_dir() {
        Some("is not a folder (a link, or a file)")
    } else if meta.uid() != uid {
        Some("belongs to another user")
    } else if meta.mode() & 0o077 != 0 {
        Some("is open to other users")
    } else {
        None
    };
    match problem {
        None => Ok(dir),
        Some(problem) => Err(StateError::io(
            &dir,
            std::io::Error::other(format!(
                "{problem}: bot-bottle uses it only as a folder of this user's alone (mode 0700); remove it"
            )),
        )),
    }
}

/// For tests: what another user could plant in the temporary folder.
#[cfg(test)]
pub(crate) mod planted {
    use std::path::{Path, PathBuf};

    /// A symlink planted at `name` in the shared temporary folder, to a
    /// target the test watches; removed when dropped.
    pub(crate) struct Planted(pub PathBuf);

    impl Planted {
        pub(crate) fn at(name: &str, target: &Path) -> Planted {
            let path = std::env::temp_dir().join(name);
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink(target, &path).unwrap();
            Planted(path)
        }

        /// Still the link it was, to `target`.
        pub(crate) fn intact(&self, target: &Path) -> bool {
            std::fs::read_link(&self.0).is_ok_and(|t| t == target)
        }
    }

    impl Drop for Planted {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_folder_is_private_unguessable_and_goes_when_dropped() {
        let a = Scratch::new("test").unwrap();
        let b = Scratch::new("test").unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("bot-bottle-test-") && name.len() > 20,
            "{name}"
        );
        let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(a.path()), 0o700);
        let file = a.write("f.json", b"{}").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::read(&file).unwrap(), b"{}");
        assert!(a.write("f.json", b"again").is_err(), "never overwritten");
        let dir = a.path().to_path_buf();
        drop(a);
        assert!(!dir.exists());
    }

    #[test]
    fn a_users_folder_is_used_only_when_it_is_private_and_its_own() {
        let purpose = format!("test-{:x}", rand::random::<u32>());
        let dir = user_dir(&purpose).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(user_dir(&purpose).unwrap(), dir, "kept between runs");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = user_dir(&purpose).unwrap_err().to_string();
        assert!(err.contains("is open to other users"), "{err}");
        fs::remove_dir(&dir).unwrap();
        // A link planted at its name is not followed.
        let target = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(target.path(), &dir).unwrap();
        let err = user_dir(&purpose).unwrap_err().to_string();
        assert!(err.contains("is not a folder"), "{err}");
        fs::remove_file(&dir).unwrap();
    }
}
