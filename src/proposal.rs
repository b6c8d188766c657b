//! The proposal protocol: how an agent asks for more capability, shared by
//! the sidecars that ask (supervise, the git gate's held pushes) and the
//! host that answers (the dashboard, `approve`, `reject`).
//!
//! This file is the model, pure: what an agent may ask for, the checks its
//! input must pass (it is untrusted), and the records written to the
//! queue. `queue` is the queue's files in a sidecar's state folder;
//! `audit` is the log of every decision, which outlives the bottle.

pub(crate) mod audit;
pub mod queue;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::audit::actor;
use crate::egress::usage::price::Usd;
use crate::manifest::{parse_scheme, validate_host};

pub(crate) const EGRESS_BLOCK: &str = "egress-block";
pub(crate) const PIPELOCK_BLOCK: &str = "pipelock-block";
pub(crate) const CAPABILITY_BLOCK: &str = "capability-block";
pub(crate) const LIST_EGRESS_ROUTES: &str = "list-egress-routes";
pub(crate) const GIT_PUSH: &str = "git-push";
pub(crate) const GIT_PUSH_POLICY: &str = "git-push-policy";
/// A raise of a bottle's token or spend budget, asked by the host once egress
/// refused a model call past it (never a tool the agent has).
pub(crate) const BUDGET: &str = "budget";

const MAX_JUSTIFICATION: usize = 2000;
const MAX_PATHS: usize = 32;
const MAX_PATH: usize = 256;
const MAX_URL: usize = 2048;
const MAX_DOCKERFILE: usize = 64 * 1024;
const MAX_TOKEN_REF: usize = 64;
/// The longest protected diff a held push may carry: a longer one cannot
/// be reviewed on a screen, and the gate refuses the push.
pub(crate) const MAX_PROTECTED_DIFF: usize = 128 * 1024;

/// What an agent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "kebab-case")]
pub enum Request {
    /// One route: a host, optionally limited to paths, optionally with a
    /// credential the operator names when approving.
    EgressBlock {
        /// The host.
        host: String,
        /// Path prefixes; empty means every path.
        #[serde(default)]
        path_allowlist: Vec<String>,
        /// The credential the agent thinks the route needs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<AuthRequest>,
    },
    /// The host of a URL the proxy refused, with no path limit.
    PipelockBlock {
        /// The URL the proxy refused.
        failed_url: String,
        /// Its host.
        host: String,
    },
    /// A new image: the whole new Dockerfile.
    CapabilityBlock {
        /// The whole Dockerfile.
        dockerfile: String,
    },
    /// A push the git gate held for the operator (written by the gate, not
    /// by a tool call): landing it home, forwarding it upstream, or both.
    GitPush(GitPush),
    /// A new token or spend budget for the bottle (written by the host
    /// when its budget is spent, not by a tool call).
    Budget {
        /// The token budget asked for: every input and output token since
        /// the bottle started.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens: Option<u64>,
        /// The spend budget asked for, in US dollars: what the tokens
        /// since the bottle started cost, at the prices of its routes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        spend: Option<Usd>,
    },
}

/// A held push: what it would do if approved, and why it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitPush {
    /// The full ref pushed: `refs/heads/feature`.
    pub(crate) git_ref: String,
    /// The gate's value before the push (40 zeros: a new branch).
    pub(crate) old: String,
    pub(crate) new: String,
    /// Land it as `bot-bottle/<slug>/<branch>` on approval (false: it has
    /// landed already and waits only to go upstream).
    pub(crate) land: bool,
    /// Remotes it goes to on approval.
    #[serde(default)]
    pub(crate) forward: Vec<String>,
    /// Why it waits: "changes protected path .github/workflows/ci.yml",
    /// "branch 'x' is not among remote 'up''s branches".
    pub(crate) reasons: Vec<String>,
    /// `git diff --stat` of the range.
    pub(crate) diffstat: String,
    /// `<short sha> <subject>` of each commit, oldest first.
    pub(crate) commits: Vec<String>,
    /// The full `git diff` of the range, limited to the protected paths
    /// it changes: what approving lets into the operator's repository
    /// there, to be read in full (empty when it changes none).
    #[serde(default)]
    pub(crate) protected_diff: String,
}

