//! The git gate's default protected paths: what `protected_paths`
//! means when a bottle leaves it unset, or writes `default` in it.

/// Paths a push may not change without the operator's approval: what runs
/// code, or steers a program that does, on the operator's machine when
/// they open the tree, enter it, commit in it, or run their usual tools
/// there (git, an editor, a coding agent, a package manager, `make`). The
/// project's source and its ordinary manifests (`package.json`,
/// `Cargo.toml`) are not here: they are code the operator reviews as code.
/// A pattern without `/` matches a file or folder name at any depth; a
/// path is protected when it or one of its folders matches. Matching
/// ignores case. The bottle's own manifest files and Dockerfiles are added
/// by the plan. The README's Git section lists them with the reasons.
pub(crate) const DEFAULT_PROTECTED: &[&str] = &[
    // git's own files (`.gitattributes` filters, `.gitmodules`) and
    // GitHub's and GitLab's CI.
    ".git*",
    // CI definitions.
    ".ci",
    ".circleci",
    ".buildkite",
    ".woodpecker",
    ".woodpecker.yml",
    ".drone.yml",
    ".travis.yml",
    "Jenkinsfile",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    // Git hook managers: run on commit and push.
    ".husky",
    "lefthook*",
    ".lefthook*",
    ".pre-commit-config.*",
    ".overcommit.yml",
    ".simple-git-hooks*",
    "simple-git-hooks*",
    // Coding agents' instructions, hooks and MCP servers.
    ".claude",
    "CLAUDE.md",
    "CLAUDE.local.md",
    ".mcp.json",
    ".codex",
    "AGENTS.md",
    "AGENTS.override.md",
    ".gemini",
    "GEMINI.md",
    ".cursor",
    ".cursorrules",
    ".windsurf",
    ".windsurfrules",
    ".clinerules",
    ".roo",
    ".continue",
    ".aider*",
    ".amazonq",
    // Environments and toolchains: run or download programs on entering
    // the folder or on the first command.
    ".envrc",
    "mise*.toml",
    ".mise*.toml",
    ".mise",
    "mise",
    ".tool-versions",
    ".prototools",
    "rust-toolchain",
    "rust-toolchain.toml",
    ".nvmrc",
    ".node-version",
    ".python-version",
    ".ruby-version",
    ".java-version",
    ".sdkmanrc",
    ".bazelversion",
    ".bazelrc",
    // Editors and dev containers: tasks, settings and extensions.
    ".vscode",
    ".devcontainer",
    ".idea",
    ".zed",
    "*.code-workspace",
    // Package managers' and build tools' configuration that names
    // programs to run (`.cargo/config.toml`'s runners, `yarnPath`).
    ".cargo",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".yarn",
    ".pnpmfile.cjs",
    "bunfig.toml",
    ".mvn",
    "mvnw",
    "gradlew",
    "gradle-wrapper.properties",
    // Build entry points run by habit.
    "Makefile",
    "GNUmakefile",
    "*.mk",
    "justfile",
    ".justfile",
    "Taskfile*",
    "Rakefile",
    // bot-bottle's own manifests.
    ".bot-bottle",
    "bot-bottle.json",
];
