//! The egress policy, pure: which requests may leave, and with which
//! credential. Checked on every request, not only on CONNECT.
//!
//! - The host must match a route: exactly, ignoring case.
//! - The Host header (or the URL's authority) must agree with the target.
//! - With a `path_allowlist`, the normalized path (percent-decoded, dot
//!   segments resolved) must start with one of its entries; a path whose
//!   dot segments would be read differently upstream is refused outright.
//! - A raw IP, or a port other than 443 (80 for plain HTTP), is refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use base64::Engine as _;

use super::config::{EgressConfig, Tokens};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub host: String,
    pub path_allowlist: Vec<String>,
    pub inject: Option<Injection>,
    /// The port this route is served on as a base URL, for a role.
    pub role_port: Option<u16>,
}

/// A credential header the proxy sets on a route's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Lower-case header name.
    pub header: String,
    /// The whole header value; a secret.
    pub value: String,
}

/// Headers the agent may not set itself on a route with a credential.
pub const CREDENTIAL_HEADERS: [&str; 2] = ["authorization", "proxy-authorization"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    routes: Vec<Route>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("route {host}: unknown auth scheme '{scheme}'")]
    Scheme { host: String, scheme: String },
}

/// How a request reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// Why a request was refused; its `body` tells the agent what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    IpTarget(String),
    Port { host: String, port: u16 },
    HostMismatch { target: String, header: String },
    UnknownHost(String),
    PathNotAllowed { host: String, path: String },
    BadPath { host: String, path: String },
    Secret { kind: &'static str },
}

impl Denial {
    /// A short reason, for the decision log.
    pub fn reason(&self) -> String {
        match self {
            Denial::IpTarget(ip) => format!("raw IP address {ip}"),
            Denial::Port { port, .. } => format!("port {port} is not allowed"),
            Denial::HostMismatch { target, header } => {
                format!("Host '{header}' does not match the target {target}")
            }
            Denial::UnknownHost(host) => format!("no route for {host}"),
            Denial::PathNotAllowed { path, .. } => {
                format!("path {path} is not in the route's path_allowlist")
            }
            Denial::BadPath { path, .. } => format!("path {path} has dot segments"),
            Denial::Secret { kind } => format!("the request carries a secret ({kind})"),
        }
    }

    /// The MCP tool that asks for this to be allowed, if one can.
    pub fn tool(&self) -> Option<&'static str> {
        match self {
            Denial::UnknownHost(_) => Some("pipelock-block"),
            Denial::PathNotAllowed { .. } => Some("egress-block"),
            _ => None,
        }
    }

    /// The 403's body: what was refused and which tool to call.
    pub fn body(&self, url: &str) -> String {
        let mut out = format!(
            "bot-bottle egress refused this request: {}.\n",
            self.reason()
        );
        let _ = match self {
            Denial::UnknownHost(host) => writeln!(
                out,
                "To ask the operator for access to {host}, call the MCP tool `pipelock-block` with failed_url \"{url}\" and a justification; or call `egress-block` with host \"{host}\" to ask for a route limited to some paths or with a credential."
            ),
            Denial::PathNotAllowed { host, .. } => writeln!(
                out,
                "To ask for more paths on {host}, call the MCP tool `egress-block` with host \"{host}\", the path_allowlist you need, and a justification."
            ),
            Denial::Port { .. } => writeln!(
                out,
                "Only HTTPS on port 443, and plain HTTP on port 80, can leave the bottle."
            ),
            Denial::Secret { .. } => writeln!(
                out,
                "Secrets may not leave the bottle. Remove it from the URL, headers and body, and retry."
            ),
            Denial::IpTarget(_) | Denial::HostMismatch { .. } | Denial::BadPath { .. } => {
                writeln!(out, "Use the host's name, and a plain path.")
            }
        };
        out
    }
}

/// The facts of one request that the policy decides on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub scheme: Scheme,
    /// The host the connection is for: CONNECT's, or the absolute URL's.
    pub host: &'a str,
    pub port: u16,
    /// The Host header (or `:authority`), when the request has one.
    pub host_header: Option<&'a str>,
    /// The path as sent, without the query.
    pub path: &'a str,
}

