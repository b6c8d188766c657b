//! The files a plan asks for under the bottle's state folder, as data:
//! what each holds is made (a CA, a token read from its host variable, a
//! copy) only when `backend::files` writes them.

use std::path::PathBuf;

/// A file the plan writes under the bottle's state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Relative to the state folder; its first part is the service
    /// whose folder it is in, when it has more than one.
    pub path: PathBuf,
    pub content: FileContent,
    pub mode: u32,
}

/// What goes into a planned file, made when the files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    Text(String),
    /// A host file, copied.
    Copy(PathBuf),
    /// A host folder, copied with everything in it.
    CopyDir(PathBuf),
    /// Host files, one after the other (PEM bundles).
    Concat(Vec<PathBuf>),
    /// The route tokens, as JSON `{slot: value}`, each value read from the
    /// host variable named, at write time.
    Tokens(Vec<TokenSlot>),
    /// The bottle's CA certificate, made when the files are written.
    CaCert,
    /// The bottle's CA private key.
    CaKey,
}

/// A route token's slot, and the host variable its value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSlot {
    pub slot: String,
    pub host_env: String,
}
