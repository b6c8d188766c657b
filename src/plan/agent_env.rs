//! The agent container's environment: the proxy, CA and BOT_BOTTLE_*
//! variables, each role's base URL and placeholder token, then the
//! bottle's own `env`, which may not set any of those. Pure.

use super::{PlanError, PlanInput, RoutePlan, placeholder_token};
use crate::contract::paths::{agent_file, agent_files};
use crate::contract::services::{EGRESS, PROXY_PORT};
use crate::manifest::Role;
use crate::provider::AGENT_HOME;

/// The variables every agent gets, first and in this order.
pub(super) const STANDARD_ENV: [&str; 14] = [
    "HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
    "BOT_BOTTLE_SLUG",
    "BOT_BOTTLE_MCP_URL",
];

/// The agent's environment, in order. Names and values are never secret.
pub(super) fn agent_env(
    input: &PlanInput,
    routes: &RoutePlan,
    mcp_url: &str,
) -> Vec<(String, String)> {
    let proxy = format!("http://{EGRESS}:{PROXY_PORT}");
    let ca = agent_file(agent_files::CA);
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| {
        env.retain(|(key, _)| key != k);
        env.push((k.to_owned(), v.to_owned()));
    };
    for name in STANDARD_ENV {
        let value = match name {
            "HOME" => AGENT_HOME,
            "BOT_BOTTLE_SLUG" => input.slug,
            "BOT_BOTTLE_MCP_URL" => mcp_url,
            // The role base URLs are egress's own listeners: straight there.
            "NO_PROXY" | "no_proxy" => "localhost,127.0.0.1,supervise,egress,git-gate",
            "HTTP_PROXY" | "HTTPS_PROXY" | "http_proxy" | "https_proxy" => &proxy,
            _ => &ca,
        };
        set(name, value);
    }
    for r in &routes.routes {
        if let (Some(role), Some(port)) = (r.route.role, r.role_port) {
            set(role.base_url_env(), &role_base_url(role, port));
            if let Some(token) = &r.token {
                set(&token.host_env, &placeholder_token(&token.host_env));
            }
        }
    }
    for (k, v) in &input.bottle.env {
        set(k, v);
    }
    env
}

/// A bottle's `env` may not set what bot-bottle sets itself.
pub(super) fn check_env(input: &PlanInput, routes: &RoutePlan) -> Result<(), PlanError> {
    let mut reserved: Vec<&str> = STANDARD_ENV.to_vec();
    for r in &routes.routes {
        if let Some(role) = r.route.role {
            reserved.push(role.base_url_env());
        }
        if let (Some(_), Some(token)) = (r.route.role, &r.token) {
            reserved.push(&token.host_env);
        }
    }
    match input
        .bottle
        .env
        .keys()
        .find(|k| reserved.contains(&k.as_str()))
    {
        Some(name) => Err(PlanError::ReservedEnv {
            bottles: input.bottle_names.join(" + "),
            name: name.clone(),
        }),
        None => Ok(()),
    }
}

/// The base URL a role's variable holds: OpenAI's clients (the SDKs,
/// Codex) append `/responses` and the like to a base that ends in `/v1`;
/// Anthropic's add `/v1/messages` themselves.
fn role_base_url(role: Role, port: u16) -> String {
    match role {
        Role::AnthropicBaseUrl => format!("http://egress:{port}"),
        Role::OpenaiBaseUrl => format!("http://egress:{port}/v1"),
    }
}
