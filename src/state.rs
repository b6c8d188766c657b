//! Bottle state on the host, under `$BOT_BOTTLE_HOME`: `home` names the
//! home folder's paths, `bottle_dir` those of one bottle's state folder.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngExt;
use serde::{Deserialize, Serialize};

pub mod bottle_dir;
mod home;
pub(crate) mod scratch;
mod slug;

pub(crate) use crate::fileio::read_bounded;
pub use bottle_dir::BottleDir;
pub use home::Home;
pub(crate) use slug::Slug;

use crate::egress::config::EgressConfig;
use crate::error::{Explain, UserError};
use crate::provider::{Provider, SessionSpec};

/// Why the host's state could not be found, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Neither BOT_BOTTLE_HOME nor HOME is set.
    #[error("cannot find the home folder: set BOT_BOTTLE_HOME or HOME")]
    NoHome,
    /// Not an identity (`Slug::parse`): what was given.
    #[error("'{0}' is not a bottle identity")]
    BadSlug(String),
    /// The bottle has no state folder.
    #[error("no state for bottle '{slug}' in {dir}")]
    NoState {
        /// The identity asked for.
        slug: String,
        /// Where state folders are.
        dir: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A bottle's metadata (or its live routes) is not what was written.
    #[error("{path}: unreadable metadata: {source}")]
    BadMetadata {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        #[source]
        source: serde_json::Error,
    },
    /// The home's identity file holds something else than one.
    #[error("{path}: not a home identity (12 lowercase hex digits)")]
    BadHomeId {
        /// The file.
        path: PathBuf,
    },
}

impl UserError for StateError {
    fn explain(&self) -> Explain<'_> {
        match self {
            StateError::BadSlug(_) => {
                Explain::usage("identities look like 'shell-k3x9q'; see `bot-bottle list active`")
            }
            StateError::NoState { .. } => Explain::usage(
                "running bottles: `bot-bottle list active`; a bottle keeps its state only after an error, or a proposal that changed it",
            ),
            StateError::BadHomeId { .. } => Explain::usage(
                "remove the file and a new identity is made; this home's running bottles then show only with --all-homes: take them down first",
            ),
            StateError::NoHome => Explain::usage(None),
            StateError::Io { .. } | StateError::BadMetadata { .. } => Explain::runtime(None),
        }
    }
}

impl StateError {
    fn io(path: &Path, e: std::io::Error) -> StateError {
        StateError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// See `Home::lock_bottle`; the lock goes with the file.
#[derive(Debug)]
pub(crate) struct BottleLock(#[allow(dead_code)] fs::File);

/// The routes a bottle lives with: what it was launched with plus what was
/// approved or edited since. `resume` relaunches with them, so nothing
/// approved is lost; tokens are named by host variable, never stored here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRoutes {
    /// The routes, as egress enforces them.
    pub config: EgressConfig,
    /// Token slot → the host variable whose value fills it.
    pub token_env: BTreeMap<String, String>,
}

/// What a bottle was launched with; `resume` relaunches from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The agent's name in the manifest.
    pub agent: String,
    /// The bottles composed for it, in order.
    pub bottles: Vec<String>,
    /// The directory it was started from, or the one copied in.
    pub cwd: PathBuf,
    /// Whether `cwd` was copied into the bottle.
    pub copy_cwd: bool,
    /// Whether the files git ignores were copied too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_ignored: bool,
    /// What the operator sees it as; its identity is made from it.
    pub label: String,
    /// Its colour in the dashboard and the session.
    pub color: String,
    /// The backend it runs on (`docker`, `smolmachines`).
    pub backend: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// How sessions are started in this bottle, for `attach` and `resume`.
    pub provider: Provider,
    /// What its sessions are started with, besides the provider.
    pub session: SessionSpec,
}

/// A label as it can appear in an identity: lower-case letters, digits
/// and single dashes, at most 32 characters; "bottle" when nothing is left.
pub(crate) fn slugify(label: &str) -> String {
    let mut slug = String::new();
    for c in label.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "bottle".into()
    } else {
        slug.into()
    }
}

/// Identities are used in paths and docker names: refuse anything else.
/// See `Slug::parse`.
fn check_slug(slug: &str) -> Result<(), StateError> {
    Slug::parse(slug).map(|_| ())
}

/// Writes through a temporary file and a rename, so readers never see half
/// a file; creates the parent folders.
///
/// Sidecars can write in some of these folders, so nothing here follows a
/// symbolic link a sidecar could have planted: the folder is opened without
/// following one, the temporary file has an unpredictable name and is
/// created exclusively in that very folder, and the rename happens there
/// too (a link at `path` itself is replaced, not followed).
/// An exclusive lock on `path` (made if missing, never through a
/// symlink), held until the file is dropped.
pub(crate) fn lock_file(path: &Path) -> Result<fs::File, StateError> {
    flock(path, libc::LOCK_EX)?
        .ok_or_else(|| StateError::io(path, std::io::Error::from(std::io::ErrorKind::WouldBlock)))
}

/// `lock_file` without waiting: None while another holds it.
fn try_lock_file(path: &Path) -> Result<Option<fs::File>, StateError> {
    flock(path, libc::LOCK_EX | libc::LOCK_NB)
}

