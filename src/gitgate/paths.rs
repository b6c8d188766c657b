//! Path and branch patterns, pure.
//!
//! Protected paths (see `manifest::DEFAULT_PROTECTED`): a pattern without
//! `/` names a file or folder at any depth; one with `/` is anchored at the
//! repository's root. A path is protected when it, or one of the folders it
//! is in, matches. `*` stands for any run of characters within one name,
//! `**` for any number of whole names. Case is ignored: a checkout on a
//! case-insensitive file system treats `.GitHub` as `.github`.
//!
//! Branch patterns of remotes (`agent/*`, `**`) use the same wildcards,
//! match the whole branch name, and respect case, as git does.

/// The first pattern that protects `path`, if any.
pub(crate) fn protected_by<'a>(patterns: &'a [String], path: &str) -> Option<&'a str> {
    let path = path.to_lowercase();
    let names = components(&path);
    patterns
        .iter()
        .find(|pattern| protects(&pattern.to_lowercase(), &names))
        .map(String::as_str)
}

/// Whether a branch (`feature/x`, without `refs/heads/`) matches one of
/// a remote's patterns.
pub(crate) fn branch_matches(patterns: &[String], branch: &str) -> bool {
    let names = components(branch);
    patterns
        .iter()
        .any(|pattern| glob(&components(pattern), &names))
}

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

fn protects(pattern: &str, names: &[&str]) -> bool {
    let parts = components(pattern);
    if parts.is_empty() {
        return false;
    }
    if !pattern.trim_matches('/').contains('/') {
        // A name at any depth: the path or one of its folders.
        return names.iter().any(|name| name_matches(parts[0], name));
    }
    // Anchored: the path itself or one of its folders.
    (1..=names.len()).any(|n| glob(&parts, &names[..n]))
}

/// Whole-path match, `**` spanning any number of names (none included).
fn glob(parts: &[&str], names: &[&str]) -> bool {
    match parts.split_first() {
        None => names.is_empty(),
        Some((&"**", rest)) => (0..=names.len()).any(|skip| glob(rest, &names[skip..])),
        Some((first, rest)) => match names.split_first() {
            Some((name, names)) => name_matches(first, name) && glob(rest, names),
            None => false,
        },
    }
}

