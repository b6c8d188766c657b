//! How an approved proposal changes a bottle's routes, pure.
//!
//! - A new host is appended. If it asks for a credential, it takes the next
//!   token slot (the operator names the host variable when approving).
//! - An existing host gets the union of its paths and the proposed ones,
//!   existing first, no duplicates; an empty list means every path, so it
//!   absorbs the other side. Its credential stays: the agent cannot change
//!   an operator-set credential. When that credential would go to more
//!   paths than before, the merge says so (`widens_credential`), and the
//!   operator has to confirm it.
//! - Hosts compare without regard to case.

use similar::TextDiff;

use crate::egress::config::{AuthConfig, EgressConfig, RouteConfig};

/// A route asked for: by egress-block, or by pipelock-block (no paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asked<'a> {
    pub(crate) host: &'a str,
    /// Empty: every path.
    pub(crate) paths: &'a [String],
    /// The scheme of the credential asked for, if any.
    pub(crate) scheme: Option<&'a str>,
}

/// The routes after the merge, and the token slot a new credentialled route
/// takes (its value is the operator's to supply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merged {
    pub(crate) config: EgressConfig,
    pub(crate) new_slot: Option<String>,
    /// What changed, for the agent and the audit log.
    pub(crate) note: String,
    /// The host's route carries a credential, which would now also go to
    /// these paths (empty: every path).
    pub(crate) widens_credential: Option<Vec<String>>,
}

pub(crate) fn merge(config: &EgressConfig, asked: &Asked, taken_slots: &[String]) -> Merged {
    let host = asked.host.to_ascii_lowercase();
    let mut config = config.clone();
    if let Some(route) = config
        .routes
        .iter_mut()
        .find(|r| r.host.eq_ignore_ascii_case(&host))
    {
        let before = route.path_allowlist.clone();
        route.path_allowlist = union_paths(&route.path_allowlist, asked.paths);
        let widens_credential = (route.auth.is_some() && route.path_allowlist != before)
            .then(|| added_paths(&before, &route.path_allowlist));
        let note = if route.path_allowlist == before {
            format!("{host} was already allowed for these paths")
        } else if route.path_allowlist.is_empty() {
            format!("{host} is now allowed for every path")
        } else {
            format!(
                "{host} is now allowed for {}",
                route.path_allowlist.join(" ")
            )
        };
        return Merged {
            config,
            new_slot: None,
            note,
            widens_credential,
        };
    }
    let new_slot = asked.scheme.map(|_| next_slot(&config, taken_slots));
    config.routes.push(RouteConfig {
        host: host.clone(),
        path_allowlist: asked.paths.to_vec(),
        auth: asked
            .scheme
            .zip(new_slot.as_ref())
            .map(|(scheme, slot)| AuthConfig {
                scheme: scheme.to_owned(),
                token: slot.clone(),
            }),
        role: None,
        ..Default::default()
    });
    let paths = if asked.paths.is_empty() {
        "every path".to_owned()
    } else {
        asked.paths.join(" ")
    };
    let cred = if new_slot.is_some() {
        ", with a credential the proxy adds"
    } else {
        ""
    };
    Merged {
        config,
        new_slot,
        note: format!("{host} is now reachable ({paths}{cred})"),
        widens_credential: None,
    }
}

/// What `after` allows that `before` did not; empty when `after` allows
/// every path.
fn added_paths(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|p| !before.contains(p))
        .cloned()
        .collect()
}

