//! Request paths on routes with a `path_allowlist`, pure.
//!
//! Upstream servers read paths in different ways: Tomcat and Spring strip
//! `;parameters` from each segment (so `/ok/..;/x` is `/ok/../x` there),
//! some decode `%2F` into a separator and others do not, IIS reads `\` as
//! `/`, many collapse `//`, a few decode twice. A path passes an allowlist
//! only if every such reading of it stays inside an allowed prefix, so the
//! proxy checks a canonical form and forwards exactly that form:
//!
//! - escapes of unreserved characters are decoded (`%72` is `r`, `%2e` is
//!   `.`), other escapes are kept with upper-case hex;
//! - empty segments are dropped (`//` becomes `/`);
//! - anything a server could read as structure is refused rather than
//!   guessed at: dot segments, `;` (raw or `%3B`), backslashes (raw or
//!   `%5C`), an encoded `/` (`%2F`), an encoded `%` (`%25`, double
//!   encoding), control and non-ASCII bytes, and a `%` that is not an
//!   escape.

/// Why a path was refused; it completes "the path ...".
pub(crate) type Problem = &'static str;

/// The canonical form of `path` (the path alone, no query), or why there
/// is none.
pub(crate) fn canonical(path: &str) -> Result<String, Problem> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err("is not an absolute path");
    }
    let mut text = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let value = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
                _ => None,
            }
            .ok_or("has a '%' that is not a %XX escape")?;
            escaped(value, &mut text)?;
            i += 3;
            continue;
        }
        literal(b)?;
        text.push(b as char);
        i += 1;
    }
    let segments: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| s.bytes().all(|b| b == b'.')) {
        return Err("has a dot segment ('.' or '..', maybe encoded)");
    }
    let mut out = String::with_capacity(text.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || text.ends_with('/') {
        out.push('/');
    }
    Ok(out)
}

/// Whether the canonical `path` is under one of the allowlist's prefixes.
pub(crate) fn allowed(path: &str, allowlist: &[String]) -> bool {
    allowlist
        .iter()
        .any(|prefix| path.starts_with(prefix.as_str()))
}

/// A raw byte of the path.
fn literal(b: u8) -> Result<(), Problem> {
    match b {
        b';' => Err("has a ';' path parameter, which servers such as Tomcat strip before routing"),
        b'\\' => Err("has a backslash, which some servers read as '/'"),
        b'#' => Err("has a '#'"),
        0..=0x20 | 0x7f => Err("has a control character or a space"),
        0x80.. => Err(
            "has a non-ASCII byte; percent-encode it, or ask for a route without a path_allowlist",
        ),
        _ => Ok(()),
    }
}

/// The byte a `%XX` escape stands for: decoded, kept, or refused.
fn escaped(value: u8, out: &mut String) -> Result<(), Problem> {
    match value {
        b'/' => Err("has an encoded '/' (%2F), which some servers read as a separator"),
        b'\\' => Err("has an encoded backslash (%5C), which some servers read as '/'"),
        b';' => Err("has an encoded ';' (%3B), which some servers read as a path parameter"),
        b'%' => Err("has an encoded '%' (%25): double encoding"),
        0..=0x1f | 0x7f => Err("has an encoded control character"),
        0x80.. => Err("has an encoded non-ASCII byte; ask for a route without a path_allowlist"),
        v if v.is_ascii_alphanumeric() || b"-._~".contains(&v) => {
            out.push(v as char);
            Ok(())
        }
        v => {
            out.push('%');
            out.push(HEX[usize::from(v >> 4)] as char);
            out.push(HEX[usize::from(v & 0xf)] as char);
            Ok(())
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        // (path as sent, Ok(what is checked and forwarded) or Err(part of the reason))
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("/", Ok("/")),
            ("//", Ok("/")),
            ("/repos/acme/x", Ok("/repos/acme/x")),
            ("/repos/acme/x/", Ok("/repos/acme/x/")),
            ("/repos//acme///x", Ok("/repos/acme/x")),
            ("/%72epos/acme/x", Ok("/repos/acme/x")),
            ("/repos/acme/a%20b", Ok("/repos/acme/a%20b")),
            ("/repos/acme/a%3ab", Ok("/repos/acme/a%3Ab")),
            ("/repos/acme/a%7e", Ok("/repos/acme/a~")),
            (
                "/repos/acme/@scope:x+y=z,w",
                Ok("/repos/acme/@scope:x+y=z,w"),
            ),
            (
                "/repos/acme/v1.2/file.tar.gz",
                Ok("/repos/acme/v1.2/file.tar.gz"),
            ),
            ("/repos/acme/..x/.y", Ok("/repos/acme/..x/.y")),
            ("repos/acme", Err("absolute")),
            ("*", Err("absolute")),
            ("/repos/acme/../other", Err("dot segment")),
            ("/repos/acme/./x", Err("dot segment")),
            ("/repos/acme/...", Err("dot segment")),
            ("/repos/acme/..", Err("dot segment")),
            ("/repos/acme/%2e%2e/other", Err("dot segment")),
            ("/repos/acme/%2E./other", Err("dot segment")),
            ("/ok/..;/nope/", Err("';'")),
            ("/ok/..;jsessionid=1/nope/", Err("';'")),
            ("/ok;x/", Err("';'")),
            ("/ok/..%3b/nope/", Err("%3B")),
            ("/ok/..%3B/nope/", Err("%3B")),
            ("/repos/acme%2F..%2Fother", Err("%2F")),
            ("/repos/acme%2fx", Err("%2F")),
            ("/repos/acme/.\\..\\x", Err("backslash")),
            ("/repos/acme\\..\\x", Err("backslash")),
            ("/repos/acme/%5c..%5cx", Err("%5C")),
            ("/repos/acme/%252e%252e/o", Err("%25")),
            ("/repos/acme/%25", Err("%25")),
            ("/repos/acme/%00", Err("control")),
            ("/repos/acme/%0a", Err("control")),
            ("/repos/acme/%c0%af", Err("non-ASCII")),
            ("/repos/acme/%e2%80%a5", Err("non-ASCII")),
            ("/repos/acme/\u{ff0f}..", Err("non-ASCII")),
            ("/repos/acme/%", Err("not a %XX")),
            ("/repos/acme/%2", Err("not a %XX")),
            ("/repos/acme/%zz", Err("not a %XX")),
            ("/repos/acme/%u002f", Err("not a %XX")),
            ("/repos/acme/a b", Err("space")),
            ("/repos/acme/a\tb", Err("control")),
            ("/repos/acme/#x", Err("'#'")),
        ];
        for (path, want) in cases {
            match (canonical(path), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{path}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{path}: {got}"),
                (got, want) => panic!("{path}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn canonical_is_stable() {
        for path in ["/a//b/", "/%72/%3a", "/x/%7E/y", "/"] {
            let once = canonical(path).unwrap();
            assert_eq!(canonical(&once).unwrap(), once, "{path}");
        }
    }

    #[test]
    fn prefixes() {
        let list = vec!["/repos/acme/".to_owned(), "/v1".to_owned()];
        assert!(allowed("/repos/acme/x", &list));
        assert!(allowed("/v1/messages", &list));
        assert!(!allowed("/repos/acme", &list));
        assert!(!allowed("/repos/other/x", &list));
    }
}
