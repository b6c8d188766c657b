//! The egress policy, pure: which requests may leave, and with which
//! credential. Checked on every request, not only on CONNECT.
//!
//! - The host must match a route: exactly, ignoring case.
//! - The Host header (or the URL's authority) must agree with the target.
//! - With a `path_allowlist`, the path's canonical form (see `path`) must
//!   start with one of its entries, and that form is what goes upstream; a
//!   path an upstream could read another way is refused outright.
//! - A raw IP, or a port other than 443 (80 for plain HTTP), is refused.
//! - Only ordinary methods pass: TRACE and TRACK (which reflect the
//!   request, credential included) and unknown ones are refused.
//! - A route that adds a credential is HTTPS only: plain HTTP would carry
//!   the credential in cleartext.

use std::fmt::Write as _;
use std::net::IpAddr;

use base64::Engine as _;

use super::config::{EgressConfig, Tokens};
use super::dlp::UNSCANNABLE;
use super::path;
use crate::contract::auth;
use crate::contract::services::PROBE_HOST;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) host: String,
    pub(crate) path_allowlist: Vec<String>,
    pub(crate) inject: Option<Injection>,
    /// The port this route is served on as a base URL, for a role.
    pub(crate) role_port: Option<u16>,
    /// The host may resolve to a non-public address.
    pub(crate) allow_private_addresses: bool,
    /// Request bodies may not ask the API for server-side tools.
    pub(crate) block_server_tools: bool,
}

/// A credential header the proxy sets on a route's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Injection {
    /// Lower-case header name.
    pub(crate) header: String,
    /// The whole header value; a secret.
    pub(crate) value: String,
}

/// Headers the agent may not set itself on a route with a credential.
pub(crate) const CREDENTIAL_HEADERS: [&str; 2] = ["authorization", "proxy-authorization"];

/// The methods that may leave. TRACE and TRACK echo the request back,
/// credential included; CONNECT inside a tunnel and unknown methods have
/// no business upstream.
pub(crate) const METHODS: [&str; 17] = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
    "QUERY",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    routes: Vec<Route>,
}

/// A route table that cannot be enforced.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// A route names an auth scheme egress does not know.
    #[error("route {host}: unknown auth scheme '{scheme}'")]
    Scheme {
        /// The route's host.
        host: String,
        /// The scheme it names.
        scheme: String,
    },
}

/// How a request reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// Why a request was refused; its `body` tells the agent what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    IpTarget(String),
    Port {
        host: String,
        port: u16,
    },
    HostMismatch {
        target: String,
        header: String,
    },
    UnknownHost(String),
    PathNotAllowed {
        host: String,
        path: String,
    },
    BadPath {
        host: String,
        path: String,
        problem: path::Problem,
    },
    Method(String),
    /// Plain HTTP to a route that adds a credential.
    PlainHttp {
        host: String,
    },
    /// The host resolved to a non-public address, on a route without
    /// `allow_private_addresses`.
    PrivateAddress {
        host: String,
        addr: IpAddr,
        class: &'static str,
    },
    /// The body asks the API for a server-side tool.
    ServerTool {
        field: String,
        why: String,
    },
    /// The body cannot be checked: its encoding, its size.
    Body(String),
    Secret {
        kind: &'static str,
    },
    /// The operator froze the bottle (`bot-bottle freeze`): nothing leaves.
    Frozen,
}