/// Existing paths, then the new ones not there yet; empty (every path)
/// absorbs the other side.
fn union_paths(existing: &[String], asked: &[String]) -> Vec<String> {
    if existing.is_empty() || asked.is_empty() {
        return Vec::new();
    }
    let mut out = existing.to_vec();
    for p in asked {
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    out
}

/// `t<N>` for the lowest N no route and no token uses.
pub(crate) fn next_slot(config: &EgressConfig, taken: &[String]) -> String {
    let used: Vec<&str> = config
        .routes
        .iter()
        .filter_map(|r| r.auth.as_ref().map(|a| a.token.as_str()))
        .chain(taken.iter().map(String::as_str))
        .collect();
    (0..)
        .map(|n| format!("t{n}"))
        .find(|slot| !used.contains(&slot.as_str()))
        .unwrap_or_default()
}

/// A unified diff of two texts, for the audit log.
pub(crate) fn diff(before: &str, after: &str, name: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

pub(crate) fn pretty(config: &EgressConfig) -> String {
    let mut text = serde_json::to_string_pretty(config).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: &str, paths: &[&str], token: Option<&str>) -> RouteConfig {
        RouteConfig {
            host: host.into(),
            path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
            auth: token.map(|t| AuthConfig {
                scheme: "bearer".into(),
                token: t.into(),
            }),
            role: None,
            ..Default::default()
        }
    }

    fn config(routes: Vec<RouteConfig>) -> EgressConfig {
        EgressConfig {
            listen: 3128,
            routes,
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        }
    }

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    /// (name, host, paths, scheme, routes as "host paths token", new slot)
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<String>,
        Option<&'a str>,
        Vec<&'a str>,
        Option<&'a str>,
    );

    #[test]
    fn merge_cases() {
        let base = config(vec![
            route("api.github.com", &["/repos/a/"], Some("t0")),
            route("pypi.org", &[], None),
        ]);
        let cases: Vec<Case> = vec![
            (
                "new host appended",
                "example.com",
                paths(&["/v1/"]),
                None,
                vec![
                    "api.github.com /repos/a/ t0",
                    "pypi.org  -",
                    "example.com /v1/ -",
                ],
                None,
            ),
            (
                "new host with auth takes the next slot",
                "gitlab.com",
                vec![],
                Some("header:private-token"),
                vec![
                    "api.github.com /repos/a/ t0",
                    "pypi.org  -",
                    "gitlab.com  t1",
                ],
                Some("t1"),
            ),
            (
                "existing host: union, existing first, deduped",
                "api.github.com",
                paths(&["/repos/b/", "/repos/a/"]),
                None,
                vec!["api.github.com /repos/a/,/repos/b/ t0", "pypi.org  -"],
                None,
            ),
            (
                "case-insensitive match; proposed auth ignored, existing kept",
                "API.GitHub.com",
                paths(&["/user"]),
                Some("basic"),
                vec!["api.github.com /repos/a/,/user t0", "pypi.org  -"],
                None,
            ),
            (
                "every path absorbs a list",
                "pypi.org",
                paths(&["/simple/"]),
                None,
                vec!["api.github.com /repos/a/ t0", "pypi.org  -"],
                None,
            ),
            (
                "a pipelock-block (no paths) widens an existing host",
                "api.github.com",
                vec![],
                None,
                vec!["api.github.com  t0", "pypi.org  -"],
                None,
            ),
        ];
        for (name, host, asked_paths, scheme, want_routes, want_slot) in cases {
            let merged = merge(
                &base,
                &Asked {
                    host,
                    paths: &asked_paths,
                    scheme,
                },
                &[],
            );
            let got: Vec<String> = merged
                .config
                .routes
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.host,
                        r.path_allowlist.join(","),
                        r.auth.as_ref().map_or("-", |a| a.token.as_str())
                    )
                })
                .collect();
            assert_eq!(got, want_routes, "{name}");
            assert_eq!(merged.new_slot.as_deref(), want_slot, "{name}");
        }
    }

    #[test]
    fn widening_a_credentialed_route_is_flagged() {
        let base = config(vec![
            route("api.github.com", &["/repos/a/"], Some("t0")),
            route("pypi.org", &["/simple/"], None),
        ]);
        let widens = |host: &str, asked: &[&str]| {
            let asked = paths(asked);
            merge(
                &base,
                &Asked {
                    host,
                    paths: &asked,
                    scheme: None,
                },
                &[],
            )
            .widens_credential
        };
        assert_eq!(
            widens("api.github.com", &["/repos/b/"]),
            Some(paths(&["/repos/b/"]))
        );
        assert_eq!(widens("api.github.com", &[]), Some(vec![]), "every path");
        assert_eq!(widens("api.github.com", &["/repos/a/"]), None, "no change");
        assert_eq!(widens("pypi.org", &[]), None, "no credential");
        assert_eq!(widens("new.example.com", &[]), None, "a new host");
    }

    #[test]
    fn slots_skip_taken_tokens() {
        let base = config(vec![route("a.com", &[], Some("t0"))]);
        assert_eq!(next_slot(&base, &["t1".into()]), "t2");
        assert_eq!(next_slot(&config(vec![]), &[]), "t0");
    }

    #[test]
    fn diff_shows_the_change() {
        let before = pretty(&config(vec![route("a.com", &[], None)]));
        let after = pretty(&config(vec![
            route("a.com", &[], None),
            route("b.com", &[], None),
        ]));
        let d = diff(&before, &after, "routes.json");
        assert!(
            d.starts_with("--- a/routes.json\n+++ b/routes.json\n"),
            "{d}"
        );
        assert!(d.contains("+      \"host\": \"b.com\","), "{d}");
        assert_eq!(diff(&before, &before, "routes.json"), "");
    }
}
