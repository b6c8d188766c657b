//! The routes of a bottle, as the operator's side changes them: a route an
//! approval adds (merged, with its credential), an operator's edit of the
//! whole table; both written where egress and supervise read them, egress
//! reloaded, the change audited. A reload that fails puts the old files
//! back.

use std::path::{Path, PathBuf};

use super::{ApplyError, Approval};
use crate::backend::sidecars::OfBottle;
use crate::contract::audit::{actor, decision};
use crate::egress::config::{EgressConfig, ROUTES_FILE, SpendConfig, Tokens};
use crate::egress::policy::Policy;
use crate::egress::usage::price::Usd;
use crate::exec::ExecError;
use crate::manifest::{parse_scheme, validate_host};
use crate::proposal::Proposal;
use crate::proposal::audit::{self, Entry};
use crate::proposal::queue::now;
use crate::state::scratch::Scratch;
use crate::state::{Home, LiveRoutes, StateError, read_bounded, write_atomic};
use crate::supervise::merge::{self, Asked};

pub(super) fn add_route(
    home: &Home,
    proposal: &Proposal,
    asked: &Asked,
    approval: &Approval,
) -> Result<String, ApplyError> {
    let slug = &proposal.slug;
    let (before, tokens) = read_routes(home, slug)?;
    let taken: Vec<String> = tokens.keys().cloned().collect();
    let merged = merge::merge(&before, asked, &taken);
    if let Some(added) = &merged.widens_credential
        && !approval.widen_credential
    {
        return Err(ApplyError::WidensCredential {
            id: proposal.id.clone(),
            host: asked.host.to_ascii_lowercase(),
            paths: if added.is_empty() {
                "every path".into()
            } else {
                added.join(" ")
            },
        });
    }
    let new_token = match (&merged.new_slot, asked.scheme) {
        (Some(slot), Some(scheme)) => {
            let name = approval.token_env.ok_or_else(|| ApplyError::NeedsToken {
                id: proposal.id.clone(),
                host: asked.host.to_owned(),
                scheme: scheme.to_owned(),
            })?;
            let value = std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ApplyError::TokenUnset(name.to_owned()))?;
            Some(NewToken {
                slot: slot.clone(),
                host_env: name.to_owned(),
                value,
            })
        }
        _ => None,
    };
    let diff = write_routes(home, slug, &before, &merged.config, &tokens, new_token)?;
    let why = Some(proposal.justification.clone());
    audit::append(
        home,
        slug,
        &Entry::decision(proposal, decision::APPROVED, why, diff),
    )?;
    Ok(merged.note)
}

/// The bottle's live routes and tokens. The routes are the host's own
/// record (`state::LiveRoutes`), which no sidecar can write; a bottle
/// launched before there was one has only the egress sidecar's copy. The
/// sidecar can write in its folder, so its files are read bounded and
/// without following links.
pub(crate) fn read_routes(home: &Home, slug: &str) -> Result<(EgressConfig, Tokens), ApplyError> {
    let dir = home.bottle(slug);
    let config = match home.read_live_routes(slug)? {
        Some(live) => live.config,
        None => read_json(&dir.egress_routes())?,
    };
    let tokens_path = dir.egress_tokens();
    let tokens = if tokens_path.exists() {
        read_json(&tokens_path)?
    } else {
        Tokens::new()
    };
    Ok((config, tokens))
}