impl GitPush {
    /// The branch pushed: `feature` of `refs/heads/feature`.
    pub(crate) fn branch(&self) -> &str {
        self.git_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&self.git_ref)
    }

    /// A push held for a protected path, as tests use it.
    #[cfg(test)]
    pub(crate) fn held_example() -> GitPush {
        GitPush {
            git_ref: "refs/heads/feature".into(),
            old: "0".repeat(40),
            new: "b".repeat(40),
            land: true,
            forward: vec!["up".into()],
            reasons: vec!["changes protected path .github/workflows/ci.yml".into()],
            diffstat: " .github/workflows/ci.yml | 2 +-\n 1 file changed".into(),
            commits: vec!["bbbbbbb fix the ci".into()],
            protected_diff: "-on: push\n+on: [push, pull_request]".into(),
        }
    }
}

/// The credential an egress proposal asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// `bearer`, `basic` or `header:NAME`.
    pub scheme: String,
    /// The agent's guess at which credential; the operator decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<String>,
}

/// A queued proposal, as written to `queue/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Unique within its queue.
    pub id: String,
    pub(crate) slug: String,
    pub(crate) created_at: String,
    pub(crate) justification: String,
    pub(crate) request: Request,
    /// Who asked. Set by the queue that holds it (see
    /// `apply::queues::admit`), whatever the file says.
    #[serde(default)]
    pub(crate) source: Origin,
    /// The proposal this one replaced (withdrawn for it): a proposal never
    /// changes under its id, a change is a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) replaces: Option<String>,
}

/// Who a proposal comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Origin {
    /// The agent asked (a tool call), or its push was held.
    #[default]
    Agent,
    /// Made on the host from requests egress denied (learning mode).
    Denied,
}

impl Origin {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Origin::Agent => actor::AGENT,
            Origin::Denied => actor::DENIED,
        }
    }
}

/// What became of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The operator approved it.
    Approved,
    /// The operator rejected it.
    Rejected,
    /// Nobody decided it: it changed (see `replaced_by`), or nothing is
    /// left to decide.
    Withdrawn,
}

/// The operator's answer, as written to `responses/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub(crate) id: String,
    /// What became of it.
    pub decision: Decision,
    /// Why, when the operator said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub(crate) decided_at: String,
    /// What the approval changed, for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// Withdrawn for this proposal, its changed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) replaced_by: Option<String>,
}

impl Response {
    /// The answer `decision` on proposal `id`, now.
    pub(crate) fn new(id: &str, decision: Decision) -> Response {
        Response {
            id: id.to_owned(),
            decision,
            reason: None,
            decided_at: queue::now(),
            note: None,
            replaced_by: None,
        }
    }
}

impl Request {
    pub(crate) fn tool(&self) -> &'static str {
        match self {
            Request::EgressBlock { .. } => EGRESS_BLOCK,
            Request::PipelockBlock { .. } => PIPELOCK_BLOCK,
            Request::CapabilityBlock { .. } => CAPABILITY_BLOCK,
            Request::GitPush(_) => GIT_PUSH,
            Request::Budget { .. } => BUDGET,
        }
    }

    /// One line for listings; every part of it was validated.
    pub(crate) fn summary(&self) -> String {
        match self {
            Request::EgressBlock {
                host,
                path_allowlist,
                auth,
            } => {
                let mut s = format!("route {host}");
                if !path_allowlist.is_empty() {
                    s.push(' ');
                    s.push_str(&path_allowlist.join(" "));
                }
                if let Some(auth) = auth {
                    s.push_str(&format!(" (+{} credential", auth.scheme));
                    if let Some(r) = &auth.token_ref {
                        s.push_str(&format!(", suggests ${r}"));
                    }
                    s.push(')');
                }
                s
            }
            Request::PipelockBlock { host, .. } => format!("host {host}"),
            Request::CapabilityBlock { dockerfile } => {
                format!("new Dockerfile ({} lines)", dockerfile.lines().count())
            }
            Request::GitPush(push) => {
                let branch = push.branch();
                let mut what = Vec::new();
                if push.land {
                    what.push("land".to_owned());
                }
                if !push.forward.is_empty() {
                    what.push(format!("forward to {}", push.forward.join(", ")));
                }
                format!(
                    "push {branch} ({} commits): {}",
                    push.commits.len(),
                    what.join(" and ")
                )
            }
            Request::Budget { tokens, spend } => budget_summary(*tokens, *spend),
        }
    }
}

/// `token budget 2000`, `spend budget $10.00`, or both.
pub(crate) fn budget_summary(tokens: Option<u64>, spend: Option<Usd>) -> String {
    let tokens = tokens.map(|t| format!("token budget {t}"));
    let spend = spend.map(|s| format!("spend budget {s}"));
    let parts: Vec<String> = tokens.into_iter().chain(spend).collect();
    match parts.is_empty() {
        true => "budget (nothing asked)".to_owned(),
        false => parts.join(", "),
    }
}

