//! The CLI against bad manifests and `--dry-run`: exit codes, one located
//! error line, and nothing written. These need neither docker nor tmux:
//! `BOT_BOTTLE_DOCKER` points at a stand-in that answers `docker info`.

use std::fs;

mod support;

use support::cli::{CliEnv, stdout_ok};

/// The operator's own manifest: an error in it stops every start (a
/// project's never does: see `tests/cli_trust.rs`).
const HOME_JSON: &str = "home/bot-bottle.json";
const CWD_JSON: &str = "proj/bot-bottle.json";

struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    /// The first stderr line must contain each of these.
    first_line: &'static [&'static str],
    /// The hint line, if any, must contain this.
    hint: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        name: "invalid JSON",
        files: &[(HOME_JSON, "{\n  \"bottles\": {,}\n}")],
        args: &["start", "shell", "--dry-run"],
        first_line: &["home/bot-bottle.json:2:", "invalid JSON"],
        hint: None,
    },
    Case {
        name: "invalid YAML frontmatter",
        files: &[(
            "home/agents/dev.md",
            "---\nprovider: shell\nbottle: [a\n---\nbody\n",
        )],
        args: &["start", "dev", "--dry-run"],
        first_line: &["home/agents/dev.md:", "invalid YAML frontmatter"],
        hint: None,
    },
    Case {
        name: "unclosed frontmatter",
        files: &[(
            "home/agents/dev.md",
            "---\nprovider: shell\n\nYou are dev.\n",
        )],
        args: &["start", "dev", "--dry-run"],
        first_line: &["home/agents/dev.md:1:", "never closed"],
        hint: Some("'---'"),
    },
    Case {
        name: "unknown top-level key",
        files: &[(HOME_JSON, r#"{"agent": {}}"#)],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bot-bottle.json", "unknown key 'agent'"],
        hint: Some("did you mean 'agents'?"),
    },
    Case {
        name: "unknown bottle key",
        files: &[(HOME_JSON, r#"{"bottles": {"dev": {"imgae": "debian"}}}"#)],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bot-bottle.json: bottle 'dev'", "unknown key 'imgae'"],
        hint: Some("did you mean 'image'?"),
    },
    Case {
        name: "unknown route key",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "a.com", "paths": ["/"]}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bottle 'dev'", "unknown key 'egress.routes[0].paths'"],
        hint: Some("valid keys here: host, path_allowlist, auth, role"),
    },
    Case {
        name: "unknown key in markdown frontmatter",
        files: &[("home/agents/rev.md", "---\nprovder: shell\n---\n")],
        args: &["start", "shell", "--dry-run"],
        first_line: &["home/agents/rev.md: agent 'rev'", "unknown key 'provder'"],
        hint: Some("did you mean 'provider'?"),
    },
    Case {
        name: "unknown provider",
        files: &[(HOME_JSON, r#"{"agents": {"dev": {"provider": "cluade"}}}"#)],
        args: &["start", "dev", "--dry-run"],
        first_line: &[
            "bot-bottle.json: agent 'dev'",
            "provider: unknown provider 'cluade'",
        ],
        hint: Some("did you mean 'claude'?"),
    },
    Case {
        name: "unknown agent",
        files: &[],
        args: &["start", "shel", "--dry-run"],
        first_line: &["unknown agent 'shel'"],
        hint: Some("did you mean 'shell'?"),
    },
    Case {
        name: "unknown bottle in an agent",
        files: &[(
            HOME_JSON,
            r#"{"agents": {"dev": {"provider": "shell", "bottle": "gpu"}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bot-bottle.json: agent 'dev'",
            "bottle: unknown bottle 'gpu'",
        ],
        hint: Some("known bottles"),
    },
    Case {
        name: "unknown bottle on the command line",
        files: &[],
        args: &["start", "shell", "--bottle", "defualt", "--dry-run"],
        first_line: &["unknown bottle 'defualt' in --bottle"],
        hint: Some("did you mean 'default'?"),
    },
    Case {
        name: "unknown extends target",
        files: &[(HOME_JSON, r#"{"bottles": {"dev": {"extends": "nope"}}}"#)],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bot-bottle.json: bottle 'dev'",
            "extends: unknown bottle 'nope'",
        ],
        hint: None,
    },
    Case {
        name: "extends cycle",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"a": {"extends": "b"}, "b": {"extends": "a"}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bot-bottle.json: bottle 'a'", "extends: cycle a -> b -> a"],
        hint: None,
    },
    Case {
        name: "image and dockerfile",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"image": "debian", "dockerfile": "Dockerfile"}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bottle 'dev'", "both 'image' and 'dockerfile'"],
        hint: Some("keep one"),
    },
    Case {
        name: "missing Dockerfile",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"dockerfile": "docker/Dockerfile"}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bottle 'dev'",
            "dockerfile:",
            "docker/Dockerfile does not exist",
        ],
        hint: Some("relative paths start from the folder of the file"),
    },
    Case {
        name: "route host with a scheme",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "https://api.github.com"}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bottle 'dev'", "egress.routes[0].host", "has a scheme"],
        hint: Some("\"api.github.com\""),
    },
    Case {
        name: "route host with a port",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "api.github.com:8443"}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["egress.routes[0].host", "has a port"],
        hint: Some("\"api.github.com\""),
    },
    Case {
        name: "route host with a path",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "api.github.com/repos"}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["egress.routes[0].host", "has a path"],
        hint: None,
    },
    Case {
        name: "empty route host",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": ""}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["egress.routes[0].host", "is empty"],
        hint: None,
    },
    Case {
        name: "path_allowlist entry without a slash",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "a.com", "path_allowlist": ["v1/"]}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "egress.routes[0].path_allowlist[0]",
            "'v1/' is not a path prefix",
        ],
        hint: Some("start with '/'"),
    },
    Case {
        name: "auth without token_env",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "a.com", "auth": {"scheme": "bearer"}}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["egress.routes[0].auth.token_env", "is missing"],
        hint: Some("host variable"),
    },
    Case {
        name: "auth with an unknown scheme",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"egress": {"routes": [{"host": "a.com", "auth": {"scheme": "token", "token_env": "T"}}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["egress.routes[0].auth.scheme", "unknown scheme 'token'"],
        hint: Some("bearer, basic or header:NAME"),
    },
    Case {
        name: "missing ssh identity file",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"ssh": [{"host": "github.com", "identity_file": "~/.ssh/nope"}]}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bottle 'dev'",
            "ssh[0].identity_file",
            ".ssh/nope does not exist",
        ],
        hint: Some("private key"),
    },
    Case {
        name: "runtime key",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"image": "debian", "runtime": "runsc"}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bottle 'dev'",
            "'runtime' cannot be set",
            "chosen automatically",
        ],
        hint: Some("gVisor (runsc) when the docker engine has it"),
    },
    Case {
        name: "an agent defined twice in one folder",
        files: &[
            (HOME_JSON, r#"{"agents": {"dev": {"provider": "shell"}}}"#),
            ("home/agents/dev.md", "---\nprovider: shell\n---\n"),
        ],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "home/agents/dev.md: agent 'dev' is also defined in ",
            "home/bot-bottle.json",
        ],
        hint: Some("keep one"),
    },
    Case {
        name: "env value that is not a string",
        files: &[(HOME_JSON, r#"{"bottles": {"dev": {"env": {"DEBUG": 1}}}}"#)],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bottle 'dev'",
            "env.DEBUG: expected a string, found a number",
        ],
        hint: None,
    },
    Case {
        name: "a composed bottle without an image",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"gh": {"egress": {"routes": [{"host": "api.github.com"}]}}}}"#,
        )],
        args: &["start", "shell", "--bottle", "gh", "--dry-run"],
        first_line: &["bottles gh name no image"],
        hint: Some("'image' or 'dockerfile'"),
    },
    Case {
        name: "unknown git key",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"git": {"allow_force_pushes": true}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bottle 'dev'", "unknown key 'git.allow_force_pushes'"],
        hint: Some("did you mean 'git.allow_force_push'?"),
    },
    Case {
        name: "a git remote with a bad URL",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"git": {"remotes": [{"name": "up", "url": "https://u:p@h.test/r.git"}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bottle 'dev'", "git.remotes[0].url:", "holds a password"],
        hint: Some("https://host/owner/repo.git"),
    },
    Case {
        name: "an ssh remote without an ssh entry",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"git": {"remotes": [{"name": "up", "url": "git@h.test:o/r.git"}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &[
            "bot-bottle.json: bottle 'dev'",
            "git.remotes[0].url:",
            "no `ssh` entry for h.test",
        ],
        hint: Some("\"ssh\""),
    },
    Case {
        name: "auth on an ssh remote",
        files: &[(
            HOME_JSON,
            r#"{"bottles": {"dev": {"git": {"remotes": [{"name": "up", "url": "ssh://git@h.test/r", "auth": {"scheme": "bearer", "token_env": "T"}}]}}}}"#,
        )],
        args: &["start", "shell", "--dry-run"],
        first_line: &["bottle 'dev'", "git.remotes[0].auth: is set on an ssh URL"],
        hint: Some("remove `auth`"),
    },
    Case {
        name: "unknown backend",
        files: &[],
        args: &["start", "shell", "--backend", "podman", "--dry-run"],
        first_line: &["unknown backend 'podman' (from --backend)"],
        hint: Some("known backends: docker"),
    },
];

#[test]
fn bad_manifests_exit_2_with_one_located_line_and_write_nothing() {
    assert!(CASES.len() >= 15);
    for case in CASES {
        let env = CliEnv::new();
        for (path, text) in case.files {
            env.write(path, text);
        }
        let before = env.tree();
        let out = env.cmd(case.args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.name);
        assert!(
            out.stdout.is_empty(),
            "{}: stdout {:?}",
            case.name,
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            !lines.is_empty() && lines.len() <= 2,
            "{}: {stderr}",
            case.name
        );
        let first = lines[0];
        assert!(
            first.starts_with("bot-bottle: error: "),
            "{}: {first}",
            case.name
        );
        for want in case.first_line {
            assert!(
                first.contains(want),
                "{}: {first:?} lacks {want:?}",
                case.name
            );
        }
        match (case.hint, lines.get(1)) {
            (Some(want), Some(hint)) => {
                assert!(
                    hint.starts_with("  hint: ") && hint.contains(want),
                    "{}: {hint:?}",
                    case.name
                )
            }
            (Some(want), None) => panic!("{}: no hint line, wanted {want:?}", case.name),
            (None, Some(hint)) => assert!(hint.starts_with("  hint: "), "{}: {hint:?}", case.name),
            (None, None) => {}
        }
        assert_eq!(env.tree(), before, "{}: files changed", case.name);
    }
}

#[test]
fn dry_run_on_a_fresh_machine_prints_the_preflight_and_leaves_nothing() {
    let env = CliEnv::new();
    let before = env.tree();
    let out = env.cmd(&["start", "shell", "--dry-run"]).output().unwrap();
    let stdout = stdout_ok(out);
    assert!(stdout.contains("agent     shell (shell)"), "{stdout}");
    assert!(stdout.contains("backend   docker"), "{stdout}");
    assert!(stdout.contains("image     bot-bottle-agent:"), "{stdout}");
    assert!(stdout.contains("runtime   runc"), "{stdout}");
    assert!(!env.home().exists());
    assert_eq!(env.tree(), before);
}

#[test]
fn dry_run_from_the_environment_and_args_after_the_separator() {
    let env = CliEnv::new();
    let out = env
        .cmd(&["start", "shell", "--", "-c", "exit 3"])
        .env("BOT_BOTTLE_DRY_RUN", "1")
        .output()
        .unwrap();
    let stdout = stdout_ok(out);
    assert!(stdout.contains("command   bash -c 'exit 3'"), "{stdout}");
    assert!(!env.home().exists());
}

#[test]
fn user_manifests_compose_with_the_defaults() {
    let env = CliEnv::new();
    env.write(
        HOME_JSON,
        r#"{"bottles": {"gh": {"egress": {"routes": [{"host": "api.github.com", "path_allowlist": ["/repos/"],
             "auth": {"scheme": "bearer", "token_env": "GH_TOKEN"}}]}}}}"#,
    );
    env.write(
        "proj/.bot-bottle/agents/reviewer.md",
        "---\ndescription: reviews\nprovider: shell\nbottle: [default, gh]\n---\nReview the code.\n",
    );
    env.trust();
    let out = env
        .cmd(&["start", "reviewer", "--dry-run", "--label", "Review PR 7"])
        .env("GH_TOKEN", "secret-value")
        .output()
        .unwrap();
    let stdout = stdout_ok(out);
    assert!(stdout.contains("bottles   default + gh"), "{stdout}");
    assert!(
        stdout.contains("api.github.com /repos/ [token from $GH_TOKEN]"),
        "{stdout}"
    );
    assert!(stdout.contains("identity  review-pr-7-"), "{stdout}");
    assert!(!stdout.contains("secret-value"));
}

