//! What of the operator's `--cwd` folder a bottle's workspace gets. In a
//! git repository (beside the clone): git lists what it does not ignore
//! (the tracked files and the untracked ones), and what it ignores (build
//! outputs, caches) is counted for the preflight, not copied. Outside git:
//! what the folder's `.bot-bottleignore` names (see `ignore`) is left out
//! the same way. Reads the folder (through git, or walking it) and the
//! files' sizes; the choice itself is `plan::WorkTree`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::ignore::{BadLine, Patterns};
use crate::exec::{ExecError, GIT};
use crate::plan::{IgnoredBy, WorkTree};

/// The file at the top of a `--cwd` folder outside git that names what is
/// left out of its copy.
pub const IGNORE_FILE: &str = ".bot-bottleignore";

/// A `.bot-bottleignore` that cannot be used: nothing starts.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreFileError {
    #[error("{}: {bad}", path.display())]
    BadLine { path: PathBuf, bad: BadLine },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What of the working tree at `top` is copied: all of it with
/// `include_ignored`, else what git does not ignore. When git cannot list
/// it (not installed, a repository it refuses), all of it, saying why.
pub fn survey(top: &Path, include_ignored: bool) -> WorkTree {
    if include_ignored {
        return WorkTree::Everything {
            bytes: size_of(top).saturating_sub(size_of(&top.join(".git"))),
            why: "--cwd-include-ignored copies ignored files too".into(),
        };
    }
    not_ignored(top).unwrap_or_else(|e| WorkTree::Everything {
        bytes: size_of(top).saturating_sub(size_of(&top.join(".git"))),
        why: format!("git could not list what it ignores ({e}), so ignored files too"),
    })
}

/// What of a folder outside git is copied: all of it with
/// `include_ignored` or without a `.bot-bottleignore` at its top, else what
/// that file does not name. A file that cannot be read, or a line in it
/// that is not a supported pattern, is an error.
pub fn survey_folder(top: &Path, include_ignored: bool) -> Result<WorkTree, IgnoreFileError> {
    let path = top.join(IGNORE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(IgnoreFileError::Read { path, source }),
    };
    let patterns = match &text {
        Some(text) => {
            Patterns::parse(text).map_err(|bad| IgnoreFileError::BadLine { path, bad })?
        }
        None => Patterns::default(),
    };
    let why = match (include_ignored, text.is_some()) {
        (true, true) => format!("--cwd-include-ignored copies what {IGNORE_FILE} names too"),
        (true, false) => "--cwd-include-ignored".to_owned(),
        (false, false) => format!("no {IGNORE_FILE}"),
        (false, true) if patterns.is_empty() => format!("{IGNORE_FILE} names nothing"),
        (false, true) => return Ok(walk(top, &patterns)),
    };
    Ok(WorkTree::Everything {
        bytes: size_of(top),
        why,
    })
}

/// The folder at `top`, walked: what `patterns` leave out is counted and
/// not entered; the rest is listed (files, links, empty folders).
fn walk(top: &Path, patterns: &Patterns) -> WorkTree {
    let (mut files, mut bytes, mut ignored) = (Vec::new(), 0, 0);
    let mut left = vec![PathBuf::new()];
    while let Some(rel) = left.pop() {
        let Ok(entries) = fs::read_dir(top.join(&rel)) else {
            continue;
        };
        let mut empty = true;
        for entry in entries.flatten() {
            empty = false;
            let path = rel.join(entry.file_name());
            let Ok(meta) = fs::symlink_metadata(top.join(&path)) else {
                continue;
            };
            if patterns.ignores(&path.to_string_lossy(), meta.is_dir()) {
                ignored += size_of(&top.join(&path));
            } else if meta.is_dir() {
                left.push(path);
            } else {
                bytes += meta.len();
                files.push(path);
            }
        }
        if empty && !rel.as_os_str().is_empty() {
            files.push(rel);
        }
    }
    files.sort();
    WorkTree::NotIgnored {
        files,
        bytes,
        ignored,
        by: IgnoredBy::IgnoreFile,
    }
}

