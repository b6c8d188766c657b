//! The CGI environment of a request to `git http-backend`, and the
//! variables the gate's hooks read. Pure.

use std::net::SocketAddr;
use std::path::Path;

use http::{HeaderMap, Method, Uri, header};

use super::Options;
use crate::contract::gate::{AUDIT_VAR, OPERATOR_VAR, STATE_VAR};

/// The CGI environment of one request (the inherited environment aside).
/// `content_length`: of the body as git reads it (None when the gate
/// decoded it). No `Content-Encoding` is passed on: the gate decodes
/// bodies itself, under its cap.
pub(crate) fn cgi_env(
    opts: &Options,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    peer: SocketAddr,
    content_length: Option<u64>,
) -> Vec<(String, String)> {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut env: Vec<(String, String)> = vec![
        ("GIT_PROJECT_ROOT".into(), path_text(&opts.state)),
        ("GIT_HTTP_EXPORT_ALL".into(), "1".into()),
        ("PATH_INFO".into(), uri.path().into()),
        (
            "QUERY_STRING".into(),
            uri.query().unwrap_or_default().into(),
        ),
        ("REQUEST_METHOD".into(), method.as_str().into()),
        ("REMOTE_USER".into(), "agent".into()),
        ("REMOTE_ADDR".into(), peer.ip().to_string()),
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
        (STATE_VAR.into(), path_text(&opts.state)),
    ];
    if let Some(n) = content_length {
        env.push(("CONTENT_LENGTH".into(), n.to_string()));
    }
    let optional = [
        ("CONTENT_TYPE", header(header::CONTENT_TYPE)),
        (
            "GIT_PROTOCOL",
            header(header::HeaderName::from_static("git-protocol")),
        ),
        (OPERATOR_VAR, opts.operator.as_deref().map(path_text)),
        (AUDIT_VAR, opts.audit.as_deref().map(path_text)),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            env.push((name.into(), value));
        }
    }
    env
}

/// `64 MiB`, or `100 bytes` under a mebibyte.
pub(crate) fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgi_environment_carries_the_request_and_the_hooks_paths() {
        let config = serde_json::from_value(serde_json::json!({
            "slug": "dev-aaaaa", "operator": true, "protected_paths": [],
            "allow": {"force_push": false, "delete": false, "tags": false},
            "max_push_bytes": 10, "remotes": []
        }))
        .unwrap();
        let mut opts = Options {
            state: "/state".into(),
            operator: Some("/operator".into()),
            audit: Some("/audit.jsonl".into()),
            config,
            hook_bin: "/bot-bottle".into(),
        };
        let uri: Uri = "/repo.git/info/refs?service=git-upload-pack"
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("git-protocol", "version=2".parse().unwrap());
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        headers.insert(header::AUTHORIZATION, "Basic secret".parse().unwrap());
        let peer: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let env = cgi_env(&opts, (&Method::GET, &uri, &headers), peer, Some(7));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        for (name, want) in [
            ("GIT_PROJECT_ROOT", "/state"),
            ("GIT_HTTP_EXPORT_ALL", "1"),
            ("PATH_INFO", "/repo.git/info/refs"),
            ("QUERY_STRING", "service=git-upload-pack"),
            ("REQUEST_METHOD", "GET"),
            ("REMOTE_USER", "agent"),
            ("REMOTE_ADDR", "10.0.0.2"),
            ("CONTENT_LENGTH", "7"),
            ("GIT_PROTOCOL", "version=2"),
            ("BOT_BOTTLE_GATE_STATE", "/state"),
            ("BOT_BOTTLE_GATE_OPERATOR", "/operator"),
            ("BOT_BOTTLE_GATE_AUDIT", "/audit.jsonl"),
        ] {
            assert_eq!(get(name), Some(want), "{name}");
        }
        assert!(!env.iter().any(|(_, v)| v.contains("secret")));
        assert!(!env.iter().any(|(n, _)| n == "HTTP_CONTENT_ENCODING"));
        opts.operator = None;
        opts.audit = None;
        let env = cgi_env(&opts, (&Method::POST, &uri, &HeaderMap::new()), peer, None);
        for absent in [
            "BOT_BOTTLE_GATE_OPERATOR",
            "BOT_BOTTLE_GATE_AUDIT",
            "CONTENT_LENGTH",
            "CONTENT_TYPE",
            "GIT_PROTOCOL",
        ] {
            assert!(!env.iter().any(|(n, _)| n == absent), "{absent}");
        }
        assert_eq!(size_text(64 << 20), "64 MiB");
        assert_eq!(size_text(10), "10 bytes");
    }
}
