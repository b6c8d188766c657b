//! Providers: the program an agent runs and the argv of its sessions.
//!
//! Pure. Every session runs with the provider's own permission prompts off —
//! the bottle is the boundary — and `start AGENT -- ARGS` appends ARGS.

use crate::contract::paths::{agent_file, agent_files};
use crate::text::shell_join;

/// Paths inside the agent container that providers are pointed at.
/// The agent user's home inside the bottle.
pub(crate) const AGENT_HOME: &str = "/home/agent";

/// Which agent a bottle runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Claude Code.
    Claude,
    /// OpenAI's Codex CLI.
    Codex,
    /// A plain shell, no agent.
    Shell,
}

/// What a session is started with, besides the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionSpec {
    /// The agent's system prompt, added to the provider's own. Codex reads
    /// it from `~/.codex/AGENTS.md`, which the bottle writes.
    pub(crate) prompt: Option<String>,
    /// The supervise MCP server's URL, when the bottle has one.
    pub(crate) mcp_url: Option<String>,
    pub(crate) model: Option<String>,
    /// The agent's `startup_args`, then the ARGS given after `--`.
    pub(crate) args: Vec<String>,
}

impl Provider {
    pub(crate) const NAMES: &'static [&'static str] = &["claude", "codex", "shell"];

    pub(crate) fn parse(name: &str) -> Option<Provider> {
        match name {
            "claude" => Some(Provider::Claude),
            "codex" => Some(Provider::Codex),
            "shell" => Some(Provider::Shell),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Provider::Claude => "claude",
            Provider::Codex => "codex",
            Provider::Shell => "shell",
        }
    }

    /// The argv of a new session.
    pub(crate) fn fresh_argv(self, spec: &SessionSpec) -> Vec<String> {
        self.argv(spec, false)
    }

    /// The argv that resumes the last session, or None when the provider
    /// has no such thing (a shell starts afresh).
    pub(crate) fn resume_argv(self, spec: &SessionSpec) -> Option<Vec<String>> {
        (self != Provider::Shell).then(|| self.argv(spec, true))
    }

    /// Resume, and start afresh if resuming fails (a session never typed
    /// in has nothing to resume): `sh -c 'RESUME || exec FRESH'`.
    pub(crate) fn resume_or_fresh_argv(self, spec: &SessionSpec) -> Vec<String> {
        let fresh = self.fresh_argv(spec);
        match self.resume_argv(spec) {
            None => fresh,
            Some(resume) => vec![
                "sh".into(),
                "-c".into(),
                format!("{} || exec {}", shell_join(&resume), shell_join(&fresh)),
            ],
        }
    }

    /// Where the provider keeps its transcripts in the bottle, for the
    /// snapshot taken at teardown.
    pub(crate) fn transcript_dir(self) -> Option<String> {
        match self {
            Provider::Claude => Some(format!("{AGENT_HOME}/.claude")),
            Provider::Codex => Some(format!("{AGENT_HOME}/.codex")),
            Provider::Shell => None,
        }
    }

    fn argv(self, spec: &SessionSpec, resume: bool) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        let mut push = |s: &str| argv.push(s.to_owned());
        match self {
            Provider::Claude => {
                push("claude");
                push("--dangerously-skip-permissions");
                if let Some(prompt) = &spec.prompt {
                    push("--append-system-prompt");
                    push(prompt);
                }
                if spec.mcp_url.is_some() {
                    push("--mcp-config");
                    push(&agent_file(agent_files::MCP_CONFIG));
                }
                if let Some(model) = &spec.model {
                    push("--model");
                    push(model);
                }
                if resume {
                    push("--continue");
                }
            }
            Provider::Codex => {
                // Codex reads its system prompt from ~/.codex/AGENTS.md,
                // which the bottle provides; it takes no flag for it.
                push("codex");
                if resume {
                    push("resume");
                    push("--last");
                }
                push("--dangerously-bypass-approvals-and-sandbox");
                // Its hosted web search is a way around the routes; egress
                // refuses requests that declare it, so it is switched off.
                push("--config");
                push("web_search=\"disabled\"");
                if let Some(url) = &spec.mcp_url {
                    push("--config");
                    push(&format!("mcp_servers.bot-bottle.url=\"{url}\""));
                }
                if let Some(model) = &spec.model {
                    push("--model");
                    push(model);
                }
            }
            Provider::Shell => push("bash"),
        }
        argv.extend(spec.args.iter().cloned());
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str]) -> SessionSpec {
        SessionSpec {
            prompt: Some("Be careful.".into()),
            mcp_url: Some("http://supervise:8765/mcp".into()),
            model: None,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn argv_table() {
        let cases: &[(Provider, bool, &[&str], &str)] = &[
            (
                Provider::Claude,
                false,
                &["fix the bug"],
                "claude --dangerously-skip-permissions --append-system-prompt 'Be careful.' --mcp-config /etc/bot-bottle/mcp.json 'fix the bug'",
            ),
            (
                Provider::Claude,
                true,
                &[],
                "claude --dangerously-skip-permissions --append-system-prompt 'Be careful.' --mcp-config /etc/bot-bottle/mcp.json --continue",
            ),
            (
                Provider::Codex,
                false,
                &[],
                "codex --dangerously-bypass-approvals-and-sandbox --config 'web_search=\"disabled\"' --config 'mcp_servers.bot-bottle.url=\"http://supervise:8765/mcp\"'",
            ),
            (
                Provider::Codex,
                true,
                &[],
                "codex resume --last --dangerously-bypass-approvals-and-sandbox --config 'web_search=\"disabled\"' --config 'mcp_servers.bot-bottle.url=\"http://supervise:8765/mcp\"'",
            ),
            (
                Provider::Shell,
                false,
                &["-c", "exit 3"],
                "bash -c 'exit 3'",
            ),
        ];
        for (provider, resume, args, want) in cases {
            let s = spec(args);
            let argv = if *resume {
                provider.resume_argv(&s).unwrap()
            } else {
                provider.fresh_argv(&s)
            };
            assert_eq!(shell_join(&argv), *want, "{provider:?} resume={resume}");
        }
    }

    #[test]
    fn shell_has_no_resume_and_falls_back_to_fresh() {
        let s = spec(&[]);
        assert_eq!(Provider::Shell.resume_argv(&s), None);
        assert_eq!(Provider::Shell.resume_or_fresh_argv(&s), ["bash"]);
    }

    #[test]
    fn resume_falls_back_to_a_fresh_start() {
        let s = SessionSpec {
            model: Some("opus".into()),
            ..SessionSpec::default()
        };
        let argv = Provider::Claude.resume_or_fresh_argv(&s);
        assert_eq!(argv[..2], ["sh", "-c"]);
        assert_eq!(
            argv[2],
            "claude --dangerously-skip-permissions --model opus --continue || exec claude --dangerously-skip-permissions --model opus"
        );
    }
}
