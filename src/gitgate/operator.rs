//! Finding the operator's repository from a folder: the `.git` folder (or
//! a worktree's `.git` file) above it, its common git directory and the
//! checked-out branch. Reads files only; no git needed on the host.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Explain, UserError};

/// The operator's repository a gate lands pushes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRepo {
    /// The working tree's top folder, copied into the agent's workspace.
    pub(crate) top: PathBuf,
    /// This working tree's git directory (a worktree's own, for a linked
    /// worktree).
    pub(crate) git_dir: PathBuf,
    /// The git directory holding `objects/` and `refs/`, mounted in the
    /// gate.
    pub(crate) common_dir: PathBuf,
    /// The checked-out branch (`main`), None when HEAD is detached.
    pub(crate) head: Option<String>,
}

/// The operator's git directory cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A `.git` file without a `gitdir:` line.
    #[error("{path}: not a `gitdir: PATH` line")]
    BadGitFile {
        /// The path.
        path: PathBuf,
    },
    /// The folder named is not a git directory.
    #[error("{path}: the git directory it names has no objects/ or refs/")]
    NotAGitDir {
        /// The path.
        path: PathBuf,
    },
}

impl UserError for OperatorError {
    /// The repository `--cwd` copies is found on disk, at run time.
    fn explain(&self) -> Explain<'_> {
        match self {
            OperatorError::Read { .. } => {
                Explain::runtime("make the repository readable, or start without --cwd")
            }
            OperatorError::BadGitFile { .. } | OperatorError::NotAGitDir { .. } => {
                Explain::runtime(
                    "repair the repository (`git worktree repair`), or start from outside it",
                )
            }
        }
    }
}

/// The repository `start` is in, if any: the nearest `.git` above it.
pub(crate) fn find(start: &Path) -> Result<Option<OperatorRepo>, OperatorError> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        let Ok(meta) = fs::symlink_metadata(&dot_git) else {
            continue;
        };
        let git_dir = if meta.is_file() {
            let text = read(&dot_git)?;
            let named = parse_git_file(&text).ok_or_else(|| OperatorError::BadGitFile {
                path: dot_git.clone(),
            })?;
            dir.join(named)
        } else {
            dot_git
        };
        let common_dir = match fs::read_to_string(git_dir.join("commondir")) {
            Ok(text) => git_dir.join(text.trim_end_matches(['\n', '\r'])),
            Err(_) => git_dir.clone(),
        };
        let common_dir = fs::canonicalize(&common_dir).map_err(|e| io(&common_dir, e))?;
        if !common_dir.join("objects").is_dir() || !common_dir.join("refs").is_dir() {
            return Err(OperatorError::NotAGitDir { path: common_dir });
        }
        let head = head_branch(&read(&git_dir.join("HEAD"))?);
        return Ok(Some(OperatorRepo {
            top: dir.to_path_buf(),
            git_dir,
            common_dir,
            head,
        }));
    }
    Ok(None)
}

/// `gitdir: PATH` → PATH.
fn parse_git_file(text: &str) -> Option<&str> {
    let path = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    (!path.is_empty()).then_some(path)
}

/// `ref: refs/heads/main` → `main`; anything else (a detached commit) →
/// None.
pub(crate) fn head_branch(head: &str) -> Option<String> {
    let branch = head
        .trim()
        .strip_prefix("ref:")?
        .trim()
        .strip_prefix("refs/heads/")?;
    (!branch.is_empty()).then(|| branch.to_owned())
}

fn read(path: &Path) -> Result<String, OperatorError> {
    fs::read_to_string(path).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> OperatorError {
    OperatorError::Read {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_dir(at: &Path, head: &str) {
        fs::create_dir_all(at.join("objects")).unwrap();
        fs::create_dir_all(at.join("refs/heads")).unwrap();
        fs::write(at.join("HEAD"), head).unwrap();
    }

    #[test]
    fn heads() {
        let cases = [
            ("ref: refs/heads/main\n", Some("main")),
            ("ref: refs/heads/agent/x", Some("agent/x")),
            ("ref: refs/remotes/o/x\n", None),
            ("0123456789abcdef0123456789abcdef01234567\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(head_branch(text).as_deref(), want, "{text:?}");
        }
        assert_eq!(parse_git_file("gitdir: ../x/.git\n"), Some("../x/.git"));
        assert_eq!(parse_git_file("nope"), None);
        assert_eq!(parse_git_file("gitdir:  \n"), None);
    }

    #[test]
    fn a_subfolder_of_a_plain_repository() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("proj");
        git_dir(&top.join(".git"), "ref: refs/heads/main\n");
        fs::create_dir_all(top.join("src/deep")).unwrap();
        let repo = find(&top.join("src/deep")).unwrap().unwrap();
        assert_eq!(repo.top, top);
        assert_eq!(repo.git_dir, top.join(".git"));
        assert_eq!(repo.common_dir, fs::canonicalize(top.join(".git")).unwrap());
        assert_eq!(repo.head.as_deref(), Some("main"));
    }

    #[test]
    fn a_linked_worktree_follows_gitdir_and_commondir() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main");
        git_dir(&main.join(".git"), "ref: refs/heads/main\n");
        let wt_git = main.join(".git/worktrees/wt");
        fs::create_dir_all(&wt_git).unwrap();
        fs::write(wt_git.join("HEAD"), "ref: refs/heads/plan\n").unwrap();
        fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        let wt = dir.path().join("wt");
        fs::create_dir_all(&wt).unwrap();
        fs::write(wt.join(".git"), format!("gitdir: {}\n", wt_git.display())).unwrap();
        let repo = find(&wt).unwrap().unwrap();
        assert_eq!(repo.top, wt);
        assert_eq!(repo.git_dir, wt_git);
        assert_eq!(
            repo.common_dir,
            fs::canonicalize(main.join(".git")).unwrap()
        );
        assert_eq!(repo.head.as_deref(), Some("plan"));

        // A relative gitdir, as submodules write it, and a detached HEAD.
        let sub = main.join("sub");
        fs::create_dir_all(&sub).unwrap();
        git_dir(&main.join(".git/modules/sub"), "0123abcd\n");
        fs::write(sub.join(".git"), "gitdir: ../.git/modules/sub\n").unwrap();
        let repo = find(&sub).unwrap().unwrap();
        assert_eq!(repo.top, sub);
        assert_eq!(
            repo.common_dir,
            fs::canonicalize(main.join(".git/modules/sub")).unwrap()
        );
        assert_eq!(repo.head, None);
    }

    #[test]
    fn no_repository_and_broken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        fs::create_dir_all(&plain).unwrap();
        // The temp folder itself might sit in a repository; look below it.
        if find(dir.path()).unwrap().is_none() {
            assert_eq!(find(&plain).unwrap(), None);
        }
        fs::write(plain.join(".git"), "nonsense\n").unwrap();
        assert!(matches!(
            find(&plain),
            Err(OperatorError::BadGitFile { .. })
        ));
        fs::write(plain.join(".git"), "gitdir: /nonexistent/x\n").unwrap();
        assert!(matches!(find(&plain), Err(OperatorError::Read { .. })));
        fs::remove_file(plain.join(".git")).unwrap();
        fs::create_dir_all(plain.join(".git")).unwrap();
        assert!(matches!(
            find(&plain),
            Err(OperatorError::NotAGitDir { .. })
        ));
    }
}