impl Denial {
    /// A short reason, for the decision log.
    pub(crate) fn reason(&self) -> String {
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
            Denial::BadPath { path, problem, .. } => format!("path {path} {problem}"),
            Denial::Method(method) => format!("method {method} is not allowed"),
            Denial::PlainHttp { host } => {
                format!("plain HTTP to {host}, a route that adds a credential")
            }
            Denial::PrivateAddress { host, addr, class } => {
                format!("{host} resolves to {addr}, a non-public address ({class})")
            }
            Denial::ServerTool { field, why } => {
                format!("the body asks for a server-side tool: {field} ({why})")
            }
            Denial::Body(why) => format!("the request body {why}"),
            Denial::Secret { kind: UNSCANNABLE } => {
                "the request is encoded or compressed past what the proxy decodes to check it for secrets".to_owned()
            }
            Denial::Secret { kind } => format!("the request carries a secret ({kind})"),
            Denial::Frozen => "the operator froze this bottle".to_owned(),
        }
    }

    /// The MCP tool that asks for this to be allowed, if one can.
    pub(crate) fn tool(&self) -> Option<&'static str> {
        match self {
            // The seal's probe (`verify`): refused, never learnt.
            Denial::UnknownHost(host) if host == PROBE_HOST => None,
            Denial::UnknownHost(_) => Some("pipelock-block"),
            Denial::PathNotAllowed { .. } => Some("egress-block"),
            _ => None,
        }
    }

    /// The 403's body: what was refused and which tool to call.
    pub(crate) fn body(&self, url: &str) -> String {
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
            Denial::Secret { kind: UNSCANNABLE } => writeln!(
                out,
                "Send it with fewer layers of encoding, or less compressed, and retry."
            ),
            Denial::Secret { .. } => writeln!(
                out,
                "Secrets may not leave the bottle. Remove it from the URL, headers and body, and retry."
            ),
            Denial::IpTarget(_) | Denial::HostMismatch { .. } => {
                writeln!(out, "Use the host's name, and a plain path.")
            }
            Denial::BadPath { host, .. } => writeln!(
                out,
                "On {host} the path is checked against a path_allowlist, so it must be plain: no dot segments, ';' parameters, backslashes, encoded '/', '\\', ';' or '%', control or non-ASCII bytes. Send the path as the server should read it."
            ),
            Denial::Method(_) => writeln!(
                out,
                "Allowed methods: {}. TRACE and TRACK are refused because they echo the request, credential included.",
                METHODS.join(" ")
            ),
            Denial::PlainHttp { host } => writeln!(
                out,
                "The proxy adds a credential on {host}; it never sends one in cleartext. Use https://{host}/ instead of http://."
            ),
            Denial::PrivateAddress { host, .. } => writeln!(
                out,
                "Routes may only reach public addresses. If {host} is an internal service the bottle needs, the operator can set allow_private_addresses: true on its route."
            ),
            Denial::ServerTool { .. } => writeln!(
                out,
                "This route refuses requests that make the API reach out on the agent's behalf (remote MCP servers, web search and fetch, code execution, URL inputs). Remove that tool or field, and use the bottle's own tools instead. (Codex: set web_search = \"disabled\" in its config.)"
            ),
            Denial::Body(_) => writeln!(
                out,
                "Send the body uncompressed, or gzip/deflate/zstd compressed, and within the size limit."
            ),
            Denial::Frozen => writeln!(
                out,
                "Nothing leaves the bottle until the operator thaws it; there is nothing to ask for."
            ),
        };
        out
    }
}

/// The facts of one request that the policy decides on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) scheme: Scheme,
    /// The host the connection is for: CONNECT's, or the absolute URL's.
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    /// The Host header (or `:authority`), when the request has one.
    pub(crate) host_header: Option<&'a str>,
    /// The path as sent, without the query.
    pub(crate) path: &'a str,
}

/// A request the policy lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allowed<'a> {
    pub(crate) route: &'a Route,
    /// The path to send upstream: the canonical form that was checked, on a
    /// route with a path_allowlist; as sent otherwise.
    pub(crate) path: String,
}

