//! `bot-bottle proposals [--json]`: what agents are waiting for, across
//! bottles, each with what approving it would grant, in full (a held
//! push's protected diff included) and the digest of all that. Held pushes
//! (the git gate's) are listed beside the agent's tool calls, and so are
//! the suggestions learning mode makes from denied requests (`source`:
//! `denied`; the agent's own: `agent`), brought up to date first. The
//! digests shown are recorded: `bot-bottle approve ID` applies a proposal
//! only while it still shows what was listed.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use serde::Serialize;

use super::Failure;
use crate::proposal::{GitPush, Origin, Request};
use crate::state::Home;
use crate::supervise::apply::{self, Pending};
use crate::supervise::suggest;
use crate::text::inert;

#[derive(Debug, Args)]
pub(super) struct ProposalsArgs {
    /// A JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    slug: String,
    tool: String,
    /// Who asked: `agent`, or `denied` (learning mode made it from
    /// requests egress denied).
    source: Origin,
    summary: String,
    justification: String,
    /// Seconds since it was asked.
    age: u64,
    created_at: String,
    /// What approving it grants, line by line.
    grants: Vec<String>,
    /// Approving needs `--widen-credential`.
    widens_credential: bool,
    /// The digest of everything listed here for it: `approve` applies it
    /// only while it is the same (`--digest` passes it explicitly).
    digest: String,
    /// A held push: its ref, old and new values, what approving does
    /// (land, forward), why it waits, diffstat and commits.
    #[serde(flatten)]
    push: Option<GitPush>,
}

pub(super) fn run(args: ProposalsArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    suggest::sync_all(&home);
    let pending = apply::pending(&home)?;
    if let Err(e) = apply::shown::record(&home, &pending) {
        eprintln!(
            "bot-bottle: warning: what is listed could not be recorded ({e}); `approve` needs --digest until it can"
        );
    }
    let rows = rows(pending, SystemTime::now());
    if args.json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::runtime(e.to_string(), None))?;
        println!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!("bot-bottle: no pending proposals");
    }
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}

fn rows(pending: Vec<Pending>, now: SystemTime) -> Vec<Row> {
    pending
        .into_iter()
        .map(|pending| (apply::digest(&pending), pending))
        .map(
            |(
                digest,
                Pending {
                    proposal: p,
                    preview,
                },
            )| Row {
                digest,
                age: humantime::parse_rfc3339(&p.created_at)
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .map_or(0, |d| d.as_secs()),
                summary: p.request.summary(),
                tool: p.request.tool().to_owned(),
                source: p.source,
                push: match p.request {
                    Request::GitPush(push) => Some(push),
                    _ => None,
                },
                id: p.id,
                slug: p.slug,
                justification: p.justification,
                created_at: p.created_at,
                grants: preview.lines,
                widens_credential: preview.widens_credential,
            },
        )
        .collect()
}

/// The listing for a terminal: every text a sidecar or an agent wrote is
/// made inert.
fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let why: String = r
            .justification
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let from = match r.source {
            Origin::Denied => "  (from denials)",
            Origin::Agent => "",
        };
        out.push_str(&format!(
            "{}  {}  {}  {}  ({}s ago){from}\n    digest: {}\n    why: {}\n",
            inert(&r.id),
            inert(&r.slug),
            r.tool,
            inert(&r.summary),
            r.age,
            inert(&r.digest),
            inert(&why)
        ));
        for line in &r.grants {
            out.push_str(&format!("    | {}\n", inert(line)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proposal::Proposal;
    use crate::supervise::preview::Preview;

    fn held() -> Pending {
        Pending {
            proposal: Proposal {
                id: "m1-abcd".into(),
                slug: "dev-aaaaa".into(),
                created_at: "2026-12-03T04:00:00.000Z".into(),
                justification: "held: protected path".into(),
                source: Default::default(),
                request: Request::GitPush(GitPush {
                    diffstat: " .github/workflows/ci.yml | 2 +-".into(),
                    commits: vec!["bbbbbbb fix \x1b[2Jthe ci".into()],
                    ..GitPush::held_example()
                }),
                replaces: None,
            },
            preview: Preview {
                lines: vec![
                    "→ would land bbbbbbbbbbbb as bot-bottle/dev-aaaaa/feature".into(),
                    "  bbbbbbb fix \x1b[2Jthe ci".into(),
                ],
                ..Preview::default()
            },
        }
    }

    #[test]
    fn json_has_the_push_fields() {
        let now = humantime::parse_rfc3339("2026-12-03T04:01:00Z").unwrap();
        let rows = rows(vec![held()], now);
        let json = serde_json::to_value(&rows).unwrap();
        let row = &json[0];
        assert_eq!(row["tool"], "git-push");
        assert_eq!(row["age"], 60);
        assert_eq!(row["git_ref"], "refs/heads/feature");
        assert_eq!(row["new"], "b".repeat(40));
        assert_eq!(row["land"], true);
        assert_eq!(row["forward"], serde_json::json!(["up"]));
        assert_eq!(
            row["reasons"][0],
            "changes protected path .github/workflows/ci.yml"
        );
        assert_eq!(row["diffstat"], " .github/workflows/ci.yml | 2 +-");
        assert_eq!(row["commits"][0], "bbbbbbb fix \x1b[2Jthe ci");
        assert_eq!(
            row["protected_diff"],
            "-on: push\n+on: [push, pull_request]"
        );
        assert_eq!(row["digest"], apply::digest(&held()));
        assert_eq!(
            row["summary"],
            "push feature (1 commits): land and forward to up"
        );

        let mut route = held();
        route.proposal.request = Request::PipelockBlock {
            failed_url: "https://pypi.org/".into(),
            host: "pypi.org".into(),
        };
        let json = serde_json::to_value(super::rows(vec![route], now)).unwrap();
        assert!(json[0].get("git_ref").is_none(), "{json}");
        assert_eq!(json[0]["tool"], "pipelock-block");
        assert_eq!(json[0]["source"], "agent");

        let mut learned = held();
        learned.proposal.source = Origin::Denied;
        learned.proposal.request = Request::EgressBlock {
            host: "pypi.org".into(),
            path_allowlist: vec!["/simple/".into()],
            auth: None,
        };
        let listed = super::rows(vec![learned], now);
        let json = serde_json::to_value(&listed).unwrap();
        assert_eq!(json[0]["source"], "denied");
        assert!(
            table(&listed).contains("route pypi.org /simple/  (60s ago)  (from denials)\n"),
            "{}",
            table(&listed)
        );
    }

    #[test]
    fn the_table_is_inert() {
        let now = humantime::parse_rfc3339("2026-12-03T04:01:00Z").unwrap();
        let text = table(&rows(vec![held()], now));
        assert!(!text.contains('\x1b'), "{text}");
        assert!(
            text.contains("    |   bbbbbbb fix \\u{1b}[2Jthe ci\n"),
            "{text}"
        );
        assert!(text.starts_with(&format!(
            "m1-abcd  dev-aaaaa  git-push  push feature (1 commits): land and forward to up  (60s ago)\n    digest: {}\n",
            apply::digest(&held())
        )));
    }
}
