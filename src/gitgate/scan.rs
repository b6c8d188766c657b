//! The DLP scan of a push: every commit of the range, its message and
//! what it adds (new files whole, the added lines of changed ones), with
//! the egress scanner and the bottle's own secrets.
//!
//! A merge is looked at for what it changes against every parent (git's
//! combined diff): what it merely brings from one side was scanned when
//! that side was pushed, or is the operator's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Duration;

use similar::{ChangeTag, TextDiff};

use super::git::{GateError, Git};
use crate::egress::dlp::Scanner;
use crate::exec::GIT;

/// The first secret found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Short sha.
    pub(crate) commit: String,
    /// The commit's subject, unless the secret is in the message.
    pub(crate) subject: Option<String>,
    /// "the commit message", "file <path>", or "a file name".
    pub(crate) place: String,
    /// The scanner's finding kind: never the secret.
    pub(crate) kind: &'static str,
}

impl Hit {
    /// What was found where: `a secret (kind) in commit … (subject), file …`.
    pub(crate) fn found(&self) -> String {
        let commit = match &self.subject {
            Some(subject) => format!("commit {} ({subject:?})", self.commit),
            None => format!("commit {}", self.commit),
        };
        format!("a secret ({}) in {commit}, {}", self.kind, self.place)
    }

