//! A route of a bottle's `egress`: its host, paths, credential and role.

use serde_json::Value;

use super::{AUTH_KEYS, Fields, ROUTE_KEYS, check_env_name, suggest};
use crate::contract::auth;
use crate::manifest::{Auth, ManifestError, Place, Role, Route, Scheme};

pub(super) fn route(value: &Value, place: &Place, prefix: &str) -> Result<Route, ManifestError> {
    let f = Fields::new(value, place, prefix, ROUTE_KEYS)?;
    let host = f.required_string("host")?;
    let host = validate_host(&host).map_err(|problem| {
        let bare = bare_host_guess(&host);
        let hint =
            (!bare.is_empty() && bare != host).then(|| format!("write just the host: \"{bare}\""));
        f.invalid("host", format!("'{host}' {problem}"), hint)
    })?;
    let path_allowlist = f.list("path_allowlist")?;
    for (i, p) in path_allowlist.iter().enumerate() {
        if !p.starts_with('/') || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(f.invalid(
                &format!("path_allowlist[{i}]"),
                format!("'{p}' is not a path prefix"),
                Some("path prefixes start with '/', e.g. \"/v1/\"".into()),
            ));
        }
    }
    let role = match f.string("role")? {
        None => None,
        Some(r) => Some(
            Role::ALL
                .into_iter()
                .find(|x| x.name() == r)
                .ok_or_else(|| {
                    let names: Vec<&str> = Role::ALL.iter().map(|x| x.name()).collect();
                    f.invalid(
                        "role",
                        format!("unknown role '{r}'"),
                        Some(suggest(&r, &names, "roles")),
                    )
                })?,
        ),
    };
    let auth = match f.get("auth") {
        None => None,
        Some(a) => Some(auth(a, place, &format!("{prefix}auth."), role)?),
    };
    Ok(Route {
        host,
        path_allowlist,
        auth,
        role,
        allow_private_addresses: f.boolean("allow_private_addresses")?,
        block_server_tools: f.boolean("block_server_tools")?,
    })
}

pub(super) fn auth(
    value: &Value,
    place: &Place,
    prefix: &str,
    role: Option<Role>,
) -> Result<Auth, ManifestError> {
    let f = Fields::new(value, place, prefix, AUTH_KEYS)?;
    let token_env = f.string_or_list("token_env")?;
    if token_env.is_empty() {
        return Err(f.invalid(
            "token_env",
            "is missing".into(),
            Some(
                "name the host variable that holds the token, e.g. \"token_env\": \"GITHUB_TOKEN\""
                    .into(),
            ),
        ));
    }
    for name in &token_env {
        check_env_name(&f, "token_env", name)?;
    }
    let scheme = match f.string("scheme")? {
        Some(s) => Some(parse_scheme(&s).ok_or_else(|| {
            f.invalid(
                "scheme",
                format!("unknown scheme '{s}'"),
                Some("use bearer, basic or header:NAME".into()),
            )
        })?),
        None if role.is_some() => None,
        None => {
            return Err(f.invalid(
                "scheme",
                "is missing".into(),
                Some("use bearer, basic or header:NAME".into()),
            ));
        }
    };
    Ok(Auth { scheme, token_env })
}

pub(crate) fn parse_scheme(s: &str) -> Option<Scheme> {
    match s.to_ascii_lowercase().as_str() {
        auth::BEARER => Some(Scheme::Bearer),
        auth::BASIC => Some(Scheme::Basic),
        _ => {
            let (kind, name) = s.split_once(':')?;
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            (kind.eq_ignore_ascii_case(auth::HEADER) && !name.is_empty() && name.chars().all(token))
                .then(|| Scheme::Header(name.to_owned()))
        }
    }
}

/// Checks that `host` is a bare DNS hostname and returns it lower-cased, or
/// says what is wrong with it ("has a scheme", "has a port"…).
pub(crate) fn validate_host(host: &str) -> Result<String, &'static str> {
    if host.is_empty() {
        return Err("is empty");
    }
    if host.contains("://") {
        return Err("has a scheme: routes name a bare hostname");
    }
    if host.contains('/') {
        return Err("has a path: routes name a bare hostname (use path_allowlist for paths)");
    }
    if host.contains('[') || host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err("is an IP address: routes name hosts");
    }
    if host.contains(':') {
        return Err("has a port: routes name a bare hostname");
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("is an IP address: routes name hosts");
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err("is not a valid hostname");
    }
    if host
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("is not a valid hostname (its last label is numeric)");
    }
    Ok(host.to_ascii_lowercase())
}

/// `https://api.x.com:443/v1` → `api.x.com`, for a hint.
fn bare_host_guess(written: &str) -> String {
    let rest = written.split_once("://").map_or(written, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or("");
    rest.rsplit_once(':').map_or(rest, |(h, _)| h).to_owned()
}