fn not_ignored(top: &Path) -> Result<WorkTree, ExecError> {
    // A tracked file deleted in the working tree is listed, and not there.
    let files: Vec<PathBuf> = git_paths(top, &["--cached", "--others", "--exclude-standard"])?
        .into_iter()
        .filter(|p| fs::symlink_metadata(top.join(p)).is_ok())
        .collect();
    let bytes = files.iter().map(|p| size_of(&top.join(p))).sum();
    let ignored = git_paths(
        top,
        &["--others", "--ignored", "--exclude-standard", "--directory"],
    )?
    .iter()
    .map(|p| size_of(&top.join(p)))
    .sum();
    Ok(WorkTree::NotIgnored {
        files,
        bytes,
        ignored,
        by: IgnoredBy::Git,
    })
}

/// `git ls-files -z ARGS` in `top`. The repository's own configuration
/// starts no file-system monitor for it.
fn git_paths(top: &Path, args: &[&str]) -> Result<Vec<PathBuf>, ExecError> {
    let mut cmd = GIT.command(
        [
            OsStr::new("-c"),
            OsStr::new("core.fsmonitor=false"),
            OsStr::new("-C"),
            top.as_os_str(),
            OsStr::new("ls-files"),
            OsStr::new("-z"),
        ]
        .into_iter()
        .chain(args.iter().map(OsStr::new)),
    );
    Ok(split_nul(&GIT.output(&mut cmd)?.stdout))
}

/// The paths of NUL-ended output, as they are (no quoting, any bytes).
pub fn split_nul(out: &[u8]) -> Vec<PathBuf> {
    out.split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(OsStr::from_bytes(p)))
        .collect()
}

/// `paths`, each ended by a NUL: what `split_nul` reads back, and the list
/// `tar --null --files-from` reads.
pub fn nul_ended(paths: &[PathBuf]) -> Vec<u8> {
    let mut out = Vec::new();
    for path in paths {
        out.extend_from_slice(path.as_os_str().as_bytes());
        out.push(0);
    }
    out
}