    /// The refusal the agent reads.
    pub(crate) fn message(&self) -> String {
        format!(
            "{}: remove it from that commit and every later one (git rebase -i, or git commit --amend), then push again",
            self.found()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Clean,
    Found(Hit),
    /// More bytes to read than the budget allows.
    TooLarge {
        budget: u64,
    },
    /// More commits than one scan looks at (`MAX_COMMITS`).
    TooMany,
}

/// The most commits one scan looks at: each costs a `git diff-tree`.
pub(crate) const MAX_COMMITS: usize = 10_000;

/// The bytes one scan reads at most: four times a push's limit.
pub(crate) fn budget(max_push_bytes: u64) -> u64 {
    max_push_bytes.saturating_mul(4)
}

/// The commits of a range, oldest first: `rev-list` arguments, and
/// revisions one a line on stdin (`stdin` may be empty). `None` when
/// there are more than `MAX_COMMITS`.
pub(crate) fn range_commits(
    git: &Git,
    args: &[String],
    stdin: &str,
) -> Result<Option<Vec<String>>, GateError> {
    let mut all = vec![
        "rev-list".to_owned(),
        "--reverse".into(),
        format!("--max-count={}", MAX_COMMITS + 1),
    ];
    all.extend(args.iter().cloned());
    let out = if stdin.is_empty() {
        git.run(all)?
    } else {
        all.push("--stdin".into());
        git.run_with_input(all, stdin)?
    };
    let commits: Vec<String> = out.lines().map(str::to_owned).collect();
    Ok((commits.len() <= MAX_COMMITS).then_some(commits))
}

/// Scans `commits` (full ids, oldest first) in the repository `git` sees.
pub(crate) fn scan_commits(
    git: &Git,
    commits: &[String],
    scanner: &Scanner,
    budget: u64,
) -> Result<Outcome, GateError> {
    if commits.is_empty() {
        return Ok(Outcome::Clean);
    }
    let empty_tree = git.empty_tree()?;
    let mut objects = CatFile::start(git, budget)?;
    for commit in commits {
        let Some(raw) = objects.read(commit)? else {
            return Ok(Outcome::TooLarge { budget });
        };
        let (parents, message) = parse_commit(&raw);
        let short: String = commit.chars().take(10).collect();
        let found = |place: String, kind| Hit {
            commit: short.clone(),
            subject: Some(subject(&message)),
            place,
            kind,
        };
        if let Some(f) = scanner.scan(message.as_bytes()) {
            return Ok(Outcome::Found(Hit {
                commit: short,
                subject: None,
                place: "the commit message".into(),
                kind: f.kind,
            }));
        }
        for entry in changes(git, commit, &parents, &empty_tree)? {
            if let Some(f) = scanner.scan(entry.path.as_bytes()) {
                return Ok(Outcome::Found(found("a file name".into(), f.kind)));
            }
            let Some(new) = objects.read(&entry.new)? else {
                return Ok(Outcome::TooLarge { budget });
            };
            let old = match &entry.old {
                Some(old) => match objects.read(old)? {
                    Some(bytes) => Some(bytes),
                    None => return Ok(Outcome::TooLarge { budget }),
                },
                None => None,
            };
            let finding = match old {
                None => scanner.scan(&new),
                Some(old) if is_binary(&old) || is_binary(&new) => scanner
                    .scan(&new)
                    .filter(|f| scanner.scan(&old).is_none_or(|o| o.kind != f.kind)),
                Some(old) => scanner.scan(added_lines(&old, &new).as_bytes()),
            };
            if let Some(f) = finding {
                let path = super::git::printable(&entry.path);
                return Ok(Outcome::Found(found(format!("file {path}"), f.kind)));
            }
        }
    }
    Ok(Outcome::Clean)
}

/// A file a commit adds or changes (blobs only: no deletions, no
/// submodules).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    path: String,
    /// The blob before, for a changed file.
    old: Option<String>,
    new: String,
}

fn changes(
    git: &Git,
    commit: &str,
    parents: &[String],
    empty_tree: &str,
) -> Result<Vec<Change>, GateError> {
    let diff = |from: &str| -> Result<Vec<Change>, GateError> {
        let out = git.command(["diff-tree", "-r", "-z", "--no-renames", from, commit]);
        let mut out = out;
        let out = GIT.output(&mut out)?;
        Ok(parse_diff_tree(&out.stdout))
    };
    let Some((first, rest)) = parents.split_first() else {
        return diff(empty_tree);
    };
    let mut changed = diff(first)?;
    for parent in rest {
        // Combined: only what differs from every parent.
        let other: Vec<(String, String)> =
            diff(parent)?.into_iter().map(|c| (c.path, c.new)).collect();
        changed.retain(|c| other.iter().any(|(p, n)| *p == c.path && *n == c.new));
    }
    Ok(changed)
}

/// `git diff-tree -r -z` raw output: `:<mode> <mode> <old> <new> <status>`
/// NUL `<path>` NUL, repeated.
fn parse_diff_tree(raw: &[u8]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut fields = raw.split(|b| *b == 0);
    while let Some(meta) = fields.next() {
        let meta = String::from_utf8_lossy(meta);
        let Some(meta) = meta.strip_prefix(':') else {
            continue;
        };
        let Some(path) = fields.next() else { break };
        let parts: Vec<&str> = meta.split(' ').collect();
        let [_, new_mode, old, new, status] = parts[..] else {
            continue;
        };
        // Deletions bring nothing; gitlinks (160000) are not blobs here.
        if status.starts_with('D') || new_mode == "160000" {
            continue;
        }
        let zero = old.bytes().all(|b| b == b'0');
        out.push(Change {
            path: String::from_utf8_lossy(path).into_owned(),
            old: (!zero && !status.starts_with('A')).then(|| old.to_owned()),
            new: new.to_owned(),
        });
    }
    out
}

/// Parents and message of a raw commit object.
fn parse_commit(raw: &[u8]) -> (Vec<String>, String) {
    let text = String::from_utf8_lossy(raw);
    let (headers, message) = text.split_once("\n\n").unwrap_or((&text, ""));
    let parents = headers
        .lines()
        .filter_map(|l| l.strip_prefix("parent "))
        .map(|p| p.trim().to_owned())
        .collect();
    (parents, message.to_owned())
}

fn subject(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    super::git::printable(&line.chars().take(80).collect::<String>())
}

/// Git's rule: a NUL in the first 8000 bytes.
fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8000).any(|b| *b == 0)
}

