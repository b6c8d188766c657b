//! Requests the tests put in a bottle's proposal queue, as an agent would
//! through the supervise sidecar.

use bot_bottle::proposal::Request;

/// An egress-block request: a route to `host` for `paths` (every path
/// when there are none), with no credential.
pub fn egress_block(host: &str, paths: &[&str]) -> Request {
    Request::EgressBlock {
        host: host.into(),
        path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
        auth: None,
    }
}

/// An egress-block request longer than a screen: 100 paths on `host`.
pub fn long_egress_block(host: &str) -> Request {
    Request::EgressBlock {
        host: host.into(),
        path_allowlist: (0..100)
            .map(|i| format!("/api/v1/resource-{i:02}/"))
            .collect(),
        auth: None,
    }
}

/// A pipelock-block request: `failed_url` was refused, a route to `host`
/// would let it through.
pub fn pipelock_block(failed_url: &str, host: &str) -> Request {
    Request::PipelockBlock {
        failed_url: failed_url.into(),
        host: host.into(),
    }
}

/// Checks an agent's proposal as `proposals --json` lists it: its bottle,
/// tool, summary and justification. Returns its id.
pub fn assert_proposal(
    listed: &serde_json::Value,
    slug: &str,
    tool: &str,
    summary: &str,
    justification: &str,
) -> String {
    assert_eq!(listed["slug"], slug);
    assert_eq!(listed["tool"], tool);
    assert_eq!(listed["summary"], summary);
    assert_eq!(listed["justification"], justification);
    listed["id"].as_str().unwrap().to_owned()
}
