//! The one description of the home folder, `$BOT_BOTTLE_HOME` (default
//! `~/.bot-bottle`):
//!
//! ```text
//! bot-bottle.json agents/ skills/   the operator's manifest (see `manifest`)
//! state/<slug>/                     one bottle's state: see `bottle_dir`
//! audit/<slug>.jsonl                decisions and edits; outlives the bottle
//! home-id                           this home's identity, which labels
//!                                   everything its bottles make on an
//!                                   engine (`Home::id`)
//! trusted.json(.lock)               the trusted projects' digests and
//!                                   its lock: `manifest::TrustStore::path`
//!                                   names it (manifest is this module's
//!                                   layer: neither names the other)
//! shown.json                        the proposal digests `bot-bottle
//!                                   proposals` showed (private)
//! .shown.lock                       held while that record changes
//! images.lock                       held while a bottle finds or builds
//!                                   its images
//! subnets.lock                      held while a bottle picks its subnets
//! cache/smolvm/                     the agents' images, saved for smolvm
//! tmux/bot-bottle.conf              the tmux session's configuration
//! logs/<slug>-<what>.log            bring-up and teardown logs, which the
//!                                   dashboard's panes follow
//! ```
//!
//! Every other path is spelled here and nowhere else: writers and readers
//! ask `Home` for it.

use std::fs;
use std::path::{Path, PathBuf};

use super::{
    BottleDir, BottleLock, LiveRoutes, Metadata, StateError, check_slug, lock_file, try_lock_file,
    write_atomic,
};

/// The file that holds the home's identity (`Home::id`).
const HOME_ID_FILE: &str = "home-id";

/// `$BOT_BOTTLE_HOME`: manifests, state and audit logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// The folder, absolute.
    pub root: PathBuf,
}