/// A file's size, or what the files below a folder come to; links are
/// not followed.
fn size_of(path: &Path) -> u64 {
    let mut total = 0;
    let mut left = vec![path.to_path_buf()];
    while let Some(path) = left.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() {
            total += meta.len();
            continue;
        }
        if let Ok(entries) = fs::read_dir(&path) {
            left.extend(entries.flatten().map(|e| e.path()));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_ended_paths_are_taken_as_they_are() {
        let cases: [(&[u8], &[&str]); 4] = [
            (b"", &[]),
            (b"a\0", &["a"]),
            (b"src/a b.rs\0--x=y\0d/\0", &["src/a b.rs", "--x=y", "d/"]),
            (b"line\nbreak\0", &["line\nbreak"]),
        ];
        for (out, want) in cases {
            let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
            assert_eq!(split_nul(out), want, "{out:?}");
            assert_eq!(split_nul(&nul_ended(&want)), want, "round trip");
        }
    }

    #[test]
    fn a_folder_counts_its_files_and_not_its_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/a"), [0u8; 100]).unwrap();
        fs::write(root.join("d/e/b"), [0u8; 20]).unwrap();
        let big = root.join("big");
        fs::write(&big, [0u8; 5000]).unwrap();
        std::os::unix::fs::symlink(&big, root.join("d/link")).unwrap();
        let link_len = fs::symlink_metadata(root.join("d/link")).unwrap().len();
        assert_eq!(size_of(&root.join("d")), 120 + link_len);
        assert_eq!(size_of(&root.join("d/a")), 100);
        assert_eq!(size_of(&root.join("gone")), 0);
    }

    #[test]
    fn asked_for_everything_git_is_not_asked() {
        let tree = survey(Path::new("/nonexistent"), true);
        assert_eq!(
            tree,
            WorkTree::Everything {
                bytes: 0,
                why: "--cwd-include-ignored copies ignored files too".into()
            }
        );
    }

    /// Against real git: what it tracks (changed or not) and what it does
    /// not ignore is listed; what it ignores is counted; a deleted tracked
    /// file is not listed.
    #[test]
    fn git_lists_what_it_does_not_ignore() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(top)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {out:?}");
        };
        git(&["init", "-q"]);
        fs::write(top.join(".gitignore"), "target/\n*.log\n").unwrap();
        fs::write(top.join("kept.rs"), "fn main() {}\n").unwrap();
        fs::write(top.join("gone.rs"), "x").unwrap();
        fs::write(top.join("forced.log"), "tracked though ignored").unwrap();
        git(&["add", ".gitignore", "kept.rs", "gone.rs"]);
        git(&["add", "-f", "forced.log"]);
        fs::remove_file(top.join("gone.rs")).unwrap();
        fs::write(top.join("new.rs"), "untracked").unwrap();
        fs::write(top.join("noise.log"), [0u8; 700]).unwrap();
        fs::create_dir_all(top.join("target/debug")).unwrap();
        fs::write(top.join("target/debug/big"), [0u8; 3000]).unwrap();
        let WorkTree::NotIgnored {
            mut files,
            bytes,
            ignored,
            by: IgnoredBy::Git,
        } = survey(top, false)
        else {
            panic!("git could not list it");
        };
        files.sort();
        let want = [".gitignore", "forced.log", "kept.rs", "new.rs"];
        assert_eq!(files, want.map(PathBuf::from));
        let sizes: u64 = want.iter().map(|f| size_of(&top.join(f))).sum();
        assert_eq!(bytes, sizes);
        assert_eq!(ignored, 3700);
    }

    /// Outside git: what `.bot-bottleignore` names is counted and not
    /// listed, nor is anything below a folder it names.
    #[test]
    fn the_ignore_file_leaves_out_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        let write = |path: &str, len: usize| {
            let path = top.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, vec![0u8; len]).unwrap();
        };
        write("src/main.rs", 10);
        write("src/target/keep.rs", 20);
        write("target/debug/big", 3000);
        write("a.log", 700);
        write("docs/b.log", 300);
        write("out/x", 5);
        write("src/out/y", 6);
        fs::create_dir_all(top.join("empty")).unwrap();
        let rules = "# build outputs\ntarget/\n*.log\n/out\n";
        fs::write(top.join(IGNORE_FILE), rules).unwrap();
        let WorkTree::NotIgnored {
            files,
            bytes,
            ignored,
            by: IgnoredBy::IgnoreFile,
        } = survey_folder(top, false).unwrap()
        else {
            panic!("not walked");
        };
        // `target/` is a folder anywhere; `/out` only at the top.
        let want = [IGNORE_FILE, "empty", "src/main.rs", "src/out/y"];
        assert_eq!(files, want.map(PathBuf::from));
        assert_eq!(bytes, rules.len() as u64 + 10 + 6);
        assert_eq!(ignored, 20 + 3000 + 700 + 300 + 5);

        let everything = survey_folder(top, true).unwrap();
        assert_eq!(everything.bytes(), size_of(top));
        assert!(everything.summary().contains("--cwd-include-ignored"));
    }

    #[test]
    fn without_an_ignore_file_all_of_it_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        assert_eq!(
            survey_folder(dir.path(), false).unwrap(),
            WorkTree::Everything {
                bytes: 100,
                why: "no .bot-bottleignore".into()
            }
        );
        fs::write(dir.path().join(IGNORE_FILE), "# nothing\n").unwrap();
        let tree = survey_folder(dir.path(), false).unwrap();
        assert!(matches!(tree, WorkTree::Everything { .. }), "{tree:?}");
    }

    #[test]
    fn a_bad_line_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IGNORE_FILE);
        fs::write(&path, "target/\n!target/keep\n").unwrap();
        let err = survey_folder(dir.path(), false).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: line 2: '!'", path.display())),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}