/// The lines `new` adds to `old`, joined.
fn added_lines(old: &[u8], new: &[u8]) -> String {
    let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let diff = TextDiff::configure()
        .timeout(Duration::from_secs(5))
        .diff_lines(old.as_ref(), new.as_ref());
    diff.iter_all_changes()
        .filter(|c| c.tag() == ChangeTag::Insert)
        .map(|c| c.value())
        .collect()
}

/// One `git cat-file --batch` for every object of a scan, within a budget
/// of bytes. Objects already read are not read again.
struct CatFile {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    left: u64,
    seen: BTreeMap<String, ()>,
}

impl CatFile {
    fn start(git: &Git, budget: u64) -> Result<CatFile, GateError> {
        let mut cmd = git.command(["cat-file", "--batch"]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = GIT.spawn(&mut cmd)?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(GateError::Git("cat-file has no pipes".into()));
        };
        Ok(CatFile {
            child,
            input,
            output: BufReader::new(output),
            left: budget,
            seen: BTreeMap::new(),
        })
    }

    /// The object's content; `None` past the budget. An object read
    /// before costs nothing more (its content is read again, though).
    fn read(&mut self, oid: &str) -> Result<Option<Vec<u8>>, GateError> {
        let fail = |e: std::io::Error| GateError::Git(format!("cat-file: {e}"));
        writeln!(self.input, "{oid}").map_err(fail)?;
        self.input.flush().map_err(fail)?;
        let mut header = String::new();
        self.output.read_line(&mut header).map_err(fail)?;
        let size: u64 = match header.trim_end().rsplit(' ').next() {
            Some(s) if !header.ends_with("missing\n") => s
                .parse()
                .map_err(|_| GateError::Git(format!("cat-file header {header:?}")))?,
            _ => return Err(GateError::Git(format!("object {oid} is missing"))),
        };
        if !self.seen.contains_key(oid) {
            if size > self.left {
                return Ok(None);
            }
            self.left -= size;
            self.seen.insert(oid.to_owned(), ());
        }
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut self.output)
            .take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(fail)?;
        bytes.pop(); // the newline after the content
        Ok(Some(bytes))
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_tree_entries() {
        let z = "0000000000000000000000000000000000000000";
        let a = "1111111111111111111111111111111111111111";
        let b = "2222222222222222222222222222222222222222";
        let raw = format!(
            ":000000 100644 {z} {a} A\0new.txt\0:100644 100644 {a} {b} M\0dir/changed\0:100644 000000 {a} {z} D\0gone\0:000000 160000 {z} {a} A\0sub\0:100644 120000 {a} {b} T\0link\0"
        );
        let got = parse_diff_tree(raw.as_bytes());
        let want = vec![
            Change {
                path: "new.txt".into(),
                old: None,
                new: a.into(),
            },
            Change {
                path: "dir/changed".into(),
                old: Some(a.into()),
                new: b.into(),
            },
            Change {
                path: "link".into(),
                old: Some(a.into()),
                new: b.into(),
            },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn commit_objects_and_text() {
        let raw = b"tree t\nparent p1\nparent p2\nauthor x\n\nSubject line\n\nbody\n";
        let (parents, message) = parse_commit(raw);
        assert_eq!(parents, vec!["p1", "p2"]);
        assert_eq!(subject(&message), "Subject line");
        assert_eq!(added_lines(b"a\nb\n", b"a\nx\nb\ny\n"), "x\ny\n");
        assert!(is_binary(b"a\0b"));
        assert!(!is_binary(b"plain"));
    }

    #[test]
    fn hit_message_names_commit_and_file_never_the_secret() {
        let hit = Hit {
            commit: "abc1234567".into(),
            subject: Some("add config".into()),
            place: "file conf/app.env".into(),
            kind: "aws-access-key-id",
        };
        let m = hit.message();
        assert!(m.contains("abc1234567") && m.contains("add config"), "{m}");
        assert!(
            m.contains("conf/app.env") && m.contains("aws-access-key-id"),
            "{m}"
        );
    }
}