impl Home {
    /// `BOT_BOTTLE_HOME`, else `~/.bot-bottle`; made absolute, since its
    /// folders are mounted into containers.
    pub(crate) fn from_env() -> Result<Home, StateError> {
        if let Some(dir) = std::env::var_os("BOT_BOTTLE_HOME").filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            let root = std::path::absolute(&dir).map_err(|e| StateError::io(&dir, e))?;
            return Ok(Home { root });
        }
        let home = std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .ok_or(StateError::NoHome)?;
        Ok(Home {
            root: PathBuf::from(home).join(".bot-bottle"),
        })
    }

    /// A home in a new temporary folder, which lasts as long as the
    /// `TempDir` returned with it.
    #[cfg(test)]
    pub(crate) fn temp() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().to_path_buf(),
        };
        (dir, home)
    }

    fn at(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// Makes the home folder, if it is not there yet.
    pub(crate) fn create(&self) -> Result<(), StateError> {
        fs::create_dir_all(&self.root).map_err(|e| StateError::io(&self.root, e))
    }

    /// This home's identity: 12 hex digits, made the first time it is
    /// asked for and kept in `home-id`. Everything a bottle makes on an
    /// engine carries it, so a home sees, lists and cleans up only its own
    /// bottles on an engine others use too.
    pub fn id(&self) -> Result<String, StateError> {
        let path = self.at(HOME_ID_FILE);
        if !path.exists() {
            self.create()?;
            // Written aside, then linked into place: the link fails when a
            // second process made it first, and then its identity holds.
            let aside = self.at(format!(".{HOME_ID_FILE}.{:016x}", rand::random::<u64>()));
            let made = format!("{:012x}\n", rand::random::<u64>() >> 16);
            fs::write(&aside, made).map_err(|e| StateError::io(&aside, e))?;
            let linked = fs::hard_link(&aside, &path);
            let _ = fs::remove_file(&aside);
            match linked {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(StateError::io(&path, e));
                }
                _ => {}
            }
        }
        let text = fs::read_to_string(&path).map_err(|e| StateError::io(&path, e))?;
        let id = text.trim();
        if id.len() == 12
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            Ok(id.to_owned())
        } else {
            Err(StateError::BadHomeId { path })
        }
    }

    /// The folder of the bottles' state folders.
    pub fn state_root(&self) -> PathBuf {
        self.at("state")
    }

    /// A bottle's state folder and the paths in it.
    pub fn bottle(&self, slug: &str) -> BottleDir {
        BottleDir::new(self.state_root().join(slug))
    }

    pub(crate) fn bottle_dir(&self, slug: &str) -> PathBuf {
        self.bottle(slug).root().to_path_buf()
    }

    pub(crate) fn audit_log(&self, slug: &str) -> PathBuf {
        self.at("audit").join(format!("{slug}.jsonl"))
    }

    /// The digests of the proposals last shown (`supervise::apply::shown`).
    pub(crate) fn shown_file(&self) -> PathBuf {
        self.at("shown.json")
    }

    /// Held while the shown record changes.
    pub(crate) fn shown_lock(&self) -> PathBuf {
        self.at(".shown.lock")
    }

    /// Held while a bottle finds or builds its images, so bottles starting
    /// at once build each image once.
    pub(crate) fn images_lock(&self) -> PathBuf {
        self.at("images.lock")
    }

    /// Held while a bottle picks its subnets, so bottles starting at once
    /// never pick the same ones.
    pub(crate) fn subnets_lock(&self) -> PathBuf {
        self.at("subnets.lock")
    }

    /// smolmachines' cache: the agents' images as `docker save` archives.
    pub(crate) fn smolvm_cache(&self) -> PathBuf {
        self.at("cache").join("smolvm")
    }

    /// The tmux session's configuration.
    pub(crate) fn tmux_conf(&self) -> PathBuf {
        self.at("tmux").join("bot-bottle.conf")
    }

    /// The folder of the dashboard's pane logs.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        self.at("logs")
    }

    /// The log of a bring-up or a teardown (`what`) of bottle `slug`.
    pub(crate) fn log_file(&self, slug: &str, what: &str) -> PathBuf {
        self.logs_dir().join(format!("{slug}-{what}.log"))
    }

    /// Whether `slug` names a bottle identity this home has a state
    /// folder for (a label read off an engine may name anything).
    pub(crate) fn has_bottle(&self, slug: &str) -> bool {
        check_slug(slug).is_ok() && self.bottle(slug).root().is_dir()
    }

    /// The state folder of an existing bottle, or a clear error.
    pub(crate) fn existing_bottle_dir(&self, slug: &str) -> Result<PathBuf, StateError> {
        check_slug(slug)?;
        let dir = self.bottle(slug);
        if dir.metadata().is_file() {
            Ok(dir.root().to_path_buf())
        } else {
            Err(StateError::NoState {
                slug: slug.to_owned(),
                dir: self.state_root(),
            })
        }
    }

    pub(crate) fn read_metadata(&self, slug: &str) -> Result<Metadata, StateError> {
        self.existing_bottle_dir(slug)?;
        let path = self.bottle(slug).metadata();
        let text = fs::read_to_string(&path).map_err(|e| StateError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| StateError::BadMetadata { path, source: e })
    }

    pub(crate) fn write_metadata(&self, slug: &str, metadata: &Metadata) -> Result<(), StateError> {
        let text = serde_json::to_string_pretty(metadata)
            .map_err(|e| StateError::io(&self.bottle_dir(slug), e.into()))?;
        write_atomic(&self.bottle(slug).metadata(), text.as_bytes(), 0o644)
    }

    /// The bottle's live routes, if it has been launched since they were
    /// kept.
    pub(crate) fn read_live_routes(&self, slug: &str) -> Result<Option<LiveRoutes>, StateError> {
        let path = self.bottle(slug).live_routes();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::io(&path, e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::BadMetadata { path, source: e })
    }

    pub(crate) fn write_live_routes(
        &self,
        slug: &str,
        routes: &LiveRoutes,
    ) -> Result<(), StateError> {
        let path = self.bottle(slug).live_routes();
        let text =
            serde_json::to_string_pretty(routes).map_err(|e| StateError::io(&path, e.into()))?;
        write_atomic(&path, text.as_bytes(), 0o600)
    }

    /// Taken while the operator's side changes a bottle (an approval, a
    /// rejection, an edit), so two of them never interleave; released when
    /// dropped.
    pub(crate) fn lock_bottle(&self, slug: &str) -> Result<BottleLock, StateError> {
        let file = lock_file(&self.bottle_folder(slug)?.lock())?;
        Ok(BottleLock(file))
    }

    /// `lock_bottle` without waiting: None while someone holds it.
    pub(crate) fn try_lock_bottle(&self, slug: &str) -> Result<Option<BottleLock>, StateError> {
        Ok(try_lock_file(&self.bottle_folder(slug)?.lock())?.map(BottleLock))
    }

    /// The state folder of bottle `slug`, which must be there.
    fn bottle_folder(&self, slug: &str) -> Result<BottleDir, StateError> {
        check_slug(slug)?;
        let dir = self.bottle(slug);
        if !dir.root().is_dir() {
            return Err(StateError::NoState {
                slug: slug.to_owned(),
                dir: self.state_root(),
            });
        }
        Ok(dir)
    }

    pub(crate) fn mark_preserved(&self, slug: &str) -> Result<(), StateError> {
        write_atomic(&self.bottle(slug).preserve(), b"", 0o644)
    }

    pub(crate) fn is_preserved(&self, slug: &str) -> bool {
        self.bottle(slug).preserve().exists()
    }

    pub(crate) fn clear_preserved(&self, slug: &str) -> Result<(), StateError> {
        let path = self.bottle(slug).preserve();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Removes a bottle's state folder; the audit log stays.
    pub(crate) fn remove_bottle_state(&self, slug: &str) -> Result<(), StateError> {
        check_slug(slug)?;
        let dir = self.bottle_dir(slug);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateError::io(&dir, e)),
            _ => Ok(()),
        }
    }

    /// The identities that have a state folder.
    pub(crate) fn list_state(&self) -> Result<Vec<String>, StateError> {
        let root = self.state_root();
        let entries = match fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StateError::io(&root, e)),
        };
        let mut slugs: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|s| check_slug(s).is_ok())
            .collect();
        slugs.sort();
        Ok(slugs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These files outlive a version of bot-bottle: their names must not
    /// change.
    #[test]
    fn the_layout_is_stable() {
        let home = Home { root: "/h".into() };
        let cases = [
            (home.state_root(), "/h/state"),
            (home.audit_log("a-1"), "/h/audit/a-1.jsonl"),
            (home.shown_file(), "/h/shown.json"),
            (home.shown_lock(), "/h/.shown.lock"),
            (home.images_lock(), "/h/images.lock"),
            (home.subnets_lock(), "/h/subnets.lock"),
            (home.smolvm_cache(), "/h/cache/smolvm"),
            (home.tmux_conf(), "/h/tmux/bot-bottle.conf"),
            (home.log_file("a-1", "up"), "/h/logs/a-1-up.log"),
        ];
        for (got, want) in cases {
            assert_eq!(got, Path::new(want));
        }
    }

    #[test]
    fn the_home_id_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().join("h"),
        };
        let id = home.id().unwrap();
        assert_eq!(id.len(), 12);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(home.id().unwrap(), id, "asked again, the same");
        assert_eq!(
            fs::read_to_string(home.at(HOME_ID_FILE)).unwrap(),
            format!("{id}\n")
        );
        let other = Home {
            root: dir.path().join("other"),
        };
        assert_ne!(other.id().unwrap(), id, "another home, another id");
        let left: Vec<_> = fs::read_dir(&home.root).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing but the file is left: {left:?}");
    }

    #[test]
    fn homes_made_at_once_agree_on_one_id() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("h");
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Home { root: root.clone() }.id().unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }

    #[test]
    fn a_bottle_is_had_only_by_a_real_identity_with_a_folder() {
        let (_dir, home) = Home::temp();
        fs::create_dir_all(home.bottle("dev-abcde").root()).unwrap();
        fs::create_dir_all(home.state_root().join("x")).unwrap();
        assert!(home.has_bottle("dev-abcde"));
        for not in ["dev-zzzzz", "..", ".", "", "../state", "x/..", "/etc"] {
            assert!(!home.has_bottle(not), "{not:?}");
        }
    }

    #[test]
    fn a_spoiled_home_id_is_refused_with_its_file_named() {
        let (_dir, home) = Home::temp();
        for bad in ["", "xyz", "0123456789AB", "0123456789ab0", "0123456789a\n0"] {
            fs::write(home.at(HOME_ID_FILE), bad).unwrap();
            let e = home.id().unwrap_err();
            assert!(matches!(e, StateError::BadHomeId { .. }), "{bad:?}: {e}");
            assert!(e.to_string().contains("home-id"), "{e}");
            assert_eq!(
                crate::error::UserError::kind(&e),
                crate::error::ExitKind::Usage
            );
        }
    }
}
