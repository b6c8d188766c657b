//! The patterns of a `.bot-bottleignore`: what of a `--cwd` folder outside
//! git is left out of the copy. Pure; the walk is `work_tree::survey_folder`.
//!
//! The file is read from the folder's top. It is untrusted (it comes with
//! a repository): a pattern can only leave things out of the copy, never
//! name anything outside the folder, and a line this module does not
//! understand is an error rather than a guess. Supported, one pattern a
//! line:
//!
//! - blank lines, and lines starting with `#` (comments), are skipped;
//!   trailing spaces are trimmed;
//! - `name` (no `/` but a trailing one) matches an entry of that name at
//!   any depth; `*` matches any run of characters but `/`, `?` any one
//!   character but `/`;
//! - a trailing `/` (`build/`) matches folders only;
//! - a `/` at the start or in the middle (`/out`, `docs/*.pdf`) anchors the
//!   pattern at the folder's top: it is matched against the whole path;
//! - `**` as a whole segment matches zero or more folders: `**/logs`,
//!   `a/**/b`, `cache/**` (`cache` and everything in it); elsewhere two
//!   stars are one;
//! - what a pattern matches is left out, with everything below it.
//!
//! Not supported, and an error naming the line: `!` (re-including),
//! `\` escapes, character classes (`[`…`]`), and `.` or `..` as a segment.

/// A `.bot-bottleignore`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns(Vec<Pattern>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// The segments, `**` among them; one segment when unanchored.
    segments: Vec<String>,
    /// Matched against the whole path, else against an entry's name.
    anchored: bool,
    /// Folders only (a trailing `/`).
    dir_only: bool,
}

/// A line that is not a pattern this module reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct BadLine {
    /// 1-based.
    pub line: usize,
    pub reason: &'static str,
}

impl Patterns {
    /// The patterns of a file's text; the first bad line is an error.
    pub fn parse(text: &str) -> Result<Patterns, BadLine> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let bad = |reason| BadLine {
                line: i + 1,
                reason,
            };
            let line = raw.trim_end_matches([' ', '\r']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('!') {
                return Err(bad(
                    "'!' (re-including) is not supported: a pattern can only leave things out",
                ));
            }
            if line.contains('\\') {
                return Err(bad("'\\' escapes are not supported"));
            }
            if line.contains('[') || line.contains(']') {
                return Err(bad("character classes ([...]) are not supported"));
            }
            let dir_only = line.ends_with('/');
            let body = line.trim_end_matches('/');
            let anchored = body.contains('/');
            let body = body.strip_prefix('/').unwrap_or(body);
            if body.is_empty() {
                return Err(bad("a pattern must name something below the folder"));
            }
            let segments: Vec<String> = body.split('/').map(str::to_owned).collect();
            if segments.iter().any(|s| s.is_empty()) {
                return Err(bad("empty segment ('//')"));
            }
            if segments.iter().any(|s| s == "." || s == "..") {
                return Err(bad(
                    "'.' and '..' are not supported: patterns name paths inside the folder",
                ));
            }
            patterns.push(Pattern {
                segments,
                anchored,
                dir_only,
            });
        }
        Ok(Patterns(patterns))
    }

    /// Whether the entry at `path` (relative to the folder's top, `/`
    /// between segments) is left out. The caller does not look below a
    /// folder that is.
    pub fn ignores(&self, path: &str, is_dir: bool) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let Some(name) = segments.last() else {
            return false;
        };
        self.0.iter().any(|p| {
            if p.dir_only && !is_dir {
                return false;
            }
            if p.anchored {
                segments_match(&p.segments, &segments)
            } else {
                glob(p.segments[0].as_bytes(), name.as_bytes())
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A pattern's segments against a path's, `**` matching any number of
/// segments (none too).
fn segments_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| segments_match(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((seg, path_rest)) => {
                glob(first.as_bytes(), seg.as_bytes()) && segments_match(rest, path_rest)
            }
            None => false,
        },
    }
}

/// One segment against a glob of `*` and `?` (neither matches `/`; a
/// segment has none).
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob(rest, &name[skip..])),
        Some((b'?', rest)) => name
            .split_first()
            .is_some_and(|(_, name_rest)| glob(rest, name_rest)),
        Some((c, rest)) => name
            .split_first()
            .is_some_and(|(n, name_rest)| n == c && glob(rest, name_rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_pattern_leaves_out() {
        // (pattern, path, is a folder, left out)
        let cases: &[(&str, &str, bool, bool)] = &[
            ("target", "target", true, true),
            ("target", "target", false, true),
            ("target", "a/b/target", true, true),
            ("target", "targets", true, false),
            ("target", "a/target/x", false, false), // the walk stops at a/target
            ("build/", "build", true, true),
            ("build/", "build", false, false),
            ("build/", "src/build", true, true),
            ("*.log", "x.log", false, true),
            ("*.log", "deep/er/x.log", false, true),
            ("*.log", "x.logs", false, false),
            ("*.log", ".log", false, true),
            ("?.o", "a.o", false, true),
            ("?.o", "ab.o", false, false),
            ("/out", "out", true, true),
            ("/out", "src/out", true, false),
            ("docs/*.pdf", "docs/a.pdf", false, true),
            ("docs/*.pdf", "x/docs/a.pdf", false, false),
            ("docs/*.pdf", "docs/sub/a.pdf", false, false),
            ("**/logs", "logs", true, true),
            ("**/logs", "a/b/logs", true, true),
            ("**/logs/", "a/logs", false, false),
            ("a/**/b", "a/b", true, true),
            ("a/**/b", "a/x/y/b", false, true),
            ("a/**/b", "c/a/b", false, false),
            ("cache/**", "cache/x", false, true),
            ("cache/**", "cache/x/y", false, true),
            ("cache/**", "cache", true, true),
            ("/*", "anything", false, true),
            ("/*", "a/b", false, false),
            ("a**b", "axxb", false, true),
            ("a**b", "a/b", false, false),
            (".env", ".env", false, true),
            ("*", "x", false, true),
        ];
        for (pattern, path, is_dir, want) in cases {
            let patterns = Patterns::parse(pattern).unwrap();
            assert_eq!(
                patterns.ignores(path, *is_dir),
                *want,
                "{pattern:?} on {path:?} (folder: {is_dir})"
            );
        }
    }

    #[test]
    fn comments_blanks_and_trailing_spaces() {
        let text = "# a comment\n\n   \ntarget/  \r\n*.tmp\n";
        let patterns = Patterns::parse(text).unwrap();
        assert_eq!(patterns.0.len(), 2);
        assert!(patterns.ignores("target", true));
        assert!(patterns.ignores("x.tmp", false));
        assert!(!patterns.ignores("src", true));
        assert!(Patterns::parse("# only\n").unwrap().is_empty());
    }

    #[test]
    fn bad_lines_are_named() {
        let cases: &[(&str, usize, &str)] = &[
            ("ok\n!keep", 2, "'!'"),
            ("a\\ b", 1, "escapes"),
            ("x\n\n*.[oa]", 3, "character classes"),
            ("/", 1, "below the folder"),
            ("a//b", 1, "empty segment"),
            ("../outside", 1, "'..'"),
            ("/a/../../etc", 1, "'..'"),
            ("./a", 1, "'.'"),
        ];
        for (text, line, says) in cases {
            let err = Patterns::parse(text).unwrap_err();
            assert_eq!(err.line, *line, "{text:?}");
            assert!(err.to_string().contains(says), "{text:?}: {err}");
        }
    }
}