impl Policy {
    pub fn new(config: &EgressConfig, tokens: &Tokens) -> Result<Policy, PolicyError> {
        let mut routes = Vec::new();
        for r in &config.routes {
            let inject =
                match &r.auth {
                    None => None,
                    Some(auth) => match tokens.get(&auth.token) {
                        None => None,
                        Some(token) => Some(injection(&auth.scheme, token).ok_or_else(|| {
                            PolicyError::Scheme {
                                host: r.host.clone(),
                                scheme: auth.scheme.clone(),
                            }
                        })?),
                    },
                };
            routes.push(Route {
                host: r.host.to_ascii_lowercase(),
                path_allowlist: r.path_allowlist.clone(),
                inject,
                role_port: r.role.as_ref().map(|role| role.listen),
            });
        }
        Ok(Policy { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The secrets the proxy injects, which DLP must keep from leaving.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for inject in self.routes.iter().filter_map(|r| r.inject.as_ref()) {
            out.push(inject.value.clone());
            if let Some((_, raw)) = inject.value.split_once(' ') {
                out.push(raw.to_owned());
            }
        }
        out
    }

    pub fn route_for_port(&self, port: u16) -> Option<&Route> {
        self.routes.iter().find(|r| r.role_port == Some(port))
    }

    /// Decides on a request; Ok is the route it may take.
    pub fn decide(&self, req: &Request) -> Result<&Route, Denial> {
        let host = req.host.trim_end_matches('.').to_ascii_lowercase();
        check_target(&host, req.port, req.scheme)?;
        if let Some(header) = req.host_header {
            let (h, port) = split_host_port(header, req.scheme.default_port());
            if h.trim_end_matches('.').to_ascii_lowercase() != host || port != Some(req.port) {
                return Err(Denial::HostMismatch {
                    target: format!("{host}:{}", req.port),
                    header: header.to_owned(),
                });
            }
        }
        let route = self
            .routes
            .iter()
            .find(|r| r.host == host)
            .ok_or_else(|| Denial::UnknownHost(host.clone()))?;
        check_path(route, req.path)?;
        Ok(route)
    }
}

/// Refuses raw IPs and ports other than the scheme's default.
pub fn check_target(host: &str, port: u16, scheme: Scheme) -> Result<(), Denial> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Err(Denial::IpTarget(host.to_owned()));
    }
    if port != scheme.default_port() {
        return Err(Denial::Port {
            host: host.to_owned(),
            port,
        });
    }
    Ok(())
}

/// Checks a path against a route's allowlist.
pub fn check_path(route: &Route, path: &str) -> Result<(), Denial> {
    if route.path_allowlist.is_empty() {
        return Ok(());
    }
    let Some(normal) = normalize_path(path) else {
        return Err(Denial::BadPath {
            host: route.host.clone(),
            path: path.to_owned(),
        });
    };
    if route
        .path_allowlist
        .iter()
        .any(|p| normal.starts_with(p.as_bytes()))
    {
        Ok(())
    } else {
        Err(Denial::PathNotAllowed {
            host: route.host.clone(),
            path: path.to_owned(),
        })
    }
}

