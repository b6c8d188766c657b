//! Deciding a held push: the host asks the bottle's git gate to apply the
//! operator's decision (`docker exec <gate> /bot-bottle sidecar git-decide
//! …`). An approval passes what the operator was shown (the ref, its old
//! value, the commit, landing and remotes: `gitgate::Shown`), and the gate
//! refuses unless its own proposal is exactly that. The gate updates its
//! refs, lands and forwards the push, writes the response into its queue
//! and archives the proposal; the host only runs the command and reports
//! what the gate printed.
//!
//! `Decide` (`backend::sidecars`) is the seam: `apply` runs against it,
//! tests against a fake.

use super::DockerSidecars;
use crate::backend::sidecars::{Decide, GateError};
use crate::contract::command;
use crate::contract::services::{GIT_GATE, container};
use crate::exec::{DOCKER, ExecError};
use crate::gitgate::Shown;
use crate::text::inert;

/// The `docker` arguments that decide proposal `id` in `slug`'s gate.
/// Values go as `--name=value`, so none is read as an option.
pub fn decide_args(slug: &str, id: &str, approve: Option<&Shown>) -> Vec<String> {
    let mut args = vec!["exec".to_owned(), container(slug, GIT_GATE)];
    args.extend(command::git_decide(id));
    match approve {
        None => args.push("--reject".into()),
        Some(shown) => {
            args.extend([
                "--approve".to_owned(),
                format!("--ref={}", shown.git_ref),
                format!("--old={}", shown.old),
                format!("--new={}", shown.new),
            ]);
            if shown.land {
                args.push("--land".into());
            }
            args.extend(shown.forward.iter().map(|r| format!("--forward={r}")));
        }
    }
    args
}

impl Decide for DockerSidecars {
    fn decide(&self, slug: &str, id: &str, approve: Option<&Shown>) -> Result<String, GateError> {
        let mut cmd = DOCKER.command(decide_args(slug, id, approve));
        match DOCKER.output(&mut cmd) {
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
                Ok(if stdout.is_empty() {
                    String::from_utf8_lossy(&out.stderr).trim_end().to_owned()
                } else {
                    stdout
                })
            }
            Err(e) => Err(classify(slug, e)),
        }
    }
}

/// What a failed `docker exec` means: the container is gone or stopped,
/// the gate said no (its one-line reason), or docker itself failed. What
/// the gate wrote is made inert: it is a sidecar's text.
pub fn classify(slug: &str, e: ExecError) -> GateError {
    let slug = slug.to_owned();
    match e {
        ExecError::Failed { stderr, .. } => {
            let daemon = stderr.contains("Error response from daemon");
            if stderr.contains("No such container") || stderr.contains("is not running") {
                GateError::NotRunning { slug }
            } else if daemon {
                GateError::Unreachable {
                    slug,
                    reason: inert(stderr.trim()),
                }
            } else {
                // Its one-line reason, as the binary reports a failure.
                let reason = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty() && !l.starts_with("  hint:"))
                    .map(|l| l.trim().trim_start_matches("bot-bottle: error: "))
                    .map_or_else(|| "no reason given".to_owned(), inert);
                GateError::Refused { slug, reason }
            }
        }
        source => GateError::Exec { slug, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_names_the_gate_the_decision_and_what_was_shown() {
        let shown = Shown {
            git_ref: "refs/heads/ci".into(),
            old: "0".repeat(40),
            new: "b".repeat(40),
            land: true,
            forward: vec!["up".into(), "-x".into()],
        };
        assert_eq!(
            decide_args("dev-abcde", "m1-abcd", Some(&shown)).join(" "),
            format!(
                "exec bot-bottle-dev-abcde-git-gate /bot-bottle sidecar git-decide --state /state --id m1-abcd --approve --ref=refs/heads/ci --old={} --new={} --land --forward=up --forward=-x",
                "0".repeat(40),
                "b".repeat(40)
            )
        );
        let forward_only = Shown {
            land: false,
            ..shown
        };
        assert!(
            !decide_args("dev-abcde", "m1-abcd", Some(&forward_only)).contains(&"--land".into())
        );
        assert!(decide_args("dev-abcde", "m1-abcd", None).ends_with(&["--reject".into()]));
    }

    #[test]
    fn failures_are_told_apart() {
        let failed = |stderr: &str| ExecError::Failed {
            command: "docker exec".into(),
            status: "exit status: 1".into(),
            stderr: stderr.into(),
        };
        let cases: Vec<(ExecError, &str)> = vec![
            (
                failed("Error response from daemon: No such container: bot-bottle-a-1-git-gate"),
                "the git gate of bottle 'a-1' is not running: resume the bottle first",
            ),
            (
                failed("Error response from daemon: container 0123 is not running"),
                "the git gate of bottle 'a-1' is not running: resume the bottle first",
            ),
            (
                failed("git-decide: refs/heads/x moved since the push was held\n"),
                "the git gate of bottle 'a-1' refused: git-decide: refs/heads/x moved since the push was held",
            ),
            (
                failed("bot-bottle: error: git-decide: no proposal m1-abcd\n  hint: see it\n"),
                "the git gate of bottle 'a-1' refused: git-decide: no proposal m1-abcd",
            ),
            (
                failed("bot-bottle: error: git-decide: \x1b[2Jgone"),
                "the git gate of bottle 'a-1' refused: git-decide: \\u{1b}[2Jgone",
            ),
            (
                failed("Error response from daemon: oops"),
                "the git gate of bottle 'a-1' could not be asked: Error response from daemon: oops",
            ),
            (
                ExecError::NotFound {
                    program: "docker".into(),
                    hint: "",
                },
                "the git gate of bottle 'a-1' could not be asked: docker was not found",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(classify("a-1", e).to_string(), want);
        }
    }
}
