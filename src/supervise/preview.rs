//! What approving a proposal would grant, in full, pure: the operator sees
//! this before an approval can happen (the dashboard's detail view, the
//! `proposals` listing). It is computed against the bottle's live routes
//! and current Dockerfile, not taken from the agent's words.

use serde::Serialize;

use super::merge::{self, Asked};
use crate::dockerfile::images::Resolved;
use crate::egress::config::EgressConfig;
use crate::egress::usage::price::Usd;
use crate::proposal::{GitPush, Request};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Preview {
    /// Every line of it; nothing is approved that is not here.
    pub(crate) lines: Vec<String>,
    /// Approving sends a credential the proxy adds to more paths than now:
    /// the operator has to confirm that explicitly.
    pub(crate) widens_credential: bool,
    /// Approving makes a new route with a credential: the operator names
    /// the host variable that holds it.
    pub(crate) needs_token: bool,
}

/// The current state a preview is computed against.
pub(crate) struct Current<'a> {
    pub(crate) slug: &'a str,
    pub(crate) routes: &'a EgressConfig,
    pub(crate) dockerfile: &'a str,
    /// For a capability-block: the images its Dockerfile reads, each with
    /// its id on this engine, or why it may not read them.
    pub(crate) bases: Option<&'a Result<Vec<Resolved>, String>>,
}

pub(crate) fn preview(request: &Request, current: &Current) -> Preview {
    match request {
        Request::EgressBlock {
            host,
            path_allowlist,
            auth,
        } => route(
            current,
            &Asked {
                host,
                paths: path_allowlist,
                scheme: auth.as_ref().map(|a| a.scheme.as_str()),
            },
            auth.as_ref().and_then(|a| a.token_ref.as_deref()),
            None,
        ),
        Request::PipelockBlock { host, failed_url } => route(
            current,
            &Asked {
                host,
                paths: &[],
                scheme: None,
            },
            None,
            Some(failed_url),
        ),
        Request::CapabilityBlock { dockerfile } => image(current, dockerfile),
        Request::GitPush(push) => git_push(current, push),
        Request::Budget { tokens, spend } => budget(current, *tokens, *spend),
    }
}

/// A raise of the token or spend budget: from what the routes say now to
/// what is asked.
fn budget(current: &Current, tokens: Option<u64>, spend: Option<Usd>) -> Preview {
    let mut lines = Vec::new();
    if let Some(tokens) = tokens {
        let now = match current.routes.token_budget {
            Some(now) => format!("{now} tokens"),
            None => "none (no limit)".to_owned(),
        };
        lines.push(format!(
            "→ the bottle's token budget: {now} → {tokens} tokens"
        ));
        lines.push("egress serves its model calls again until they are used (every input and output token since it started)".into());
    }
    if let Some(spend) = spend {
        let now = match &current.routes.spend {
            Some(now) => now.budget.to_string(),
            None => "none (no limit)".to_owned(),
        };
        lines.push(format!("→ the bottle's spend budget: {now} → {spend}"));
        lines.push("egress serves its model calls again until they cost that much (every token since it started, at the prices in its routes; a model with no price counts as $0)".into());
    }
    Preview {
        lines,
        ..Preview::default()
    }
}