/// An approved budget proposal: the routes' `token_budget` set to
/// `tokens` and the spend budget to `spend` (each when asked), egress
/// reloaded, audited. Returns what it did.
pub(super) fn raise_budget(
    home: &Home,
    proposal: &Proposal,
    tokens: Option<u64>,
    spend: Option<Usd>,
) -> Result<String, ApplyError> {
    let slug = &proposal.slug;
    let (before, current_tokens) = read_routes(home, slug)?;
    let after = EgressConfig {
        token_budget: tokens.or(before.token_budget),
        spend: match spend {
            Some(budget) => Some(SpendConfig {
                budget,
                prices: before
                    .spend
                    .as_ref()
                    .map(|s| s.prices.clone())
                    .unwrap_or_default(),
            }),
            None => before.spend.clone(),
        },
        ..before.clone()
    };
    let diff = write_routes(home, slug, &before, &after, &current_tokens, None)?;
    audit::append(
        home,
        slug,
        &Entry::decision(
            proposal,
            decision::APPROVED,
            Some(proposal.justification.clone()),
            diff,
        ),
    )?;
    Ok(format!(
        "{}; egress reloaded",
        crate::proposal::budget_summary(tokens, spend)
    ))
}

/// A credential an approval adds: its slot, the host variable the operator
/// named, and that variable's value.
struct NewToken {
    slot: String,
    host_env: String,
    value: String,
}

