//! A bottle's `limits`: memory, processes and CPUs of its agent container.

use serde_json::Value;

use super::Fields;
use crate::manifest::{Limits, ManifestError};

pub(super) const KEYS: &[&str] = &["memory", "pids", "cpus"];
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
    let pids = match f.get("pids") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if (MIN_PIDS..=u64::from(u32::MAX)).contains(&n) => u32::try_from(n).ok(),
            _ => {
                return Err(f.invalid(
                    "pids",
                    format!("{v} is not a process count of at least {MIN_PIDS}"),
                    Some("e.g. \"pids\": 1024".into()),
                ));
            }
        },
    };
    let cpus = match f.get("cpus") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(n) if n.is_finite() && n >= 0.01 => Some(n),
            _ => {
                return Err(f.invalid(
                    "cpus",
                    format!("{v} is not a number of CPUs"),
                    Some("e.g. \"cpus\": 1.5 (at least 0.01)".into()),
                ));
            }
        },
    };
    Ok(Limits { memory, pids, cpus })
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
