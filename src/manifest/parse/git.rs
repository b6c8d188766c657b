//! A bottle's `git`: the git gate's policy and its upstream remotes.

use serde_json::Value;

use super::{Fields, limits, named_entries};
use crate::manifest::{DEFAULT_PROTECTED, Git, GitRemote, ManifestError, Place, Scheme};

pub(super) const KEYS: &[&str] = &[
    "remotes",
    "protected_paths",
    "allow_force_push",
    "allow_delete",
    "allow_tags",
    "max_push",
];
const REMOTE_KEYS: &[&str] = &["name", "url", "branches", "auth"];
/// The word in `protected_paths` that stands for `DEFAULT_PROTECTED`.
const DEFAULT_WORD: &str = "default";
/// Below this a push limit is a typo: one commit is more.
const MIN_PUSH: u64 = 1 << 10;

pub(super) fn parse(f: &Fields, place: &Place) -> Result<Git, ManifestError> {
    let remotes = named_entries(
        f,
        "remotes",
        "name",
        |value, prefix| remote(&Fields::new(value, place, prefix, REMOTE_KEYS)?, place),
        |r: &GitRemote| r.name.as_str(),
        "names two remotes",
        "give each remote its own name",
    )?;
    let protected_paths = match f.get("protected_paths") {
        None => None,
        Some(_) => Some(protected_paths(f)?),
    };
    let max_push = match f.get("max_push") {
        None => None,
        Some(v) => {
            let bytes = match v {
                Value::String(s) => limits::parse_bytes(s),
                Value::Number(n) => n.as_u64(),
                _ => None,
            };
            match bytes {
                Some(b) if b >= MIN_PUSH => Some(b),
                _ => {
                    return Err(f.invalid(
                        "max_push",
                        format!("{v} is not a size of at least 1k"),
                        Some("write a number of bytes with a unit, e.g. \"64m\"".into()),
                    ));
                }
            }
        }
    };
    Ok(Git {
        remotes,
        protected_paths,
        allow_force_push: f.boolean("allow_force_push")?,
        allow_delete: f.boolean("allow_delete")?,
        allow_tags: f.boolean("allow_tags")?,
        max_push,
    })
}

fn remote(f: &Fields, place: &Place) -> Result<GitRemote, ManifestError> {
    let name = f.required_string("name")?;
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
    if !name_ok {
        return Err(f.invalid(
            "name",
            format!("'{name}' is not a remote name"),
            Some("remote names use a-z, 0-9, '_' and '-'".into()),
        ));
    }
    let url = f.required_string("url")?;
    let (host, ssh) = remote_url(&url).map_err(|problem| {
        f.invalid(
            "url",
            format!("'{url}' {problem}"),
            Some(
                "use https://host/owner/repo.git, ssh://git@host/owner/repo.git or git@host:owner/repo.git"
                    .into(),
            ),
        )
    })?;
    let branches = f.string_or_list("branches")?;
    for (i, pattern) in branches.iter().enumerate() {
        if let Err(problem) = check_pattern(pattern) {
            return Err(f.invalid(
                &format!("branches[{i}]"),
                format!("'{pattern}' {problem}"),
                Some("name branches as pushed, e.g. \"agent/*\" or \"main\"".into()),
            ));
        }
    }
    let auth = match f.get("auth") {
        None => None,
        Some(_) if ssh => {
            return Err(f.invalid(
                "auth",
                "is set on an ssh URL".into(),
                Some("an ssh remote uses the key of the bottle's `ssh` entry for its host; remove `auth`".into()),
            ));
        }
        Some(value) => {
            let prefix = format!("{}auth.", f.prefix);
            let auth = super::route::auth(value, place, &prefix, None)?;
            if !matches!(auth.scheme, Some(Scheme::Basic | Scheme::Bearer)) {
                return Err(f.invalid(
                    "auth.scheme",
                    format!(
                        "'{}' is not a scheme for git",
                        auth.scheme
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                    Some("use basic (the token being user:password) or bearer".into()),
                ));
            }
            Some(auth)
        }
    };
    Ok(GitRemote {
        name,
        url,
        host,
        ssh,
        branches,
        auth,
    })
}

/// `protected_paths`, with `default` expanded.
fn protected_paths(f: &Fields) -> Result<Vec<String>, ManifestError> {
    let mut out: Vec<String> = Vec::new();
    for (i, pattern) in f.list("protected_paths")?.iter().enumerate() {
        if pattern == DEFAULT_WORD {
            for p in DEFAULT_PROTECTED {
                if !out.iter().any(|o| o == p) {
                    out.push((*p).to_owned());
                }
            }
            continue;
        }
        if let Err(problem) = check_pattern(pattern) {
            return Err(f.invalid(
                &format!("protected_paths[{i}]"),
                format!("'{pattern}' {problem}"),
                Some("write paths relative to the repository's top, e.g. \"docs/legal/**\", or \"default\" for the built-in list".into()),
            ));
        }
        if !out.contains(pattern) {
            out.push(pattern.clone());
        }
    }
    Ok(out)
}

/// A path or branch pattern: relative, with no empty, `.` or `..` parts.
fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    if pattern.is_empty() {
        return Err("is empty");
    }
    if pattern.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("holds a space or a control character");
    }
    if pattern.starts_with('/') || pattern.starts_with("refs/") {
        return Err("is not relative");
    }
    if pattern
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err("has an empty, '.' or '..' part");
    }
    Ok(())
}