/// Route files are small; a larger one is not read.
const MAX_ROUTES_FILE: u64 = 1 << 20;

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ApplyError> {
    let err = |source: std::io::Error| {
        ApplyError::State(StateError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let bytes = read_bounded(path, MAX_ROUTES_FILE).map_err(err)?;
    serde_json::from_slice(&bytes).map_err(|e| err(e.into()))
}

/// Writes new routes (and a new token) where egress and supervise read
/// them, and makes egress reload. On failure the old files are put back.
/// Returns the diff.
fn write_routes(
    home: &Home,
    slug: &str,
    before: &EgressConfig,
    after: &EgressConfig,
    tokens: &Tokens,
    new_token: Option<NewToken>,
) -> Result<String, ApplyError> {
    let mut live = home.read_live_routes(slug)?.unwrap_or_else(|| LiveRoutes {
        config: before.clone(),
        token_env: Default::default(),
    });
    live.config = after.clone();
    let mut new_tokens = tokens.clone();
    if let Some(t) = new_token {
        live.token_env.insert(t.slot.clone(), t.host_env);
        new_tokens.insert(t.slot, t.value);
    }
    Policy::new(after, &new_tokens).map_err(|e| ApplyError::Invalid(e.to_string()))?;
    let dir = home.bottle(slug);
    let view = dir.routes_view();
    let (old_text, new_text) = (merge::pretty(before), merge::pretty(after));
    let old_tokens = serde_json::to_string(tokens).unwrap_or_default();
    let write = |routes: &str, tokens: &str| -> Result<(), StateError> {
        write_atomic(&dir.egress_tokens(), tokens.as_bytes(), 0o600)?;
        write_atomic(&dir.egress_routes(), routes.as_bytes(), 0o644)?;
        write_atomic(&view, routes.as_bytes(), 0o644)
    };
    write(
        &new_text,
        &serde_json::to_string(&new_tokens).unwrap_or_default(),
    )?;
    if let Err(e) = (OfBottle { home }).reload_egress(slug) {
        write(&old_text, &old_tokens)?;
        return Err(ApplyError::Reload {
            slug: slug.to_owned(),
            source: e,
        });
    }
    home.write_live_routes(slug, &live)?;
    Ok(merge::diff(&old_text, &new_text, ROUTES_FILE))
}

/// How a failed reload reads in `ApplyError::Reload`: what egress said,
/// when it said something.
pub(super) fn reload_reason(e: &ExecError) -> String {
    match e {
        ExecError::Failed { stderr, .. } => stderr.clone(),
        e => e.to_string(),
    }
}

/// An operator's edit of the routes: validated, applied with a reload,
/// audited. Returns the diff, or None when nothing changed.
pub(crate) fn edit_routes(
    home: &Home,
    slug: &str,
    edited: &str,
) -> Result<Option<String>, ApplyError> {
    let _lock = home.lock_bottle(slug)?;
    let (before, tokens) = read_routes(home, slug)?;
    let after: EgressConfig = serde_json::from_str(edited)
        .map_err(|e| ApplyError::Invalid(format!("{ROUTES_FILE}: {e}")))?;
    check_edit(&before, &after, &tokens).map_err(ApplyError::Invalid)?;
    if after == before {
        return Ok(None);
    }
    let diff = write_routes(home, slug, &before, &after, &tokens, None)?;
    audit::append(
        home,
        slug,
        &Entry {
            time: now(),
            actor: actor::OPERATOR.into(),
            tool: "routes-edit".into(),
            proposal: None,
            decision: decision::EDITED.into(),
            reason: None,
            diff: diff.clone(),
        },
    )?;
    Ok(Some(diff))
}

/// `routes edit`, shared by the CLI and the dashboard's `e`: the live
/// routes in $EDITOR, then `edit_routes` (checked, reloaded, rolled back
/// if the reload fails, audited). The terminal is the editor's meanwhile.
/// Returns the diff, or None when nothing changed.
pub(crate) fn edit_routes_in_editor(home: &Home, slug: &str) -> Result<Option<String>, ApplyError> {
    edit_routes_with(home, slug, crate::exec::edit)
}

/// `edit_routes_in_editor`, the file handed to `editor`.
fn edit_routes_with(
    home: &Home,
    slug: &str,
    editor: impl FnOnce(&Path) -> Result<(), ExecError>,
) -> Result<Option<String>, ApplyError> {
    let (_, text) = routes_text(home, slug)?;
    // A folder of its own, not a name in /tmp someone else could make first.
    let scratch = Scratch::new("edit")?;
    let path = scratch.write(ROUTES_FILE, text.as_bytes())?;
    editor(&path).map_err(ApplyError::Editor)?;
    let edited = std::fs::read_to_string(&path).map_err(|e| StateError::Io {
        path: path.clone(),
        source: e,
    })?;
    drop(scratch);
    edit_routes(home, slug, &edited)
}

/// What an edit may not do: name bad hosts or paths, use a token slot that
/// holds nothing, or change what egress listens on (fixed at launch).
pub(crate) fn check_edit(
    before: &EgressConfig,
    after: &EgressConfig,
    tokens: &Tokens,
) -> Result<(), String> {
    if after.listen != before.listen || after.trust_upstream_ca != before.trust_upstream_ca {
        return Err(
            "listen and trust_upstream_ca are fixed at launch; leave them as they are".into(),
        );
    }
    let roles = |c: &EgressConfig| -> Vec<(String, String)> {
        c.routes
            .iter()
            .filter_map(|r| {
                r.role
                    .as_ref()
                    .map(|role| (r.host.clone(), role.name.clone()))
            })
            .collect()
    };
    if roles(before) != roles(after) {
        return Err(
            "routes with a role are fixed at launch; leave their host and role as they are".into(),
        );
    }
    let mut hosts = Vec::new();
    for (i, r) in after.routes.iter().enumerate() {
        let host =
            validate_host(&r.host).map_err(|p| format!("routes[{i}].host: '{}' {p}", r.host))?;
        if hosts.contains(&host) {
            return Err(format!("routes[{i}].host: '{host}' has two routes"));
        }
        hosts.push(host);
        if let Some(p) = r.path_allowlist.iter().find(|p| !p.starts_with('/')) {
            return Err(format!(
                "routes[{i}].path_allowlist: '{p}' does not start with '/'"
            ));
        }
        if let Some(auth) = &r.auth {
            if parse_scheme(&auth.scheme).is_none() {
                return Err(format!(
                    "routes[{i}].auth.scheme: '{}' is not bearer, basic or header:NAME",
                    auth.scheme
                ));
            }
            if !tokens.contains_key(&auth.token) {
                return Err(format!(
                    "routes[{i}].auth.token: slot '{}' holds no token; a new credential comes with an approved proposal",
                    auth.token
                ));
            }
        }
    }
    Ok(())
}

/// The routes file as the operator edits it.
pub(crate) fn routes_text(home: &Home, slug: &str) -> Result<(PathBuf, String), ApplyError> {
    home.existing_bottle_dir(slug)?;
    let path = home.bottle(slug).egress_routes();
    let io = |source: std::io::Error| StateError::Io {
        path: path.clone(),
        source,
    };
    let bytes = read_bounded(&path, MAX_ROUTES_FILE).map_err(io)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok((path, text))
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::tests::write_routes;
    use super::*;
    use crate::egress::config::{AuthConfig, RoleConfig, RouteConfig};

    pub(in crate::supervise::apply) fn config() -> EgressConfig {
        EgressConfig {
            listen: 3128,
            routes: vec![
                RouteConfig {
                    host: "api.anthropic.com".into(),
                    path_allowlist: vec!["/v1/messages".into()],
                    auth: Some(AuthConfig {
                        scheme: "bearer".into(),
                        token: "t0".into(),
                    }),
                    role: Some(RoleConfig {
                        name: "anthropic-base-url".into(),
                        listen: 4001,
                    }),
                    ..Default::default()
                },
                RouteConfig {
                    host: "pypi.org".into(),
                    path_allowlist: vec![],
                    auth: None,
                    role: None,
                    ..Default::default()
                },
            ],
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        }
    }

    #[test]
    fn edits_are_checked() {
        let tokens: Tokens = [("t0".to_owned(), "x".to_owned())].into();
        let before = config();
        assert_eq!(check_edit(&before, &before, &tokens), Ok(()));
        let edit = |f: &dyn Fn(&mut EgressConfig)| {
            let mut c = config();
            f(&mut c);
            check_edit(&before, &c, &tokens).unwrap_err()
        };
        assert!(edit(&|c| c.routes[1].host = "https://pypi.org".into()).contains("has a scheme"));
        assert!(
            edit(&|c| c.routes[1].path_allowlist = vec!["simple".into()])
                .contains("does not start with '/'")
        );
        assert!(edit(&|c| c.routes.push(c.routes[1].clone())).contains("has two routes"));
        assert!(edit(&|c| c.routes.remove(0).host.clear()).contains("fixed at launch"));
        assert!(edit(&|c| c.listen = 1).contains("fixed at launch"));
        assert!(
            edit(&|c| c.routes[1].auth = Some(AuthConfig {
                scheme: "bearer".into(),
                token: "t7".into()
            }))
            .contains("holds no token")
        );
        assert!(
            edit(&|c| c.routes[1].auth = Some(AuthConfig {
                scheme: "magic".into(),
                token: "t0".into()
            }))
            .contains("is not bearer")
        );
    }

    #[test]
    fn the_editor_gets_a_private_file_and_a_planted_link_is_not_followed() {
        use crate::state::scratch::planted::Planted;
        let (_dir, home) = Home::temp();
        let slug = crate::state::Slug::mint("plant").into_string();
        write_routes(&home, &slug);
        let bottle = home.bottle(&slug);
        std::fs::write(bottle.metadata(), "{}").unwrap();
        // Another user's link where the edit used to go.
        let watched = tempfile::tempdir().unwrap();
        let planted = Planted::at(
            &format!("bot-bottle-edit-{}-{slug}", std::process::id()),
            watched.path(),
        );
        let mut handed = None;
        let changed = edit_routes_with(&home, &slug, |path| {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode();
            handed = Some((
                path.to_path_buf(),
                mode(path) & 0o777,
                mode(path.parent().unwrap()) & 0o777,
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!(changed, None);
        let (path, file_mode, dir_mode) = handed.unwrap();
        assert_eq!(
            std::fs::read_dir(watched.path()).unwrap().count(),
            0,
            "nothing was written through the planted link"
        );
        assert!(planted.intact(watched.path()));
        assert_eq!((file_mode, dir_mode), (0o600, 0o700), "{}", path.display());
        assert!(!path.exists(), "removed afterwards");
    }
}
