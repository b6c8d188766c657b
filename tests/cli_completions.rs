//! `bot-bottle completions`: the shell code for bash, zsh and fish, and
//! what the binary answers when the shell calls it back: verbs, running
//! bottles' identities (from a stand-in docker), kept ones, the manifest's
//! agents. No docker or tmux needed; bash is.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use support::cli::CliEnv;

const VERBS: [&str; 6] = ["start", "attach", "stop", "resume", "doctor", "completions"];

struct Env {
    cli: CliEnv,
}

impl Env {
    /// A home with one kept bottle (`kept-aaaaa`), a project with an agent
    /// (`reviewer`), and a docker that lists one running bottle of this
    /// home's (`shell-b2c3d`) and one of another home's (`their-zzzzz`),
    /// which is never offered.
    fn new() -> Env {
        let row = |slug: &str, home: &str| {
            format!(
                "bot-bottle-{slug}-agent\trunning\tUp 3 minutes\t{slug}\tagent\tshell\tbot-bottle-{slug}\t{home}\t2026-11-25 10:00:00 +0000 UTC"
            )
        };
        let (ours, theirs) = (
            row("shell-b2c3d", "0123456789ab"),
            row("their-zzzzz", "ba9876543210"),
        );
        let cli = CliEnv::with_docker(&format!(
            "#!/bin/sh\ncase \"$1\" in ps) printf '%s\\n' '{ours}' '{theirs}' ;; esac\n"
        ));
        fs::create_dir_all(cli.home().join("state/kept-aaaaa")).unwrap();
        fs::write(cli.home().join("home-id"), "0123456789ab\n").unwrap();
        cli.write(
            "proj/.bot-bottle/agents/reviewer.md",
            "---\ndescription: reviews\nprovider: shell\n---\nReview the code.\n",
        );
        Env { cli }
    }

    fn bin() -> PathBuf {
        assert_cmd::cargo::cargo_bin("bot-bottle")
    }

    fn cmd(&self, program: &Path) -> Command {
        let mut cmd = self.cli.command(program);
        cmd.env("BOT_BOTTLE_SMOLVM", self.cli.dir.path().join("no-smolvm"));
        cmd
    }

    fn script(&self, shell: &str) -> String {
        support::succeed(self.cmd(&Env::bin()).args(["completions", shell]))
    }

    /// What bash's completion offers for `line` (the last word is the one
    /// being completed), through the sourced script.
    fn bash(&self, line: &[&str]) -> Vec<String> {
        let script = self.cli.dir.path().join("complete.bash");
        fs::write(&script, self.script("bash")).unwrap();
        let words = line
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let run = format!(
            "source '{}'\nCOMP_WORDS=({words})\nCOMP_CWORD={}\nCOMP_TYPE=9\n_clap_complete_bot_bottle bot-bottle '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            script.display(),
            line.len() - 1,
            line[line.len() - 1],
            line[line.len().saturating_sub(2)],
        );
        support::succeed(self.cmd(Path::new("bash")).args(["--norc", "-c", &run]))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What the binary answers fish (which passes the words as arguments).
    fn fish(&self, line: &[&str]) -> Vec<String> {
        support::succeed(
            self.cmd(&Env::bin())
                .env("BOT_BOTTLE_COMPLETE", "fish")
                .arg("--")
                .args(line),
        )
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_owned())
        .collect()
    }
}

#[test]
fn a_script_for_each_shell_that_calls_the_binary_back() {
    let env = Env::new();
    let bin = Env::bin().display().to_string();
    for shell in ["bash", "zsh", "fish"] {
        let script = env.script(shell);
        assert!(!script.trim().is_empty(), "{shell}");
        assert!(script.contains("BOT_BOTTLE_COMPLETE"), "{shell}: {script}");
        assert!(script.contains(&bin), "{shell} calls {bin} back: {script}");
        assert!(script.contains("bot-bottle"), "{shell}: {script}");
    }
    let out = env
        .cmd(&Env::bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_verbs_complete_in_each_shell() {
    let env = Env::new();
    let bash = env.bash(&["bot-bottle", ""]);
    let fish = env.fish(&["bot-bottle", ""]);
    for verb in VERBS {
        assert!(bash.iter().any(|c| c == verb), "bash: {verb} in {bash:?}");
        assert!(fish.iter().any(|c| c == verb), "fish: {verb} in {fish:?}");
    }
    assert!(!bash.iter().any(|c| c == "sidecar"), "hidden: {bash:?}");
    assert_eq!(env.bash(&["bot-bottle", "doc"]), ["doctor"]);
    // zsh's protocol: the index of the word being completed.
    let out = env
        .cmd(&Env::bin())
        .env("BOT_BOTTLE_COMPLETE", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "1")
        .args(["--", "bot-bottle", "comp"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("completions"));
}

/// The candidates that are values, not flags (`--help` is offered too).
fn values(candidates: Vec<String>) -> Vec<String> {
    candidates
        .into_iter()
        .filter(|c| !c.starts_with('-'))
        .collect()
}

#[test]
fn values_come_from_the_live_state() {
    let env = Env::new();
    for verb in ["attach", "stop", "exec"] {
        assert_eq!(
            values(env.bash(&["bot-bottle", verb, ""])),
            ["shell-b2c3d"],
            "{verb}"
        );
    }
    assert_eq!(
        values(env.bash(&["bot-bottle", "routes", "edit", ""])),
        ["shell-b2c3d"]
    );
    assert_eq!(
        values(env.bash(&["bot-bottle", "resume", ""])),
        ["kept-aaaaa"]
    );
    // The project's agent only once it is trusted.
    let agents = values(env.bash(&["bot-bottle", "start", ""]));
    assert!(!agents.iter().any(|a| a == "reviewer"), "{agents:?}");
    support::succeed(env.cmd(&Env::bin()).args(["trust", "--yes"]));
    let agents = values(env.bash(&["bot-bottle", "start", ""]));
    assert!(agents.iter().any(|a| a == "reviewer"), "{agents:?}");
    assert!(
        agents.iter().any(|a| a == "shell"),
        "the built-in: {agents:?}"
    );
    assert_eq!(env.fish(&["bot-bottle", "start", "rev"]), ["reviewer"]);
}