impl Policy {
    pub(crate) fn new(config: &EgressConfig, tokens: &Tokens) -> Result<Policy, PolicyError> {
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
                // Entries are compared with canonical paths: make them
                // canonical too (one that cannot be stays as written, and
                // matches nothing a canonical path could be).
                path_allowlist: r
                    .path_allowlist
                    .iter()
                    .map(|p| path::canonical(p).unwrap_or_else(|_| p.clone()))
                    .collect(),
                inject,
                role_port: r.role.as_ref().map(|role| role.listen),
                allow_private_addresses: r.allow_private_addresses,
                block_server_tools: r.block_server_tools,
            });
        }
        Ok(Policy { routes })
    }

    #[cfg(test)]
    pub(crate) fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The secrets the proxy injects, which DLP must keep from leaving.
    /// Each as injected, the token alone, and the forms a JSON encoder
    /// gives them (`"`, `\\`, and `/` as PHP escapes it), for an upstream
    /// that quotes them back.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for inject in self.routes.iter().filter_map(|r| r.inject.as_ref()) {
            let mut forms = vec![inject.value.clone()];
            if let Some((_, raw)) = inject.value.split_once(' ') {
                forms.push(raw.to_owned());
            }
            for form in forms.clone() {
                let json = serde_json::to_string(&form).unwrap_or_default();
                let json = json.trim_matches('"').to_owned();
                let slashes = json.replace('/', "\\/");
                forms.extend([json, slashes]);
            }
            for form in forms {
                if !out.contains(&form) {
                    out.push(form);
                }
            }
        }
        out
    }

    /// The hosts whose routes may reach non-public addresses.
    pub(crate) fn private_hosts(&self) -> std::collections::HashSet<String> {
        self.routes
            .iter()
            .filter(|r| r.allow_private_addresses)
            .map(|r| r.host.clone())
            .collect()
    }

    pub(crate) fn route_for_port(&self, port: u16) -> Option<&Route> {
        self.routes.iter().find(|r| r.role_port == Some(port))
    }

    /// Decides on a request; Ok is the route it may take.
    pub(crate) fn decide(&self, req: &Request) -> Result<Allowed<'_>, Denial> {
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
        if !METHODS.contains(&req.method) {
            return Err(Denial::Method(req.method.to_owned()));
        }
        if req.scheme == Scheme::Http && route.inject.is_some() {
            return Err(Denial::PlainHttp { host });
        }
        let path = check_path(route, req.path)?;
        Ok(Allowed { route, path })
    }
}

/// Headers, and a query parameter, that frameworks read as the request's
/// real method (a POST that becomes a TRACE upstream).
pub(crate) const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Refuses a method override (from `METHOD_OVERRIDES` headers, or a
/// `_method` query parameter) that names a method not in `METHODS`.
pub(crate) fn check_overrides<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    query: Option<&str>,
) -> Result<(), Denial> {
    let from_query = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| percent_decode(key.as_bytes()).eq_ignore_ascii_case(b"_method"))
        .map(|(_, value)| String::from_utf8_lossy(&percent_decode(value.as_bytes())).into_owned());
    for value in headers.into_iter().map(str::to_owned).chain(from_query) {
        let method = value.trim().to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(Denial::Method(format!(
                "{} (as a method override)",
                value.trim()
            )));
        }
    }
    Ok(())
}