/// A held push: what approving does, why it waits, its commits and
/// diffstat, and the whole diff of the protected paths it changes, all as
/// the gate found them.
fn git_push(current: &Current, push: &GitPush) -> Preview {
    let branch = push.branch();
    let mut lines = Vec::new();
    if push.land {
        lines.push(format!(
            "→ would land {} as {}{branch}",
            short(&push.new),
            crate::gitgate::land_prefix(current.slug)
        ));
    }
    for remote in &push.forward {
        lines.push(format!(
            "→ would push {branch} to upstream {remote} (lease on its current value)"
        ));
    }
    lines.extend(push.reasons.iter().map(|r| format!("waits: {r}")));
    if !push.land && push.forward.is_empty() {
        lines.push("→ would do nothing: the gate named no remote to forward it to".into());
    }
    lines.push(format!("commits ({}):", push.commits.len()));
    lines.extend(push.commits.iter().map(|c| format!("  {c}")));
    if !push.diffstat.trim().is_empty() {
        lines.push("files:".into());
        lines.extend(push.diffstat.lines().map(|l| format!("  {l}")));
    }
    if !push.protected_diff.is_empty() {
        lines.push("the changes to protected paths, in full:".into());
        lines.extend(push.protected_diff.lines().map(str::to_owned));
    }
    Preview {
        lines,
        ..Preview::default()
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn paths_text(paths: &[String]) -> String {
    if paths.is_empty() {
        "every path".to_owned()
    } else {
        paths.join(" ")
    }
}

fn route(
    current: &Current,
    asked: &Asked,
    suggested: Option<&str>,
    failed_url: Option<&str>,
) -> Preview {
    let merged = merge::merge(current.routes, asked, &[]);
    let host = asked.host.to_ascii_lowercase();
    let mut lines = Vec::new();
    if let Some(url) = failed_url {
        lines.push(format!("the agent was refused: {url}"));
    }
    let before = current
        .routes
        .routes
        .iter()
        .find(|r| r.host.eq_ignore_ascii_case(&host));
    let after = merged.config.routes.iter().find(|r| r.host == host);
    match (before, after) {
        (Some(before), Some(after)) if before.path_allowlist == after.path_allowlist => {
            lines.push(format!(
                "grants nothing new: {host} already allows {}",
                paths_text(&before.path_allowlist)
            ));
        }
        (Some(before), Some(after)) => {
            lines.push(format!("widens the route to {host}:"));
            lines.push(format!(
                "  paths now:   {}",
                paths_text(&before.path_allowlist)
            ));
            lines.push(format!(
                "  paths after: {}",
                paths_text(&after.path_allowlist)
            ));
            if asked.scheme.is_some() {
                lines.push(
                    "  the credential it asks for is ignored: the route keeps its own".into(),
                );
            }
        }
        _ => {
            lines.push(format!(
                "a new route to {host}, {}",
                paths_text(asked.paths)
            ));
            if let Some(scheme) = asked.scheme {
                lines.push(format!(
                    "with a {scheme} credential: the value of the host variable you name is sent to {host}"
                ));
                match suggested {
                    Some(name) => lines.push(format!(
                        "the agent suggests ${name}; name the variable yourself, and only one meant for {host}"
                    )),
                    None => lines.push(format!(
                        "name the variable yourself, and only one meant for {host}"
                    )),
                }
            }
        }
    }
    if let Some(added) = &merged.widens_credential {
        lines.push(format!(
            "WARNING: the route to {host} carries a credential that the proxy adds; approving also sends it to {}",
            paths_text(added)
        ));
    }
    Preview {
        lines,
        widens_credential: merged.widens_credential.is_some(),
        needs_token: merged.new_slot.is_some(),
    }
}

fn image(current: &Current, dockerfile: &str) -> Preview {
    let mut lines = vec![format!(
        "a new image for {}: approving takes the bottle down, and `bot-bottle resume {}` rebuilds it",
        current.slug, current.slug
    )];
    lines.extend(bases(current.bases));
    lines.push("the changes to the current Dockerfile:".into());
    let diff = merge::diff(current.dockerfile, dockerfile, "Dockerfile");
    if diff.is_empty() {
        lines.push("(none: it is the current Dockerfile)".into());
    }
    lines.extend(diff.lines().map(str::to_owned));
    Preview {
        lines,
        widens_credential: false,
        needs_token: false,
    }
}

/// The images a new Dockerfile is built from, each with the id it is
/// pinned to; or why approving it fails.
fn bases(bases: Option<&Result<Vec<Resolved>, String>>) -> Vec<String> {
    const REFUSED: &str = "REFUSED: approving fails:";
    let bases = match bases {
        None => return vec![format!("{REFUSED} the images it reads were not checked")],
        Some(Err(reason)) => return vec![format!("{REFUSED} {reason}")],
        Some(Ok(bases)) if bases.is_empty() => {
            return vec![
                "built from no image (scratch and its own stages), with no network and an empty build context".into(),
            ];
        }
        Some(Ok(bases)) => bases,
    };
    let mut lines = vec![
        "built with no network and an empty build context, from exactly these images of this engine (pinned by id, never pulled):".into(),
    ];
    for base in bases {
        let named = &base.named;
        let what = format!("line {}: {} {}", named.line, named.how, named.reference);
        lines.push(match &base.id {
            Some(id) => format!("  {what} = {id} ({})", named.grant.describe()),
            None => format!("  {what}: not on this engine, and never pulled: {REFUSED} pull or build it, then look again"),
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::config::{AuthConfig, RouteConfig};
    use crate::proposal::AuthRequest;

    fn routes() -> EgressConfig {
        EgressConfig {
            listen: 3128,
            routes: vec![
                RouteConfig {
                    host: "api.github.com".into(),
                    path_allowlist: vec!["/repos/acme/".into()],
                    auth: Some(AuthConfig {
                        scheme: "bearer".into(),
                        token: "t0".into(),
                    }),
                    ..Default::default()
                },
                RouteConfig {
                    host: "pypi.org".into(),
                    ..Default::default()
                },
            ],
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        }
    }

    fn show(request: Request) -> (String, bool) {
        let p = preview_of(&request);
        (p.lines.join("\n"), p.widens_credential)
    }

    fn preview_of(request: &Request) -> Preview {
        let routes = routes();
        preview(
            request,
            &Current {
                slug: "dev-aaaaa",
                routes: &routes,
                dockerfile: "FROM debian:bookworm-slim\nUSER agent\n",
                bases: Some(&Ok(vec![])),
            },
        )
    }

    #[test]
    fn a_token_is_needed_only_for_a_new_credentialed_route() {
        let auth = Some(("bearer", None));
        assert!(preview_of(&egress("new.example.com", &[], auth)).needs_token);
        assert!(!preview_of(&egress("api.github.com", &["/x/"], auth)).needs_token);
        assert!(!preview_of(&egress("new.example.com", &[], None)).needs_token);
    }

    fn egress(host: &str, paths: &[&str], auth: Option<(&str, Option<&str>)>) -> Request {
        Request::EgressBlock {
            host: host.into(),
            path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
            auth: auth.map(|(scheme, token_ref)| AuthRequest {
                scheme: scheme.into(),
                token_ref: token_ref.map(str::to_owned),
            }),
        }
    }

    #[test]
    fn each_kind_says_exactly_what_it_grants() {
        let cases: Vec<(Request, &str, bool)> = vec![
            (
                egress("example.com", &["/v1/"], None),
                "a new route to example.com, /v1/",
                false,
            ),
            (
                egress(
                    "evil.com",
                    &[],
                    Some(("bearer", Some("AWS_SECRET_ACCESS_KEY"))),
                ),
                "a new route to evil.com, every path\nwith a bearer credential: the value of the host variable you name is sent to evil.com\nthe agent suggests $AWS_SECRET_ACCESS_KEY; name the variable yourself, and only one meant for evil.com",
                false,
            ),
            (
                egress("pypi.org", &["/simple/"], None),
                "grants nothing new: pypi.org already allows every path",
                false,
            ),
            (
                egress("API.github.com", &["/repos/other/"], None),
                "widens the route to api.github.com:\n  paths now:   /repos/acme/\n  paths after: /repos/acme/ /repos/other/\nWARNING: the route to api.github.com carries a credential that the proxy adds; approving also sends it to /repos/other/",
                true,
            ),
            (
                Request::PipelockBlock {
                    failed_url: "https://api.github.com/user".into(),
                    host: "api.github.com".into(),
                },
                "the agent was refused: https://api.github.com/user\nwidens the route to api.github.com:\n  paths now:   /repos/acme/\n  paths after: every path\nWARNING: the route to api.github.com carries a credential that the proxy adds; approving also sends it to every path",
                true,
            ),
        ];
        for (request, want, widens) in cases {
            assert_eq!(
                show(request.clone()),
                (want.to_owned(), widens),
                "{request:?}"
            );
        }
    }

    #[test]
    fn a_held_push_says_where_it_goes_and_why_it_waits() {
        let push = |land: bool, forward: &[&str]| {
            Request::GitPush(GitPush {
                git_ref: "refs/heads/feature".into(),
                old: "0".repeat(40),
                new: "0123456789abcdef0123456789abcdef01234567".into(),
                land,
                forward: forward.iter().map(|s| s.to_string()).collect(),
                reasons: vec!["branch 'feature' is not among remote 'up''s branches".into()],
                diffstat: " a.rs | 1 +\n 1 file changed".into(),
                commits: vec!["0123456 add a".into()],
                protected_diff: String::new(),
            })
        };
        let (text, widens) = show(push(true, &[]));
        assert!(!widens);
        assert_eq!(
            text,
            "→ would land 0123456789ab as bot-bottle/dev-aaaaa/feature\n\
             waits: branch 'feature' is not among remote 'up''s branches\n\
             commits (1):\n  0123456 add a\nfiles:\n   a.rs | 1 +\n   1 file changed"
        );
        let (text, _) = show(push(false, &["up"]));
        assert!(
            text.starts_with(
                "→ would push feature to upstream up (lease on its current value)\nwaits:"
            ),
            "{text}"
        );
        let (text, _) = show(push(false, &[]));
        assert!(text.contains("would do nothing"), "{text}");
        let mut with_diff = push(true, &[]);
        if let Request::GitPush(p) = &mut with_diff {
            p.protected_diff =
                "--- a/ci.yml\n+++ b/ci.yml\n-on: push\n+on: [push, pull_request]".into();
        }
        let (text, _) = show(with_diff);
        assert!(
            text.ends_with(
                "the changes to protected paths, in full:\n--- a/ci.yml\n+++ b/ci.yml\n-on: push\n+on: [push, pull_request]"
            ),
            "{text}"
        );
        assert!(!preview_of(&push(true, &["up"])).needs_token);
    }

    #[test]
    fn a_new_dockerfile_shows_as_a_whole_diff() {
        let long: String = (0..80).map(|i| format!("RUN echo {i}\n")).collect();
        let (text, widens) = show(Request::CapabilityBlock {
            dockerfile: format!("FROM debian:bookworm-slim\n{long}USER agent\n"),
        });
        assert!(!widens);
        assert!(
            text.contains("--- a/Dockerfile\n+++ b/Dockerfile"),
            "{text}"
        );
        for i in 0..80 {
            assert!(
                text.contains(&format!("\n+RUN echo {i}\n")),
                "line {i} is shown"
            );
        }
        let (same, _) = show(Request::CapabilityBlock {
            dockerfile: "FROM debian:bookworm-slim\nUSER agent\n".into(),
        });
        assert!(
            same.contains("(none: it is the current Dockerfile)"),
            "{same}"
        );
    }

    #[test]
    fn a_new_dockerfile_shows_each_image_it_reads_with_the_id_it_is_pinned_to() {
        use crate::dockerfile::images::{self, Allowed};
        let dockerfile = "FROM debian:bookworm-slim\nCOPY --from=node:20 /a /a\n";
        let allowed = Allowed {
            own: vec!["debian:bookworm-slim".into()],
            listed: vec!["node:20".into()],
        };
        let named = images::check(dockerfile, &allowed).unwrap();
        let id = format!("sha256:{}", "c3".repeat(32));
        let text = |bases: &Result<Vec<Resolved>, String>| {
            let routes = routes();
            let current = Current {
                slug: "dev-aaaaa",
                routes: &routes,
                dockerfile: "FROM debian:bookworm-slim\n",
                bases: Some(bases),
            };
            let request = Request::CapabilityBlock {
                dockerfile: dockerfile.into(),
            };
            preview(&request, &current).lines[1..3].join("\n")
        };
        let both = Ok(vec![
            Resolved {
                named: named[0].clone(),
                id: Some(id.clone()),
            },
            Resolved {
                named: named[1].clone(),
                id: Some(id.clone()),
            },
        ]);
        let shown = text(&both);
        assert_eq!(
            shown,
            format!(
                "built with no network and an empty build context, from exactly these images of this engine (pinned by id, never pulled):\n  line 1: FROM debian:bookworm-slim = {id} (this bottle's own)"
            )
        );
        let missing = Ok(vec![Resolved {
            named: named[1].clone(),
            id: None,
        }]);
        assert!(
            text(&missing).ends_with(
                "  line 2: COPY --from node:20: not on this engine, and never pulled: REFUSED: approving fails: pull or build it, then look again"
            ),
            "{}",
            text(&missing)
        );
        let refused = Err("line 1: FROM private:1: not an image this bottle may build from".into());
        assert!(
            text(&refused)
                .starts_with("REFUSED: approving fails: line 1: FROM private:1: not an image"),
            "{}",
            text(&refused)
        );
    }
}