/// Why a tool call was refused; the agent reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub(crate) struct InputError {
    pub(crate) field: String,
    pub(crate) problem: String,
}

fn bad(field: &str, problem: impl Into<String>) -> InputError {
    InputError {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Checks a tool call's arguments; returns the request and the
/// justification.
pub(crate) fn parse(
    tool: &str,
    args: &Map<String, Value>,
) -> Result<(Request, String), InputError> {
    let allowed: &[&str] = match tool {
        EGRESS_BLOCK => &["host", "path_allowlist", "auth", "justification"],
        PIPELOCK_BLOCK => &["failed_url", "justification"],
        CAPABILITY_BLOCK => &["dockerfile", "justification"],
        _ => return Err(bad("tool", format!("unknown tool '{}'", clip(tool)))),
    };
    if let Some(key) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(
            key,
            format!("unknown argument; expected {}", allowed.join(", ")),
        ));
    }
    let justification = text(args, "justification", MAX_JUSTIFICATION, true)?
        .ok_or_else(|| bad("justification", "is required: say why you need this"))?;
    if justification.trim().is_empty() {
        return Err(bad("justification", "is empty: say why you need this"));
    }
    let request = match tool {
        EGRESS_BLOCK => egress(args)?,
        PIPELOCK_BLOCK => {
            let url = text(args, "failed_url", MAX_URL, false)?
                .ok_or_else(|| bad("failed_url", "is required"))?;
            let host = url_host(&url).map_err(|p| bad("failed_url", p))?;
            Request::PipelockBlock {
                failed_url: url,
                host,
            }
        }
        _ => {
            let dockerfile = text(args, "dockerfile", MAX_DOCKERFILE, true)?
                .ok_or_else(|| bad("dockerfile", "is required: the whole new Dockerfile"))?;
            crate::dockerfile::check(&dockerfile).map_err(|p| bad("dockerfile", p))?;
            Request::CapabilityBlock { dockerfile }
        }
    };
    Ok((request, justification))
}

fn egress(args: &Map<String, Value>) -> Result<Request, InputError> {
    let host = text(args, "host", 253, false)?.ok_or_else(|| bad("host", "is required"))?;
    let host = validate_host(&host).map_err(|p| bad("host", format!("'{}' {p}", clip(&host))))?;
    let mut paths = Vec::new();
    match args.get("path_allowlist") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() <= MAX_PATHS => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("path_allowlist[{i}]");
                let Value::String(p) = item else {
                    return Err(bad(&field, "must be a string"));
                };
                if p.len() > MAX_PATH
                    || !p.starts_with('/')
                    || p.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(bad(
                        &field,
                        "must be a path starting with '/', without spaces, at most 256 characters",
                    ));
                }
                if !paths.contains(p) {
                    paths.push(p.clone());
                }
            }
        }
        Some(_) => {
            return Err(bad(
                "path_allowlist",
                format!("must be a list of at most {MAX_PATHS} paths"),
            ));
        }
    }
    let auth = match args.get("auth") {
        None | Some(Value::Null) => None,
        Some(Value::Object(auth)) => {
            if let Some(key) = auth.keys().find(|k| *k != "scheme" && *k != "token_ref") {
                return Err(bad(
                    &format!("auth.{}", clip(key)),
                    "unknown argument; expected scheme, token_ref",
                ));
            }
            let scheme = text(auth, "scheme", 64, false)?
                .ok_or_else(|| bad("auth.scheme", "is required"))?;
            if parse_scheme(&scheme).is_none() {
                return Err(bad("auth.scheme", "must be bearer, basic or header:NAME"));
            }
            let token_ref = text(auth, "token_ref", MAX_TOKEN_REF, false)?;
            if let Some(r) = &token_ref
                && !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad("auth.token_ref", "must be a variable name"));
            }
            Some(AuthRequest {
                scheme: scheme.to_ascii_lowercase(),
                token_ref,
            })
        }
        Some(_) => return Err(bad("auth", "must be an object {scheme, token_ref}")),
    };
    Ok(Request::EgressBlock {
        host,
        path_allowlist: paths,
        auth,
    })
}

/// A string argument within `max` bytes, free of control characters
/// (newlines and tabs allowed only where `multiline`).
fn text(
    args: &Map<String, Value>,
    key: &str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, InputError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.len() > max {
                return Err(bad(key, format!("is longer than {max} bytes")));
            }
            let allowed = |c: char| multiline && matches!(c, '\n' | '\t' | '\r');
            if s.chars().any(|c| c.is_control() && !allowed(c)) {
                return Err(bad(key, "contains control characters"));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(bad(key, "must be a string")),
    }
}