/// One name against one pattern name, `*` matching any run of characters.
fn name_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Classic wildcard matching with one backtrack point.
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::DEFAULT_PROTECTED;

    fn defaults() -> Vec<String> {
        DEFAULT_PROTECTED.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn protected_paths_table() {
        let mut patterns = defaults();
        patterns.push("docker/Dockerfile".into());
        patterns.push("deploy/**/secrets".into());
        #[rustfmt::skip]
        let table: &[(&str, Option<&str>)] = &[
            (".github/workflows/ci.yml", Some(".git*")),
            // Case is ignored.
            (".GitHub/workflows/x", Some(".git*")),
            (".GITMODULES", Some(".git*")),
            ("a/.gitmodules", Some(".git*")),
            ("deep/er/.gitattributes", Some(".git*")),
            ("src/.envrc", Some(".envrc")),
            (".envrc", Some(".envrc")),
            // `.git*` protects more than git's files; harmless, and said so
            // in the policy text (the pattern is listed).
            ("docs/.github-notes.md", Some(".git*")),
            ("Jenkinsfile", Some("Jenkinsfile")),
            ("ci/JENKINSFILE", Some("Jenkinsfile")),
            (".vscode/settings.json", Some(".vscode")),
            ("tools/.devcontainer/devcontainer.json", Some(".devcontainer")),
            // Names that look like traversal are names like any other.
            ("../.envrc", Some(".envrc")),
            ("a/../.github/x", Some(".git*")),
            ("a//.gitignore", Some(".git*")),
            // Anchored patterns: the path or a folder of it, from the root.
            ("docker/Dockerfile", Some("docker/Dockerfile")),
            ("Docker/dockerfile", Some("docker/Dockerfile")),
            ("sub/docker/Dockerfile", None),
            ("deploy/secrets/x", Some("deploy/**/secrets")),
            ("deploy/a/b/secrets", Some("deploy/**/secrets")),
            // Unicode: lower-cased, compared as characters.
            ("ünïcode/.envrc", Some(".envrc")),
            ("日本/.vscode", Some(".vscode")),
            ("\u{ff0e}github/x", None),
            // Not protected.
            ("src/main.rs", None),
            ("envrc", None),
            ("my.envrc", None),
            ("git/config", None),
            ("README.md", None),
            ("docker/Dockerfile.old", None),
            ("", None),
        ];
        for (path, want) in table {
            assert_eq!(protected_by(&patterns, path), *want, "{path}");
        }
    }

    #[test]
    fn the_defaults_cover_what_runs_code_on_the_operators_machine() {
        let patterns = defaults();
        #[rustfmt::skip]
        let protected: &[&str] = &[
            // Hook managers.
            ".husky/pre-commit", "web/.husky/_/husky.sh", "lefthook.yml", "lefthook.yaml",
            "lefthook-local.yml", ".lefthook.yml", ".lefthook-local.yaml", "lefthook.toml",
            ".lefthook/pre-commit/lint.sh", ".pre-commit-config.yaml", ".pre-commit-config.yml",
            ".overcommit.yml", ".simple-git-hooks.json", "simple-git-hooks.js",
            // Coding agents.
            ".claude/settings.json", "sub/.claude/commands/x.md", "CLAUDE.md", "docs/CLAUDE.md",
            "CLAUDE.local.md", ".mcp.json", ".codex/config.toml", "AGENTS.md", "pkg/AGENTS.md",
            "AGENTS.override.md", ".gemini/settings.json", "GEMINI.md", ".cursor/mcp.json",
            ".cursorrules", ".windsurfrules", ".clinerules", ".roo/mcp.json",
            ".continue/config.yaml", ".aider.conf.yml", ".amazonq/mcp.json",
            // Environments and toolchains.
            ".envrc", "mise.toml", "mise.local.toml", "mise.dev.toml", ".mise.toml",
            ".mise/config.toml", ".config/mise/config.toml", ".config/mise.toml",
            ".tool-versions", "rust-toolchain", "rust-toolchain.toml", ".nvmrc", ".node-version",
            ".python-version", ".ruby-version", ".java-version", ".sdkmanrc", ".prototools",
            ".bazelversion", ".bazelrc",
            // Editors and dev containers.
            ".vscode/tasks.json", ".devcontainer/devcontainer.json", ".idea/workspace.xml",
            ".zed/tasks.json", "app.code-workspace",
            // Package managers and build tools that run what they are told.
            ".cargo/config.toml", "crates/x/.cargo/config", ".npmrc", ".yarnrc", ".yarnrc.yml",
            ".yarn/releases/yarn-4.cjs", ".pnpmfile.cjs", "bunfig.toml", ".mvn/extensions.xml",
            "mvnw", "gradlew", "gradle/wrapper/gradle-wrapper.properties",
            // Build entry points.
            "Makefile", "makefile", "GNUmakefile", "sub/Makefile", "rules.mk", "justfile",
            "Justfile", ".justfile", "Taskfile.yml", "Taskfile.dist.yaml", "taskfile.yaml",
            "Rakefile",
        ];
        for path in protected {
            assert!(
                protected_by(&patterns, path).is_some(),
                "{path} is not protected"
            );
        }
        // The project's source and its ordinary manifests are code the
        // operator reviews as code.
        #[rustfmt::skip]
        let ordinary: &[&str] = &[
            "package.json", "Cargo.toml", "Cargo.lock", "pyproject.toml", "go.mod", "setup.py",
            "src/main.rs", "src/make.rs", "src/makefile_parser.py", "docs/agents.md.txt",
            "tools/claude_client.py", "README.md", "Dockerfile", "mk/notes.txt", "src/mise.rs",
            "yarn.lock", "pnpm-lock.yaml", ".editorconfig", ".env.example",
        ];
        for path in ordinary {
            assert_eq!(protected_by(&patterns, path), None, "{path}");
        }
    }

    #[test]
    fn branch_patterns_table() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        #[rustfmt::skip]
        let table: &[(&[&str], &str, bool)] = &[
            (&["agent/*"], "agent/x", true),
            (&["agent/*"], "agent/x/y", false),
            (&["agent/*"], "agent", false),
            (&["agent/*"], "Agent/x", false),
            (&["agent/**"], "agent/x/y", true),
            (&["**"], "main", true),
            (&["**"], "a/b/c", true),
            (&["*"], "a/b", false),
            (&["feat-*"], "feat-1", true),
            (&["feat-*"], "feat", false),
            (&["main"], "main", true),
            (&["main"], "mainline", false),
            (&[], "main", false),
            (&["x", "agent/*"], "agent/y", true),
            (&["*-wip"], "a-b-wip", true),
        ];
        for (patterns, branch, want) in table {
            assert_eq!(
                branch_matches(&p(patterns), branch),
                *want,
                "{patterns:?} {branch}"
            );
        }
    }
}