/// The host of a git URL, lower-cased, and whether it is reached over ssh;
/// or what is wrong with it.
pub(super) fn remote_url(url: &str) -> Result<(String, bool), &'static str> {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("holds a space or a control character");
    }
    let (rest, ssh) = if let Some((scheme, rest)) = url.split_once("://") {
        match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" => (rest, false),
            "ssh" => (rest, true),
            _ => return Err("has a scheme the gate does not speak"),
        }
    } else {
        // scp-like: [user@]host:path
        let Some((authority, path)) = url.split_once(':') else {
            return Err("is not a git URL");
        };
        if authority.contains('/') || path.is_empty() {
            return Err("is not a git URL");
        }
        return Ok((host_of(authority, true)?, true));
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err("names no repository path");
    }
    Ok((host_of(authority, ssh)?, ssh))
}

/// `user@host:port` → `host`; a password in the URL is refused.
fn host_of(authority: &str, ssh: bool) -> Result<String, &'static str> {
    let host = match authority.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            return Err("holds a password: put credentials in `auth`");
        }
        Some((_, _)) if !ssh => {
            return Err("holds a user name: put credentials in `auth`");
        }
        Some((_, host)) => host,
        None => authority,
    };
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
        Some(_) => return Err("has a bad port"),
        None => host,
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(host.to_owned());
    }
    super::validate_host(host).map_err(|_| "has no valid host name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UserError;

    #[test]
    fn urls() {
        type Want = Result<(&'static str, bool), &'static str>;
        let cases: &[(&str, Want)] = &[
            ("https://GitHub.com/o/r.git", Ok(("github.com", false))),
            ("http://git-server:8080/r.git", Ok(("git-server", false))),
            ("http://10.0.0.5/r.git", Ok(("10.0.0.5", false))),
            ("ssh://git@github.com/o/r.git", Ok(("github.com", true))),
            ("ssh://git@host.test:2222/r.git", Ok(("host.test", true))),
            ("git@github.com:o/r.git", Ok(("github.com", true))),
            ("github.com:o/r.git", Ok(("github.com", true))),
            ("https://github.com", Err("names no repository path")),
            (
                "https://u:p@github.com/o/r",
                Err("holds a password: put credentials in `auth`"),
            ),
            (
                "https://u@github.com/o/r",
                Err("holds a user name: put credentials in `auth`"),
            ),
            (
                "git://github.com/o/r",
                Err("has a scheme the gate does not speak"),
            ),
            (
                "file:///srv/r.git",
                Err("has a scheme the gate does not speak"),
            ),
            ("/srv/r.git", Err("is not a git URL")),
            ("https://x y/r", Err("holds a space or a control character")),
            ("ssh://git@host:x/r", Err("has a bad port")),
            ("ssh://git@bad_host/r", Err("has no valid host name")),
        ];
        for (url, want) in cases {
            let got = remote_url(url);
            let got = got.as_ref().map(|(h, s)| (h.as_str(), *s)).map_err(|e| *e);
            assert_eq!(got, *want, "{url}");
        }
    }

    #[test]
    fn patterns() {
        for ok in ["agent/*", "main", "docs/legal/**", ".github"] {
            assert_eq!(check_pattern(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/abs", "refs/heads/x", "a//b", "a/../b", "a b", "./x"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    fn parse_git(git: &str) -> Result<Git, String> {
        let text = format!(r#"{{"bottles": {{"b": {{"image": "x", "git": {git}}}}}}}"#);
        let src = super::super::Source {
            origin: crate::manifest::Origin::File("m.json".into()),
            base_dir: Some("/proj".into()),
            home: None,
        };
        super::super::parse_json(&text, &src)
            .map(|(_, bottles)| bottles[0].git.clone())
            .map_err(|e| format!("{e} | {}", e.hint().unwrap_or_default()))
    }

    #[test]
    fn a_full_git_key() {
        let git = parse_git(
            r#"{"remotes": [{"name": "up", "url": "https://Host.test/o/r.git", "branches": ["agent/*"],
                             "auth": {"scheme": "basic", "token_env": "UP_TOKEN"}},
                            {"name": "mirror", "url": "git@host.test:o/r.git", "branches": "main"}],
                "protected_paths": ["default", "docs/legal/**"],
                "allow_force_push": true, "allow_tags": false, "max_push": "16m"}"#,
        )
        .unwrap();
        assert_eq!(git.remotes.len(), 2);
        assert_eq!(git.remotes[0].host, "host.test");
        assert!(!git.remotes[0].ssh && git.remotes[1].ssh);
        assert_eq!(
            git.remotes[0].auth.as_ref().unwrap().scheme,
            Some(Scheme::Basic)
        );
        assert_eq!(git.remotes[1].branches, ["main"]);
        let paths = git.protected_paths.unwrap();
        assert_eq!(paths.len(), DEFAULT_PROTECTED.len() + 1);
        assert_eq!(paths.last().map(String::as_str), Some("docs/legal/**"));
        assert_eq!(
            (git.allow_force_push, git.allow_delete, git.allow_tags),
            (Some(true), None, Some(false))
        );
        assert_eq!(git.max_push, Some(16 << 20));
        assert_eq!(parse_git("{}").unwrap(), Git::default());
    }

    #[test]
    fn git_errors_name_the_key() {
        let cases = [
            (
                r#"{"remote": []}"#,
                "unknown key 'git.remote'",
                "did you mean 'git.remotes'",
            ),
            (
                r#"{"remotes": [{"name": "up", "url": "https://h.test/r", "branch": []}]}"#,
                "unknown key 'git.remotes[0].branch'",
                "git.remotes[0].branches",
            ),
            (
                r#"{"remotes": [{"name": "Up", "url": "https://h.test/r"}]}"#,
                "git.remotes[0].name: 'Up' is not a remote name",
                "a-z",
            ),
            (
                r#"{"remotes": [{"name": "a", "url": "https://h.test/r"}, {"name": "a", "url": "https://h.test/s"}]}"#,
                "git.remotes[1].name: 'a' names two remotes",
                "own name",
            ),
            (
                r#"{"remotes": [{"name": "a"}]}"#,
                "git.remotes[0].url: is missing",
                "",
            ),
            (
                r#"{"remotes": [{"name": "a", "url": "/srv/r.git"}]}"#,
                "git.remotes[0].url: '/srv/r.git' is not a git URL",
                "https://host",
            ),
            (
                r#"{"remotes": [{"name": "a", "url": "git@h.test:r", "auth": {"scheme": "bearer", "token_env": "T"}}]}"#,
                "git.remotes[0].auth: is set on an ssh URL",
                "ssh",
            ),
            (
                r#"{"remotes": [{"name": "a", "url": "https://h.test/r", "auth": {"scheme": "header:X-K", "token_env": "T"}}]}"#,
                "git.remotes[0].auth.scheme: 'header:X-K' is not a scheme for git",
                "basic",
            ),
            (
                r#"{"remotes": [{"name": "a", "url": "https://h.test/r", "auth": {"scheme": "bearer"}}]}"#,
                "git.remotes[0].auth.token_env: is missing",
                "",
            ),
            (
                r#"{"remotes": [{"name": "a", "url": "https://h.test/r", "branches": ["/x"]}]}"#,
                "git.remotes[0].branches[0]: '/x' is not relative",
                "",
            ),
            (
                r#"{"protected_paths": ["a/../b"]}"#,
                "git.protected_paths[0]",
                "relative to the repository",
            ),
            (
                r#"{"allow_delete": "yes"}"#,
                "git.allow_delete: expected true or false",
                "",
            ),
            (
                r#"{"max_push": "lots"}"#,
                "git.max_push: \"lots\" is not a size",
                "64m",
            ),
            (
                r#"{"max_push": 10}"#,
                "git.max_push: 10 is not a size of at least 1k",
                "",
            ),
            (r#"[]"#, "git: expected an object, found a list", ""),
        ];
        for (git, want, hint) in cases {
            let err = parse_git(git).unwrap_err();
            assert!(err.contains("bottle 'b'"), "{git}: {err}");
            assert!(err.contains(want) && err.contains(hint), "{git}: {err}");
        }
    }
}