/// Percent-decodes a path and collapses repeated slashes. None when it has
/// dot segments (`.`/`..`, encoded or not), a NUL, or is not absolute: an
/// upstream might resolve those differently than this check would.
pub fn normalize_path(path: &str) -> Option<Vec<u8>> {
    let decoded = percent_decode(path.as_bytes());
    if decoded.first() != Some(&b'/') || decoded.contains(&0) {
        return None;
    }
    let mut out = Vec::with_capacity(decoded.len());
    for segment in decoded
        .split(|&b| b == b'/' || b == b'\\')
        .filter(|s| !s.is_empty())
    {
        if segment == b"." || segment == b".." {
            return None;
        }
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() || decoded.ends_with(b"/") {
        out.push(b'/');
    }
    Some(out)
}

/// `%XX` to bytes, repeatedly, so double encoding cannot hide a segment.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut current = input.to_vec();
    for _ in 0..4 {
        let next = decode_once(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn decode_once(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// `host:port` (or `[v6]:port`) to its parts; the port defaults.
pub fn split_host_port(authority: &str, default: u16) -> (&str, Option<u16>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, "")) => (host, Some(default)),
            Some((host, port)) => (host, port.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (authority, Some(default)),
    }
}

fn injection(scheme: &str, token: &str) -> Option<Injection> {
    let lower = scheme.to_ascii_lowercase();
    let (header, value) = match lower.as_str() {
        "bearer" => ("authorization".to_owned(), format!("Bearer {token}")),
        "basic" => (
            "authorization".to_owned(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            ),
        ),
        _ => (
            lower
                .strip_prefix("header:")
                .filter(|n| !n.is_empty())?
                .to_owned(),
            token.to_owned(),
        ),
    };
    Some(Injection { header, value })
}

/// The route table as the agent may see it: no secret, only which routes
/// carry a credential.
pub fn describe(routes: &[Route]) -> BTreeMap<String, String> {
    routes
        .iter()
        .map(|r| {
            let mut text = if r.path_allowlist.is_empty() {
                "all paths".to_owned()
            } else {
                r.path_allowlist.join(" ")
            };
            if r.inject.is_some() {
                text.push_str(" (credential added by the proxy)");
            }
            (r.host.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::config::{AuthConfig, RouteConfig};

    fn policy() -> Policy {
        let route = |host: &str, paths: &[&str], auth: Option<(&str, &str)>| RouteConfig {
            host: host.into(),
            path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
            auth: auth.map(|(scheme, token)| AuthConfig {
                scheme: scheme.into(),
                token: token.into(),
            }),
            role: None,
            ..Default::default()
        };
        let config = EgressConfig {
            listen: 3128,
            routes: vec![
                route("api.github.com", &["/repos/acme/"], Some(("bearer", "t0"))),
                route("pypi.org", &[], None),
                route(
                    "Upload.Example.com",
                    &["/v1/"],
                    Some(("header:X-Api-Key", "t1")),
                ),
            ],
            trust_upstream_ca: vec![],
        };
        let tokens = [
            ("t0".to_owned(), "gh-secret".to_owned()),
            ("t1".to_owned(), "up-secret".to_owned()),
        ]
        .into();
        Policy::new(&config, &tokens).unwrap()
    }

    fn https<'a>(host: &'a str, path: &'a str) -> Request<'a> {
        Request {
            scheme: Scheme::Https,
            host,
            port: 443,
            host_header: Some(host),
            path,
        }
    }

    #[test]
    fn decisions() {
        let p = policy();
        // (request, Ok(route host) or Err(reason))
        let cases: Vec<(Request, Result<&str, &str>)> = vec![
            (
                https("api.github.com", "/repos/acme/x"),
                Ok("api.github.com"),
            ),
            (
                https("API.GitHub.com", "/repos/acme/x"),
                Ok("api.github.com"),
            ),
            (
                https("api.github.com.", "/repos/acme/x"),
                Ok("api.github.com"),
            ),
            (https("pypi.org", "/anything/at/all"), Ok("pypi.org")),
            (
                https("upload.example.com", "/v1/put"),
                Ok("upload.example.com"),
            ),
            (https("evil.com", "/"), Err("no route for evil.com")),
            (https("github.com", "/"), Err("no route for github.com")),
            (
                https("api.github.com.evil.com", "/repos/acme/"),
                Err("no route for api.github.com.evil.com"),
            ),
            (
                https("api.github.com", "/repos/other/x"),
                Err("path /repos/other/x is not in the route's path_allowlist"),
            ),
            (
                https("api.github.com", "/repos/acme"),
                Err("path /repos/acme is not in the route's path_allowlist"),
            ),
            (
                https("api.github.com", "/repos/acme/../other/x"),
                Err("path /repos/acme/../other/x has dot segments"),
            ),
            (
                https("api.github.com", "/repos/acme/%2e%2e/other"),
                Err("path /repos/acme/%2e%2e/other has dot segments"),
            ),
            (
                https("api.github.com", "/repos/acme/%252e%252e/o"),
                Err("path /repos/acme/%252e%252e/o has dot segments"),
            ),
            (
                https("api.github.com", "/repos/acme%2F..%2Fother"),
                Err("path /repos/acme%2F..%2Fother has dot segments"),
            ),
            (
                https("api.github.com", "/repos/acme/.\\..\\x"),
                Err("path /repos/acme/.\\..\\x has dot segments"),
            ),
            (
                https("api.github.com", "/repos/acme/%00"),
                Err("path /repos/acme/%00 has dot segments"),
            ),
            (
                https("api.github.com", "/repos//acme/x"),
                Ok("api.github.com"),
            ),
            (
                https("api.github.com", "/%72epos/acme/x"),
                Ok("api.github.com"),
            ),
            (https("10.0.0.1", "/"), Err("raw IP address 10.0.0.1")),
            (https("[::1]", "/"), Err("raw IP address [::1]")),
            (
                Request {
                    port: 8443,
                    ..https("pypi.org", "/")
                },
                Err("port 8443 is not allowed"),
            ),
            (
                Request {
                    host_header: Some("evil.com"),
                    ..https("pypi.org", "/")
                },
                Err("Host 'evil.com' does not match the target pypi.org:443"),
            ),
            (
                Request {
                    host_header: Some("pypi.org:443"),
                    ..https("pypi.org", "/")
                },
                Ok("pypi.org"),
            ),
            (
                Request {
                    host_header: Some("pypi.org:444"),
                    ..https("pypi.org", "/")
                },
                Err("Host 'pypi.org:444' does not match the target pypi.org:443"),
            ),
            (
                Request {
                    scheme: Scheme::Http,
                    port: 80,
                    host: "pypi.org",
                    host_header: Some("pypi.org"),
                    path: "/simple/",
                },
                Ok("pypi.org"),
            ),
        ];
        for (req, want) in cases {
            let got = p
                .decide(&req)
                .map(|r| r.host.as_str())
                .map_err(|d| d.reason());
            assert_eq!(got, want.map_err(String::from), "{req:?}");
        }
    }

    #[test]
    fn injections_and_secrets() {
        let p = policy();
        let gh = &p.routes()[0];
        assert_eq!(
            gh.inject,
            Some(Injection {
                header: "authorization".into(),
                value: "Bearer gh-secret".into()
            })
        );
        assert_eq!(p.routes()[2].inject.as_ref().unwrap().header, "x-api-key");
        assert_eq!(p.secrets(), ["Bearer gh-secret", "gh-secret", "up-secret"]);
        assert_eq!(
            injection("basic", "user:pw").unwrap().value,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("user:pw")
            )
        );
        assert_eq!(injection("token", "x"), None);
        assert!(!format!("{:?}", describe(p.routes())).contains("secret"));
    }

    #[test]
    fn a_route_whose_token_is_missing_has_no_injection() {
        let mut config = EgressConfig {
            listen: 3128,
            routes: vec![],
            trust_upstream_ca: vec![],
        };
        config.routes.push(RouteConfig {
            host: "a.com".into(),
            path_allowlist: vec![],
            auth: Some(AuthConfig {
                scheme: "bearer".into(),
                token: "t9".into(),
            }),
            role: None,
            ..Default::default()
        });
        assert_eq!(
            Policy::new(&config, &Tokens::new()).unwrap().routes()[0].inject,
            None
        );
    }

    #[test]
    fn denial_bodies_name_the_tool() {
        let body = Denial::UnknownHost("evil.com".into()).body("https://evil.com/x");
        assert!(
            body.contains("`pipelock-block` with failed_url \"https://evil.com/x\""),
            "{body}"
        );
        let body = Denial::PathNotAllowed {
            host: "a.com".into(),
            path: "/x".into(),
        }
        .body("https://a.com/x");
        assert!(
            body.contains("`egress-block` with host \"a.com\""),
            "{body}"
        );
    }
}