/// The host of an http(s) URL, validated as a route host.
pub(crate) fn url_host(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    validate_host(host).map_err(|p| format!("its host '{}' {p}", clip(host)))
}

/// At most 64 characters of agent text, for an error message.
fn clip(s: &str) -> String {
    s.chars().take(64).filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn valid_calls() {
        let (req, why) = parse(
            EGRESS_BLOCK,
            &args(json!({"host": "API.github.com", "path_allowlist": ["/repos/", "/repos/"],
                         "auth": {"scheme": "Bearer", "token_ref": "GITHUB_TOKEN"}, "justification": "clone\nthe repo"})),
        )
        .unwrap();
        assert_eq!(why, "clone\nthe repo");
        assert_eq!(
            req.summary(),
            "route api.github.com /repos/ (+bearer credential, suggests $GITHUB_TOKEN)"
        );
        let (req, _) = parse(
            PIPELOCK_BLOCK,
            &args(json!({"failed_url": "https://user@pypi.org:443/simple/x?y=1", "justification": "pip"})),
        )
        .unwrap();
        assert_eq!(req.summary(), "host pypi.org");
        let (req, _) = parse(
            CAPABILITY_BLOCK,
            &args(json!({"dockerfile": "FROM debian:bookworm-slim\nRUN true\n", "justification": "need gcc"})),
        )
        .unwrap();
        assert_eq!(req.summary(), "new Dockerfile (2 lines)");
    }

    #[test]
    fn invalid_calls() {
        let long = "x".repeat(3000);
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "nope",
                json!({"justification": "x"}),
                "tool: unknown tool 'nope'",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com"}),
                "justification: is required: say why you need this",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "justification": "  "}),
                "justification: is empty: say why you need this",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "justification": long}),
                "justification: is longer than 2000 bytes",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "justification": "a\u{1b}[31m"}),
                "justification: contains control characters",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "https://a.com", "justification": "x"}),
                "host: 'https://a.com' has a scheme: routes name a bare hostname",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "10.1.2.3", "justification": "x"}),
                "host: '10.1.2.3' is an IP address: routes name hosts",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com\n#{pane_id}", "justification": "x"}),
                "host: contains control characters",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "path_allowlist": ["v1"], "justification": "x"}),
                "path_allowlist[0]: must be a path starting with '/', without spaces, at most 256 characters",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "path_allowlist": "/v1", "justification": "x"}),
                "path_allowlist: must be a list of at most 32 paths",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "auth": {"scheme": "token"}, "justification": "x"}),
                "auth.scheme: must be bearer, basic or header:NAME",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "auth": {"scheme": "bearer", "token_ref": "$(rm -rf /)"}, "justification": "x"}),
                "auth.token_ref: must be a variable name",
            ),
            (
                EGRESS_BLOCK,
                json!({"host": "a.com", "extra": 1, "justification": "x"}),
                "extra: unknown argument; expected host, path_allowlist, auth, justification",
            ),
            (
                PIPELOCK_BLOCK,
                json!({"failed_url": "ftp://a.com/", "justification": "x"}),
                "failed_url: must be an http:// or https:// URL",
            ),
            (
                PIPELOCK_BLOCK,
                json!({"failed_url": "https://127.0.0.1/", "justification": "x"}),
                "failed_url: its host '127.0.0.1' is an IP address: routes name hosts",
            ),
            (
                CAPABILITY_BLOCK,
                json!({"dockerfile": "# just a comment", "justification": "x"}),
                "dockerfile: has no FROM line",
            ),
            (
                CAPABILITY_BLOCK,
                json!({"dockerfile": "FROM debian\nADD https://x.example/a /a", "justification": "x"}),
                "dockerfile: line 2: ADD is not allowed (it fetches URLs and unpacks archives); use RUN, or COPY --from=IMAGE",
            ),
        ];
        for (tool, value, want) in cases {
            assert_eq!(
                parse(tool, &args(value.clone())).unwrap_err().to_string(),
                want,
                "{tool} {value}"
            );
        }
    }

    #[test]
    fn records_round_trip() {
        let (request, justification) = parse(
            EGRESS_BLOCK,
            &args(json!({"host": "a.com", "justification": "x"})),
        )
        .unwrap();
        let p = Proposal {
            id: "m1-abcd".into(),
            slug: "dev-aaaaa".into(),
            created_at: "now".into(),
            justification,
            request,
            source: Origin::Agent,
            replaces: None,
        };
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"source\":\"agent\""), "{text}");
        assert!(text.contains("\"tool\":\"egress-block\""), "{text}");
        assert_eq!(serde_json::from_str::<Proposal>(&text).unwrap(), p);
    }
}
