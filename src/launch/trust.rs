//! Recording trust in a project's manifest, for the CLI's `trust` and the
//! dashboard's `n`: both show the summary first (`manifest::inspect`), and
//! what is recorded is the digest of what was shown — if the project
//! changed since, nothing is recorded. The record is
//! `$BOT_BOTTLE_HOME/trusted.json`, private, written atomically under a
//! lock.

use std::path::{Path, PathBuf};

use crate::error::{Explain, UserError};
use crate::manifest::{self, ManifestError, Sources, Summary, TrustStore};
use crate::state::{self, Home, StateError};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{shown} in {} changed since it was shown; nothing was trusted", dir.display())]
    Changed { shown: String, dir: PathBuf },
    #[error("{} has no bot-bottle.json and no .bot-bottle/: there is nothing to trust", .0.display())]
    Nothing(PathBuf),
}

impl UserError for TrustError {
    fn explain(&self) -> Explain<'_> {
        match self {
            TrustError::Manifest(e) => Explain::By(e),
            TrustError::State(e) => Explain::By(e),
            TrustError::Changed { .. } => Explain::usage("read it again, then trust it"),
            TrustError::Nothing(_) => Explain::usage(None),
        }
    }
}

/// The project's summary as `trust` shows it; an error when there is no
/// project there or it does not load.
pub fn summary(sources: &Sources) -> Result<Summary, TrustError> {
    manifest::inspect(sources)?.ok_or_else(|| TrustError::Nothing(sources.cwd.clone()))
}

/// Whether the trust record holds `summary`'s digest for its folder.
pub fn is_trusted(home: &Home, summary: &Summary) -> Result<bool, TrustError> {
    let store = TrustStore::read(&home.root)?;
    Ok(store.get(&summary.dir) == Some(summary.digest.as_str()))
}

/// Records `shown` as trusted, if the project is still exactly what it
/// was when shown.
pub fn trust(home: &Home, sources: &Sources, shown: &Summary) -> Result<(), TrustError> {
    let now = summary(sources)?;
    if now.digest != shown.digest || now.dir != shown.dir {
        return Err(TrustError::Changed {
            shown: shown.shown.clone(),
            dir: shown.dir.clone(),
        });
    }
    update(home, |store| store.trust(&shown.dir, &shown.digest))?;
    Ok(())
}

/// Forgets `dir` (resolved when it still exists); whether it was trusted.
pub fn revoke(home: &Home, dir: &Path) -> Result<bool, TrustError> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    update(home, |store| store.revoke(&dir))
}

/// Reads, changes and writes the record under its lock.
fn update<T>(home: &Home, change: impl FnOnce(&mut TrustStore) -> T) -> Result<T, TrustError> {
    home.create()?;
    let path = TrustStore::path(&home.root);
    let _lock = state::lock_file(&path.with_extension("json.lock"))?;
    let mut store = TrustStore::read(&home.root)?;
    let out = change(&mut store);
    state::write_atomic(&path, store.to_json().as_bytes(), 0o600)?;
    Ok(out)
}