fn flock(path: &Path, operation: libc::c_int) -> Result<Option<fs::File>, StateError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| StateError::io(path, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(StateError::io(path, e));
    }
    Ok(Some(file))
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| StateError::io(dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| StateError::io(path, std::io::Error::other("not a file name")))?;
    let folder = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| StateError::io(dir, e))?;
    let at = DirFd(&folder);
    let mut rng = rand::rng();
    let mut attempt = 0;
    let (tmp, file) = loop {
        let suffix: u64 = rng.random();
        let tmp = format!(".{}.tmp-{suffix:016x}", name.to_string_lossy());
        match at.create_new(&tmp, mode) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => {
                attempt += 1;
            }
            Err(e) => return Err(StateError::io(path, e)),
        }
    };
    let result = (|| {
        let mut file = file;
        file.write_all(bytes)?;
        file.sync_all()?;
        at.rename(&tmp, name)
    })();
    result.map_err(|e| {
        let _ = at.remove(&tmp);
        StateError::io(path, e)
    })
}

/// Calls relative to an open folder, never through a link in its place.
struct DirFd<'a>(&'a fs::File);

impl DirFd<'_> {
    fn c_name(name: impl AsRef<std::ffi::OsStr>) -> std::io::Result<std::ffi::CString> {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::CString::new(name.as_ref().as_bytes())
            .map_err(|_| std::io::Error::other("a file name with a NUL byte"))
    }

    fn create_new(&self, name: &str, mode: u32) -> std::io::Result<fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let c = Self::c_name(name)?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: a valid folder descriptor and a NUL-terminated name; the
        // returned descriptor is owned by the File made from it.
        let fd = unsafe { libc::openat(self.0.as_raw_fd(), c.as_ptr(), flags, mode) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(unsafe { fs::File::from_raw_fd(fd) })
    }

    fn rename(&self, from: &str, to: &std::ffi::OsStr) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let (from, to) = (Self::c_name(from)?, Self::c_name(to)?);
        let fd = self.0.as_raw_fd();
        // SAFETY: valid descriptors and NUL-terminated names.
        if unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let c = Self::c_name(name)?;
        // SAFETY: a valid descriptor and a NUL-terminated name.
        if unsafe { libc::unlinkat(self.0.as_raw_fd(), c.as_ptr(), 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_follow_no_planted_link() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();

        // A link where the file goes is replaced, and its target untouched.
        let target = outside.join("victim");
        fs::write(&target, "keep").unwrap();
        symlink(&target, shared.join("answer.json")).unwrap();
        write_atomic(&shared.join("answer.json"), b"new", 0o644).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(
            fs::read_to_string(shared.join("answer.json")).unwrap(),
            "new"
        );
        assert!(
            !fs::symlink_metadata(shared.join("answer.json"))
                .unwrap()
                .file_type()
                .is_symlink()
        );

        // A folder swapped for a link is refused.
        symlink(&outside, shared.join("responses")).unwrap();
        let err = write_atomic(&shared.join("responses/x.json"), b"no", 0o644).unwrap_err();
        assert!(err.to_string().contains("responses"), "{err}");
        assert!(!outside.join("x.json").exists());

        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(&shared)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn bounded_reads_refuse_links_and_large_files() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "0123456789").unwrap();
        assert_eq!(read_bounded(&file, 10).unwrap(), b"0123456789");
        assert!(read_bounded(&file, 9).is_err());
        symlink(&file, dir.path().join("link")).unwrap();
        assert!(read_bounded(&dir.path().join("link"), 100).is_err());
        assert!(read_bounded(Path::new("/dev/zero"), 100).is_err());
        assert!(read_bounded(dir.path(), 100).is_err());
    }

    #[test]
    fn slugs() {
        let cases = [
            ("shell", "shell"),
            ("My Agent!", "my-agent"),
            ("--x--y--", "x-y"),
            ("", "bottle"),
            ("ÄÖÜ", "bottle"),
            (
                "a_very_long_label_that_goes_on_and_on_and_on",
                "a-very-long-label-that-goes-on-a",
            ),
        ];
        for (label, want) in cases {
            assert_eq!(slugify(label), want, "{label}");
        }
    }

    #[test]
    fn identities_are_distinct_and_valid() {
        let a = Slug::mint("Shell").into_string();
        let b = Slug::mint("Shell").into_string();
        assert_ne!(a, b);
        assert!(
            a.starts_with("shell-") && a.len() == "shell-".len() + 5,
            "{a}"
        );
        check_slug(&a).unwrap();
        assert!(check_slug("../etc").is_err());
        assert!(check_slug("Shell-x").is_err());
    }

    #[test]
    fn metadata_round_trip_preserve_and_remove() {
        let (_dir, home) = Home::temp();
        let meta = Metadata {
            agent: "shell".into(),
            bottles: vec!["default".into()],
            cwd: "/proj".into(),
            copy_cwd: true,
            include_ignored: false,
            label: "shell".into(),
            color: "cyan".into(),
            backend: "docker".into(),
            started_at: "2026-11-25T10:00:00Z".into(),
            provider: Provider::Shell,
            session: SessionSpec::default(),
        };
        assert!(matches!(
            home.read_metadata("shell-aaaaa"),
            Err(StateError::NoState { .. })
        ));
        home.write_metadata("shell-aaaaa", &meta).unwrap();
        assert_eq!(home.read_metadata("shell-aaaaa").unwrap(), meta);
        assert_eq!(home.list_state().unwrap(), ["shell-aaaaa"]);

        assert!(!home.is_preserved("shell-aaaaa"));
        home.mark_preserved("shell-aaaaa").unwrap();
        assert!(home.is_preserved("shell-aaaaa"));
        home.clear_preserved("shell-aaaaa").unwrap();
        assert!(!home.is_preserved("shell-aaaaa"));

        home.remove_bottle_state("shell-aaaaa").unwrap();
        assert!(!home.bottle_dir("shell-aaaaa").exists());
        home.remove_bottle_state("shell-aaaaa").unwrap();
    }
}