/// Refuses raw IPs and ports other than the scheme's default.
pub(crate) fn check_target(host: &str, port: u16, scheme: Scheme) -> Result<(), Denial> {
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

/// Checks a path against a route's allowlist; Ok is the path to forward.
pub(crate) fn check_path(route: &Route, raw: &str) -> Result<String, Denial> {
    if route.path_allowlist.is_empty() {
        return Ok(raw.to_owned());
    }
    let canonical = path::canonical(raw).map_err(|problem| Denial::BadPath {
        host: route.host.clone(),
        path: raw.to_owned(),
        problem,
    })?;
    if path::allowed(&canonical, &route.path_allowlist) {
        Ok(canonical)
    } else {
        Err(Denial::PathNotAllowed {
            host: route.host.clone(),
            path: raw.to_owned(),
        })
    }
}

/// `%XX` to bytes, repeatedly, so double encoding cannot hide a segment.
pub(crate) fn percent_decode(input: &[u8]) -> Vec<u8> {
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
pub(crate) fn split_host_port(authority: &str, default: u16) -> (&str, Option<u16>) {
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
        auth::BEARER => ("authorization".to_owned(), format!("Bearer {token}")),
        auth::BASIC => (
            "authorization".to_owned(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            ),
        ),
        _ => (
            lower
                .strip_prefix(auth::HEADER)
                .and_then(|rest| rest.strip_prefix(':'))
                .filter(|n| !n.is_empty())?
                .to_owned(),
            token.to_owned(),
        ),
    };
    Some(Injection { header, value })
}

#[cfg(test)]
/// The route table as the agent may see it: no secret, only which routes
/// carry a credential.
pub(crate) fn describe(routes: &[Route]) -> std::collections::BTreeMap<String, String> {
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
            token_budget: None,
            spend: None,
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
            method: "GET",
            scheme: Scheme::Https,
            host,
            port: 443,
            host_header: Some(host),
            path,
        }
    }

    fn http<'a>(host: &'a str, path: &'a str) -> Request<'a> {
        Request {
            scheme: Scheme::Http,
            port: 80,
            ..https(host, path)
        }
    }

    fn with_method<'a>(method: &'a str, host: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            ..https(host, path)
        }
    }

    /// A request for https://pypi.org/ whose Host header says `header`.
    fn pypi_with_host_header(header: &str) -> Request<'_> {
        Request {
            host_header: Some(header),
            ..https("pypi.org", "/")
        }
    }

    #[test]
    fn decisions() {
        let p = policy();
        let dots = "has a dot segment ('.' or '..', maybe encoded)";
        // (request, Ok((route host, path forwarded)) or Err(reason))
        type Case<'a> = (Request<'a>, Result<(&'a str, &'a str), String>);
        let cases: Vec<Case> = vec![
            (
                https("api.github.com", "/repos/acme/x"),
                Ok(("api.github.com", "/repos/acme/x")),
            ),
            (
                https("API.GitHub.com", "/repos/acme/x"),
                Ok(("api.github.com", "/repos/acme/x")),
            ),
            (
                https("api.github.com.", "/repos/acme/x"),
                Ok(("api.github.com", "/repos/acme/x")),
            ),
            (
                https("pypi.org", "/anything/at/all"),
                Ok(("pypi.org", "/anything/at/all")),
            ),
            // No allowlist: the path goes as sent, whatever it is.
            (
                https("pypi.org", "/a/..;/b//c%2F%25"),
                Ok(("pypi.org", "/a/..;/b//c%2F%25")),
            ),
            (
                https("upload.example.com", "/v1/put"),
                Ok(("upload.example.com", "/v1/put")),
            ),
            (https("evil.com", "/"), Err("no route for evil.com".into())),
            (https("github.com", "/"), Err("no route for github.com".into())),
            (
                https("api.github.com.evil.com", "/repos/acme/"),
                Err("no route for api.github.com.evil.com".into()),
            ),
            (
                https("api.github.com", "/repos/other/x"),
                Err("path /repos/other/x is not in the route's path_allowlist".into()),
            ),
            (
                https("api.github.com", "/repos/acme"),
                Err("path /repos/acme is not in the route's path_allowlist".into()),
            ),
            (
                https("api.github.com", "/repos/acme/../other/x"),
                Err(format!("path /repos/acme/../other/x {dots}")),
            ),
            (
                https("api.github.com", "/repos/acme/%2e%2e/other"),
                Err(format!("path /repos/acme/%2e%2e/other {dots}")),
            ),
            (
                https("api.github.com", "/repos/acme/..;/other/x"),
                Err("path /repos/acme/..;/other/x has a ';' path parameter, which servers such as Tomcat strip before routing".into()),
            ),
            (
                https("api.github.com", "/repos/acme/%252e%252e/o"),
                Err("path /repos/acme/%252e%252e/o has an encoded '%' (%25): double encoding".into()),
            ),
            (
                https("api.github.com", "/repos/acme%2F..%2Fother"),
                Err("path /repos/acme%2F..%2Fother has an encoded '/' (%2F), which some servers read as a separator".into()),
            ),
            (
                https("api.github.com", "/repos/acme/.\\..\\x"),
                Err("path /repos/acme/.\\..\\x has a backslash, which some servers read as '/'".into()),
            ),
            (
                https("api.github.com", "/repos/acme/%00"),
                Err("path /repos/acme/%00 has an encoded control character".into()),
            ),
            // Empty segments are collapsed, and the collapsed path is what
            // goes upstream, so the check and the upstream agree.
            (
                https("api.github.com", "/repos//acme/x"),
                Ok(("api.github.com", "/repos/acme/x")),
            ),
            (
                https("api.github.com", "//repos/acme//x/"),
                Ok(("api.github.com", "/repos/acme/x/")),
            ),
            (
                https("api.github.com", "/%72epos/acme/x"),
                Ok(("api.github.com", "/repos/acme/x")),
            ),
            (https("10.0.0.1", "/"), Err("raw IP address 10.0.0.1".into())),
            (https("[::1]", "/"), Err("raw IP address [::1]".into())),
            (
                Request {
                    port: 8443,
                    ..https("pypi.org", "/")
                },
                Err("port 8443 is not allowed".into()),
            ),
            (
                pypi_with_host_header("evil.com"),
                Err("Host 'evil.com' does not match the target pypi.org:443".into()),
            ),
            (
                pypi_with_host_header("pypi.org:443"),
                Ok(("pypi.org", "/")),
            ),
            (
                pypi_with_host_header("pypi.org:444"),
                Err("Host 'pypi.org:444' does not match the target pypi.org:443".into()),
            ),
            (
                http("pypi.org", "/simple/"),
                Ok(("pypi.org", "/simple/")),
            ),
            // Plain HTTP never carries a credential.
            (
                http("api.github.com", "/repos/acme/x"),
                Err("plain HTTP to api.github.com, a route that adds a credential".into()),
            ),
            // Methods that reflect the request, or that are unknown.
            (
                with_method("TRACE", "api.github.com", "/repos/acme/x"),
                Err("method TRACE is not allowed".into()),
            ),
            (
                with_method("TRACK", "pypi.org", "/"),
                Err("method TRACK is not allowed".into()),
            ),
            (
                with_method("CONNECT", "pypi.org", "/"),
                Err("method CONNECT is not allowed".into()),
            ),
            (
                with_method("trace", "pypi.org", "/"),
                Err("method trace is not allowed".into()),
            ),
            (
                with_method("POST", "upload.example.com", "/v1/put"),
                Ok(("upload.example.com", "/v1/put")),
            ),
        ];
        for (req, want) in cases {
            let got = p
                .decide(&req)
                .map(|a| (a.route.host.as_str(), a.path.clone()))
                .map_err(|d| d.reason());
            let want = want.map(|(h, path)| (h, path.to_owned()));
            assert_eq!(got, want, "{req:?}");
        }
    }

    #[test]
    fn method_overrides() {
        let cases: &[(&[&str], Option<&str>, bool)] = &[
            (&[], None, true),
            (&["PUT"], None, true),
            (&["delete"], Some("a=1"), true),
            (&["TRACE"], None, false),
            (&["track"], None, false),
            (&["DEBUG"], None, false),
            (&["GET", "TRACE"], None, false),
            (&[], Some("_method=TRACE"), false),
            (&[], Some("a=1&_method=trace"), false),
            (&[], Some("%5Fmethod=%54RACE"), false),
            (&[], Some("_method=PATCH"), true),
            (&[], Some("method=TRACE"), true),
        ];
        for (headers, query, ok) in cases {
            let got = check_overrides(headers.iter().copied(), *query);
            assert_eq!(got.is_ok(), *ok, "{headers:?} {query:?}: {got:?}");
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
        let quoted = EgressConfig {
            listen: 3128,
            routes: vec![RouteConfig {
                host: "a.com".into(),
                auth: Some(AuthConfig {
                    scheme: "header:x-key".into(),
                    token: "t".into(),
                }),
                ..Default::default()
            }],
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        };
        let tokens = [("t".to_owned(), r#"ab/cd"ef"#.to_owned())].into();
        assert_eq!(
            Policy::new(&quoted, &tokens).unwrap().secrets(),
            [r#"ab/cd"ef"#, r#"ab/cd\"ef"#, r#"ab\/cd\"ef"#]
        );
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
            token_budget: None,
            spend: None,
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
    fn an_unscannable_request_is_told_so() {
        let body = Denial::Secret { kind: UNSCANNABLE }.body("https://a.com/x");
        assert!(body.contains("encoded or compressed past"), "{body}");
        assert!(body.contains("fewer layers"), "{body}");
        let body = Denial::Secret { kind: "jwt" }.body("https://a.com/x");
        assert!(body.contains("carries a secret (jwt)"), "{body}");
    }

    #[test]
    fn the_seal_probe_is_refused_but_names_no_tool_to_learn() {
        let denial = Policy::default()
            .decide(&Request {
                method: "GET",
                scheme: Scheme::Http,
                host: PROBE_HOST,
                port: 80,
                host_header: Some(PROBE_HOST),
                path: "/",
            })
            .unwrap_err();
        assert_eq!(denial, Denial::UnknownHost(PROBE_HOST.into()));
        assert_eq!(denial.tool(), None);
        assert_eq!(
            Denial::UnknownHost("seal-probe.bot-bottle.invalid.evil.com".into()).tool(),
            Some("pipelock-block")
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
