//! A bottle's `limits`: memory, processes and CPUs of its agent container,
//! and the model tokens and US dollars it may use.

use serde_json::Value;

use super::Fields;
use crate::egress::usage::price::Usd;
use crate::manifest::{Limits, ManifestError};

pub(super) const KEYS: &[&str] = &["memory", "pids", "cpus", "tokens", "spend"];
/// Below these an agent cannot do useful work; a typo is likelier.
const MIN_MEMORY: u64 = 64 << 20;
const MIN_PIDS: u64 = 32;

pub(super) fn parse(f: &Fields) -> Result<Limits, ManifestError> {
    let memory = match f.get("memory") {
        None => None,
        Some(v) => {
            let bytes = match v {
                Value::String(s) => parse_bytes(s),
                Value::Number(n) => n.as_u64(),
                _ => None,
            };
            match bytes {
                Some(b) if b >= MIN_MEMORY => Some(b),
                Some(_) => {
                    return Err(f.invalid(
                        "memory",
                        format!("{v} is less than 64m"),
                        Some("an agent needs at least \"64m\"; most want \"2g\" or more".into()),
                    ));
                }
                None => {
                    return Err(f.invalid(
                        "memory",
                        format!("{v} is not an amount of memory"),
                        Some("write a number of bytes with a unit, e.g. \"512m\" or \"4g\"".into()),
                    ));
                }
            }
        }
    };
    let pids = number(
        f,
        "pids",
        |v| {
            v.as_u64()
                .filter(|n| *n >= MIN_PIDS)
                .and_then(|n| u32::try_from(n).ok())
        },
        &format!("a process count of at least {MIN_PIDS}"),
        "e.g. \"pids\": 1024",
    )?;
    let cpus = number(
        f,
        "cpus",
        |v| v.as_f64().filter(|n| n.is_finite() && *n >= 0.01),
        "a number of CPUs",
        "e.g. \"cpus\": 1.5 (at least 0.01)",
    )?;
    let tokens = number(
        f,
        "tokens",
        |v| v.as_u64().filter(|n| *n > 0),
        "a number of tokens",
        "e.g. \"tokens\": 2000000 (every input and output token the model APIs report)",
    )?;
    let spend = number(
        f,
        "spend",
        |v| v.as_f64().and_then(Usd::from_dollars),
        "a budget in US dollars",
        "e.g. \"spend\": 5 or 2.50 (a number of US dollars, more than 0, whole cents)",
    )?;
    Ok(Limits {
        memory,
        pids,
        cpus,
        tokens,
        spend,
    })
}

/// `key`'s value as `read` takes it, if set; one it refuses is an error
/// saying it is not `what`, with `hint`.
fn number<T>(
    f: &Fields,
    key: &str,
    read: impl Fn(&Value) -> Option<T>,
    what: &str,
    hint: &str,
) -> Result<Option<T>, ManifestError> {
    let Some(v) = f.get(key) else {
        return Ok(None);
    };
    read(v)
        .map(Some)
        .ok_or_else(|| f.invalid(key, format!("{v} is not {what}"), Some(hint.into())))
}

/// `512m`, `4g`, `1.5g`, `1048576` (docker's units: b, k, m, g, binary).
pub(super) fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| !r.is_empty()).unwrap_or(&t);
    let (number, unit) = match t.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 'b'),
    };
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => return None,
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let bytes = value * (1u64 << shift) as f64;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_amounts() {
        let cases = [
            ("512m", Some(512 << 20)),
            ("4G", Some(4 << 30)),
            ("4gb", Some(4 << 30)),
            ("1.5g", Some(1536 << 20)),
            ("1024", Some(1024)),
            ("64k", Some(64 << 10)),
            ("", None),
            ("g", None),
            ("4t", None),
            ("-1m", None),
            ("1e400g", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_bytes(text), want, "{text}");
        }
    }
}