#[test]
fn start_without_an_agent_and_without_a_terminal_names_the_choices() {
    let env = CliEnv::new();
    let out = env.cmd(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no agent named"), "{stderr}");
    assert!(stderr.contains("claude|codex|shell"), "{stderr}");
}

#[test]
fn dry_run_with_cwd_in_a_git_repository_shows_the_gate_and_leaves_nothing() {
    let env = CliEnv::new();
    env.write("proj/.git/HEAD", "ref: refs/heads/main\n");
    fs::create_dir_all(env.proj().join(".git/objects")).unwrap();
    fs::create_dir_all(env.proj().join(".git/refs/heads")).unwrap();
    env.write(
        CWD_JSON,
        r#"{"bottles": {"up": {"git": {"remotes": [{"name": "up", "url": "https://h.test/o/r.git", "branches": ["agent/*"]}]}}}}"#,
    );
    env.trust();
    let before = env.tree();
    let out = env
        .cmd(&[
            "start",
            "shell",
            "--bottle",
            "default",
            "--bottle",
            "up",
            "--cwd",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("(branch main): pushes land as bot-bottle/shell-"),
        "{stdout}"
    );
    assert!(
        stdout.contains("upstream up https://h.test/o/r.git: agent/*"),
        "{stdout}"
    );
    assert!(stdout.contains("a clone of"), "{stdout}");
    assert_eq!(env.tree(), before);
}

#[test]
fn a_backend_that_is_not_installed_is_one_line_that_says_how_to_get_it() {
    let env = CliEnv::new();
    let before = env.tree();
    let cases: &[(&[&str], Option<&str>, &[&str])] = &[
        (
            &["start", "shell", "--backend", "smolmachines", "--dry-run"],
            None,
            &[
                "backend 'smolmachines' is not available here",
                "smolvm is not installed",
                "install",
            ],
        ),
        (
            &["start", "shell", "--dry-run"],
            Some("smolmachines"),
            &[
                "backend 'smolmachines' is not available here",
                "smolvm is not installed",
            ],
        ),
        (
            &["start", "shell", "--backend", "vm", "--dry-run"],
            None,
            &["unknown backend 'vm' (from --backend)"],
        ),
    ];
    for (args, from_env, want) in cases {
        let mut cmd = env.cmd(args);
        if let Some(name) = from_env {
            cmd.env("BOT_BOTTLE_BACKEND", name);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("bot-bottle: error: "), "{stderr}");
        for w in *want {
            assert!(first.contains(w), "{args:?}: {first:?} lacks {w:?}");
        }
        if want[0].starts_with("backend") {
            assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        }
        assert_eq!(env.tree(), before, "{args:?} wrote something");
    }
}

#[test]
fn dry_run_on_smolmachines_shows_the_microvm_and_what_it_reaches() {
    let env = CliEnv::new();
    let smolvm = env.dir.path().join("smolvm");
    support::fake::script(&smolvm, "#!/bin/sh\nexit 0\n");
    let out = env
        .cmd(&["start", "shell", "--backend", "smolmachines", "--dry-run"])
        .env("BOT_BOTTLE_SMOLVM", &smolvm)
        .output()
        .unwrap();
    let stdout = stdout_ok(out);
    assert!(
        stdout.contains("backend   smolmachines (the agent in a microVM by smolvm"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runtime   microVM bot-bottle-shell-"),
        "{stdout}"
    );
    assert!(
        stdout.contains("network   the microVM's egress reaches only egress, supervise"),
        "{stdout}"
    );
    assert!(!env.home().exists());
}

#[test]
fn dry_run_shows_what_the_flags_composed_in_order() {
    let env = CliEnv::new();
    env.write(CWD_JSON, r#"{"bottles": {"up": {}}}"#);
    fs::create_dir_all(env.proj().join("sub")).unwrap();
    env.trust();
    let before = env.tree();
    let out = env
        .cmd(&[
            "start",
            "shell",
            "--bottle",
            "up",
            "--bottle",
            "default",
            "--label",
            "Fix bug",
            "--color",
            "pink",
            "--cwd=sub",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row: {stdout}"))
            .to_owned()
    };
    assert!(row("identity").contains("fix-bug-"), "{stdout}");
    assert!(row("label").ends_with("Fix bug (color pink)"), "{stdout}");
    assert!(
        row("bottles").ends_with("up (from ./bot-bottle.json) + default"),
        "{stdout}"
    );
    let sub = env.proj().join("sub");
    assert!(
        row("workdir").contains(&format!("a copy of {}", sub.display())),
        "{stdout}"
    );
    // --cwd alone is still this directory, and an agent positional after it
    // is not taken for a directory.
    let out = env
        .cmd(&["start", "--cwd", "shell", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&format!("a copy of {}", env.proj().display())),
        "{stdout}"
    );
    let after = env.tree();
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(added.is_empty(), "{added:?}");
    assert_eq!(after, before);
}

#[test]
fn a_bad_color_or_a_missing_cwd_is_one_line_and_exit_2() {
    let env = CliEnv::new();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["start", "shell", "--color", "mauve", "--dry-run"],
            &["--color: unknown color 'mauve'", "pink"],
        ),
        (
            &["start", "shell", "--cwd=nowhere", "--dry-run"],
            &[
                "--cwd:",
                "nowhere is not a directory",
                "start without --cwd",
            ],
        ),
    ];
    for (args, want) in cases {
        let out = env.cmd(args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for w in *want {
            assert!(stderr.contains(w), "{args:?}: {stderr}");
        }
        assert!(stderr.lines().count() <= 2, "{args:?}: {stderr}");
    }
    assert!(!env.home().exists());
}
