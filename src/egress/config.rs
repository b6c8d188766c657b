//! The egress sidecar's files, in its state folder: `routes.json` (the
//! policy, which supervise rewrites and a SIGHUP reloads) and `tokens.json`
//! (the route credentials, `{slot: value}`, mode 0600). The plan writes
//! them; the sidecar reads them; nothing else holds a token. The sidecar
//! writes `usage.json` (the tokens its model APIs reported).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::usage::price::{Prices, Usd};

pub(crate) const ROUTES_FILE: &str = "routes.json";
/// The token usage egress counted, per model (see `egress::usage::totals`).
pub(crate) const USAGE_FILE: &str = "usage.json";
pub(crate) const TOKENS_FILE: &str = "tokens.json";
pub(crate) const DECISIONS_FILE: &str = "decisions.jsonl";
pub(crate) const CA_CERT_FILE: &str = "ca.pem";
pub(crate) const CA_KEY_FILE: &str = "ca.key";
/// Present while the operator has the bottle frozen (`bot-bottle freeze`):
/// egress refuses every request. The host writes it, a SIGHUP reloads it.
pub(crate) const FROZEN_FILE: &str = "frozen";

/// Egress's configuration for one bottle (`routes.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// The forward proxy's port.
    pub listen: u16,
    /// The hosts the bottle may reach.
    pub routes: Vec<RouteConfig>,
    /// Extra CA files to trust upstream, besides the public roots.
    #[serde(default)]
    pub trust_upstream_ca: Vec<String>,
    /// Model tokens the bottle may use (`limits.tokens`): past it, model
    /// calls are refused until the operator raises it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
    /// US dollars the bottle may spend on model calls (`limits.spend`),
    /// and the prices they are counted at: past it, model calls are
    /// refused until the operator raises it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<SpendConfig>,
}

/// A spend budget, as egress enforces it on its own: the budget and the
/// home's price table, copied at bring-up (`{"budget": 5, "prices":
/// {"claude-sonnet-4": {"input": 3, …}}}`). A model no row prices counts
/// as $0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendConfig {
    /// US dollars, whole cents.
    pub(crate) budget: Usd,
    /// US dollars per million tokens, by model name prefix.
    #[serde(default)]
    pub(crate) prices: Prices,
}

/// One host the bottle may reach, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Lower-case bare hostname.
    pub host: String,
    /// Path prefixes; empty means every path.
    #[serde(default)]
    pub path_allowlist: Vec<String>,
    /// The credential egress adds to requests on this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// Served as a plain-HTTP base URL for an agent CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleConfig>,
    /// The host may resolve to a loopback, private, link-local or CGNAT
    /// address (an internal service, a test's upstream); refused otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_private_addresses: bool,
    /// Refuse request bodies that ask the API to reach out on the agent's
    /// behalf: remote MCP servers, server-side URL fetch and search tools.
    #[serde(default, skip_serializing_if = "is_false")]
    pub block_server_tools: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// The credential of a route: the scheme and which token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `bearer`, `basic` or `header:NAME`.
    pub scheme: String,
    /// The key of the token in `tokens.json`.
    pub token: String,
}

/// A route served as a base URL on its own port (e.g. the model API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role's name.
    pub name: String,
    /// The port egress serves the role's base URL on.
    pub listen: u16,
}

pub(crate) type Tokens = BTreeMap<String, String>;

/// The configuration could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the JSON expected.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

/// Whether the operator froze the bottle whose egress state is in `dir`.
/// A marker that cannot be checked counts as present: refusing is safe.
pub(crate) fn is_frozen(dir: &Path) -> bool {
    !matches!(
        std::fs::symlink_metadata(dir.join(FROZEN_FILE)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    )
}

pub(crate) fn read_config(dir: &Path) -> Result<(EgressConfig, Tokens), ConfigError> {
    let config: EgressConfig = read_json(&dir.join(ROUTES_FILE))?;
    let tokens_path = dir.join(TOKENS_FILE);
    let tokens = if tokens_path.exists() {
        read_json(&tokens_path)?
    } else {
        Tokens::new()
    };
    Ok((config, tokens))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let path_text = || path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path_text(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path_text(),
        source,
    })
}
