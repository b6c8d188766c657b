//! DLP: secrets that must not leave the bottle, found in URLs, headers and
//! bodies before anything goes upstream.
//!
//! Two kinds of secret: well-known token shapes (API keys of the big
//! providers, private key blocks, JWTs; see `shapes`), and the bottle's own
//! injected tokens, matched literally in the forms they are most often
//! written in: raw, base64 (both alphabets, at any byte offset), hex and
//! percent-encoding.
//!
//! An agent can wrap a secret in encodings, so a text is scanned as it is
//! and as decoded views of it: escapes taken off (percent, JSON and other
//! backslash forms, HTML references) and invisible or look-alike
//! characters folded (see `unescape`), then the runs of base64, base32,
//! hex and decimal bytes in that decoded at every alignment (see `runs`),
//! what is
//! compressed in what they decode to (gzip, zlib, raw deflate, zstd; see
//! `inflate`) decompressed, and the same again on all of those, a few
//! layers deep. Every decoded view is no larger than the text it comes
//! from, and all of them together are capped at a multiple of it; what is
//! decompressed is scanned piece by piece, as a streamed body is, and
//! capped in all at the same multiple or 1 MiB. A text that would need
//! more is reported "unscannable" rather than let through (an answer
//! scanned for the bottle's own secrets is not cut off for a compressed
//! stream that goes past the cap). A clean text (no escapes, no long
//! base64, base32 or hex runs) costs a few quick passes over its bytes and
//! no copy.
//!
//! A body too large to buffer is scanned as it streams, with a window that
//! carries a match, encoded or not, across chunks.

mod inflate;
mod runs;
mod shapes;
mod unescape;

use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use inflate::{Inflater, Starts};
use runs::Runs;
use shapes::Shapes;

/// What was found; never the secret itself, so it can be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The shape's name ("anthropic-api-key", "jwt"…), "injected-secret"
    /// for the bottle's own, or "unscannable" for a text encoded over and
    /// over past what the scanner decodes.
    pub(crate) kind: &'static str,
    /// How it was written, the outermost layer: "raw", "url", "json",
    /// "html", "unicode" (invisible or look-alike characters), "base64",
    /// "base32", "hex", "decimal"; "nested" for an unscannable text.
    pub(crate) encoding: &'static str,
}

/// Secrets shorter than this are not looked for: too many false hits.
const MIN_SECRET: usize = 8;
/// Bytes of a stream kept to find a match that spans chunks: enough for a
/// secret of a kilobyte under a few layers of encoding.
const WINDOW: usize = 16 * 1024;
/// Layers of base64, base32, hex, decimal or compression decoded, one
/// inside the other.
const MAX_DEPTH: usize = 3;
/// Passes of escape decoding per layer (`%252D` is two).
const UNESCAPE_PASSES: usize = 3;
/// The decoded views of one text may add up to this many times its size
/// (plus `BUDGET_FLOOR`); past that the text is unscannable. Ordinary
/// text, base64 images and a few nested layers stay far below.
const BUDGET_FACTOR: usize = 32;
const BUDGET_FLOOR: usize = 64 * 1024;
/// What the streams compressed in a text may decompress to in all: the
/// text's budget, or this much if more; past that it is unscannable.
const INFLATE_FLOOR: usize = 1024 * 1024;

/// The budget of a text's decoded views.
fn budget(len: usize) -> usize {
    len.saturating_mul(BUDGET_FACTOR)
        .saturating_add(BUDGET_FLOOR)
}

/// Forms of the bottle's secrets in one automaton, and how each is written.
type Forms = (AhoCorasick, Vec<&'static str>);

/// Finds the bottle's secrets, and secret-shaped strings, in what leaves.
pub struct Scanner {
    shapes: Shapes,
    /// Finds compressed streams in decoded bytes.
    streams: Starts,
    /// Raw and base64 forms, and `+` for a space: letters match exactly.
    exact: Option<Forms>,
    /// Percent-encoded forms: their hex digits in either case.
    percent: Option<Forms>,
    /// Hex forms, either case; looked for only where a text has hex runs
    /// (they are made of characters base64 is full of).
    hex: Option<Forms>,
    /// Whether a secret has a space, which a form body may write as `+`
    /// or `%20`, even both in one value.
    spaced: bool,
    /// Whether a secret has non-ASCII characters, which decoded views
    /// must then keep (else only ASCII text is kept from them).
    non_ascii: bool,
}

impl Scanner {
    /// A scanner for the given secrets (ones shorter than `MIN_SECRET` are ignored).
    pub fn new(secrets: &[String]) -> Scanner {
        let (mut exact, mut percent, mut hexes) = (Vec::new(), Vec::new(), Vec::new());
        for secret in secrets
            .iter()
            .map(String::as_bytes)
            .filter(|s| s.len() >= MIN_SECRET)
        {
            add(&mut exact, secret.to_vec(), "raw");
            // A form body writes a space as `+`.
            add(&mut exact, plus_for_space(secret), "url");
            for form in base64_forms(secret) {
                add(&mut exact, form.into_bytes(), "base64");
            }
            add(&mut hexes, hex(secret).into_bytes(), "hex");
            for form in [
                percent_all(secret).into_bytes(),
                percent_reserved(secret, "%20"),
                percent_reserved(secret, "+"),
            ] {
                // Without a `%` (letters and digits only) it is the raw
                // form, which must match exactly.
                if form.contains(&b'%') {
                    add(&mut percent, form, "url");
                }
            }
        }
        Scanner {
            shapes: Shapes::new(),
            streams: Starts::new(),
            exact: automaton(exact, false),
            percent: automaton(percent, true),
            hex: automaton(hexes, true),
            spaced: secrets
                .iter()
                .any(|s| s.len() >= MIN_SECRET && s.contains(' ')),
            non_ascii: secrets
                .iter()
                .any(|s| s.len() >= MIN_SECRET && !s.is_ascii()),
        }
    }

    /// Scans one whole value: a header, a buffered body. Known shapes and
    /// the bottle's own secrets, as written and decoded.
    pub fn scan(&self, haystack: &[u8]) -> Option<Finding> {
        self.walk(haystack, false)
    }

    /// Looks for the bottle's own secrets only (not the known token
    /// shapes), as written and decoded: what an upstream's response must
    /// never hand back.
    pub(crate) fn scan_own(&self, haystack: &[u8]) -> Option<Finding> {
        if !self.has_own() {
            return None;
        }
        self.walk(haystack, true)
    }

    /// Whether the bottle has secrets of its own to look for.
    pub(crate) fn has_own(&self) -> bool {
        self.exact.is_some()
    }

    /// Scans a URL (path and query, or an authority) as `scan` does;
    /// percent-encoding is among the escapes it takes off.
    pub(crate) fn scan_url(&self, url: &str) -> Option<Finding> {
        self.scan(url.as_bytes())
    }

    /// A scan of a body that arrives in chunks.
    pub fn stream(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            own_only: false,
            tail: Vec::new(),
        }
    }

    #[cfg(test)]
    /// A chunked scan for the bottle's own secrets only, as `scan_own`.
    pub(crate) fn stream_own(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            own_only: true,
            tail: Vec::new(),
        }
    }

    fn walk(&self, text: &[u8], own_only: bool) -> Option<Finding> {
        Walk {
            scanner: self,
            own_only,
            budget: budget(text.len()),
            inflate_left: budget(text.len()).max(INFLATE_FLOOR),
            inflater: None,
        }
        .view(text, "raw", 0)
    }

    /// The bottle's own secrets in one view, and how they were written;
    /// hex forms only if the view has `hex_runs`.
    fn find_own(&self, text: &[u8], hex_runs: bool) -> Option<&'static str> {
        let hex = self.hex.as_ref().filter(|_| hex_runs);
        [self.exact.as_ref(), self.percent.as_ref(), hex]
            .into_iter()
            .flatten()
            .find_map(|(ac, encodings)| ac.find(text).map(|m| encodings[m.pattern().as_usize()]))
    }
}

/// One scan: a text, its decoded views, and what is left of the budget.
struct Walk<'a> {
    scanner: &'a Scanner,
    own_only: bool,
    budget: usize,
    /// Bytes compressed streams may still decompress to.
    inflate_left: usize,
    /// Made at the first compressed stream, then reused.
    inflater: Option<Inflater>,
}

impl Walk<'_> {
    /// Scans `text` (written as `how`), its unescaped form, then what the
    /// base64, base32, hex and decimal runs in that decode to, and what is
    /// compressed in those, depth first.
    fn view(&mut self, text: &[u8], how: &'static str, depth: usize) -> Option<Finding> {
        // Hex forms of own secrets are looked for where there are hex runs.
        let hex_forms = self.scanner.hex.is_some();
        let mut hex_runs = hex_forms && runs::has_hex_run(text);
        if let Some(f) = self.check(text, how, hex_runs) {
            return Some(f);
        }
        let mut how = how;
        let mut unescaped: Option<Vec<u8>> = None;
        for _ in 0..UNESCAPE_PASSES {
            let current = unescaped.as_deref().unwrap_or(text);
            let Some((next, layer)) = unescape::unescape(current) else {
                break;
            };
            if let Some(f) = self.spend(next.len()) {
                return Some(f);
            }
            how = outer(how, layer);
            hex_runs = hex_forms && runs::has_hex_run(&next);
            if let Some(f) = self.check(&next, how, hex_runs) {
                return Some(f);
            }
            unescaped = Some(next);
        }
        if depth >= MAX_DEPTH {
            return None;
        }
        let text = unescaped.as_deref().unwrap_or(text);
        let decoders = [
            (
                runs::has_base64_run(text),
                Runs::base64 as fn(&[u8]) -> Runs,
                "base64",
            ),
            (runs::has_base32_run(text), Runs::base32, "base32"),
            (runs::has_decimal_run(text), Runs::decimal, "decimal"),
            (
                hex_runs || (!hex_forms && runs::has_hex_run(text)),
                Runs::hex,
                "hex",
            ),
        ];
        let (mut scratch, mut decoded) = (Vec::new(), Vec::new());
        let non_ascii = self.scanner.non_ascii;
        for (_, find, layer) in decoders.into_iter().filter(|(needed, _, _)| *needed) {
            let runs = find(text);
            let how = outer(how, layer);
            for skip in (0..runs.alignments()).take_while(|_| !runs.is_empty()) {
                let mut found = None;
                runs.decode_into(skip, non_ascii, &mut scratch, &mut decoded, |bytes| {
                    if found.is_none() {
                        found = self.compressed(bytes, how, depth + 1);
                    }
                });
                if found.is_some() {
                    return found;
                }
                if decoded.is_empty() {
                    continue;
                }
                if let Some(f) = self.spend(decoded.len()) {
                    return Some(f);
                }
                if let Some(f) = self.view(&decoded, how, depth + 1) {
                    return Some(f);
                }
            }
        }
        None
    }

    /// The streams compressed in `bytes` (what one run decoded to, a
    /// layer at `depth`), decompressed piece by piece and scanned as a
    /// streamed body is: the text in each piece, with the end of the
    /// pieces before it (so a secret cut between two is seen whole), is a
    /// view one layer deeper, with a budget of its own. What they all
    /// decompress to is bounded by `inflate_left`.
    fn compressed(&mut self, bytes: &[u8], how: &'static str, depth: usize) -> Option<Finding> {
        if depth >= MAX_DEPTH || bytes.is_empty() {
            return None;
        }
        let non_ascii = self.scanner.non_ascii;
        for (at, format) in self.scanner.streams.find(bytes, non_ascii) {
            let mut inflater = self.inflater.take().unwrap_or_else(Inflater::new);
            let (mut carry, mut view, mut found) = (Vec::new(), Vec::new(), None);
            inflater.each_piece(&bytes[at..], format, &mut |piece| {
                let Some(left) = self.inflate_left.checked_sub(piece.len()) else {
                    // An answer is scanned for the credential an upstream
                    // would echo, which no echo compresses past the
                    // bound: the rest of the stream is let be there.
                    found = (!self.own_only).then_some(TOO_DEEP);
                    return ControlFlow::Break(());
                };
                carry.extend_from_slice(piece);
                view.clear();
                runs::text_only(&carry, &mut view, non_ascii);
                let mut piece_walk = Walk {
                    scanner: self.scanner,
                    own_only: self.own_only,
                    budget: budget(view.len()),
                    inflate_left: left,
                    inflater: None,
                };
                found = piece_walk.view(&view, how, depth + 1);
                self.inflate_left = piece_walk.inflate_left;
                carry.drain(..carry.len().saturating_sub(WINDOW));
                match found {
                    Some(_) => ControlFlow::Break(()),
                    None => ControlFlow::Continue(()),
                }
            });
            self.inflater = Some(inflater);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Known shapes (unless `own_only`) and the bottle's own secrets in
    /// one view; hex forms of those only if it has `hex_runs`.
    fn check(&mut self, text: &[u8], how: &'static str, hex_runs: bool) -> Option<Finding> {
        if !self.own_only
            && let Some(kind) = self.scanner.shapes.find(text)
        {
            return Some(Finding {
                kind,
                encoding: how,
            });
        }
        if let Some(form) = self.scanner.find_own(text, hex_runs) {
            return Some(Finding {
                kind: "injected-secret",
                encoding: outer(how, form),
            });
        }
        if self.scanner.spaced && text.contains(&b'+') {
            let spaces: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            if let Some(f) = self.spend(spaces.len()) {
                return Some(f);
            }
            if self.scanner.find_own(&spaces, false).is_some() {
                return Some(Finding {
                    kind: "injected-secret",
                    encoding: outer(how, "url"),
                });
            }
        }
        None
    }

    /// Takes `bytes` of decoded view from the budget; a finding once it
    /// is spent.
    fn spend(&mut self, bytes: usize) -> Option<Finding> {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                None
            }
            None => Some(TOO_DEEP),
        }
    }
}

/// The kind of a finding in a text encoded or compressed past what the
/// scanner decodes: refused, since what it hides cannot be seen.
pub(crate) const UNSCANNABLE: &str = "unscannable";

const TOO_DEEP: Finding = Finding {
    kind: UNSCANNABLE,
    encoding: "nested",
};

/// The name of an encoding seen through `outside`: the outermost layer.
fn outer(outside: &'static str, inside: &'static str) -> &'static str {
    if outside == "raw" { inside } else { outside }
}

fn automaton(patterns: Vec<(Vec<u8>, &'static str)>, caseless: bool) -> Option<Forms> {
    if patterns.is_empty() {
        return None;
    }
    let (needles, encodings): (Vec<Vec<u8>>, Vec<&'static str>) = patterns.into_iter().unzip();
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(caseless)
        .match_kind(MatchKind::LeftmostFirst)
        .build(&needles)
        .ok()
        .map(|ac| (ac, encodings))
}

/// A scan over a body that arrives in chunks.
pub struct StreamScan<'a> {
    scanner: &'a Scanner,
    own_only: bool,
    tail: Vec<u8>,
}

impl StreamScan<'_> {
    /// Scans a chunk together with the end of the previous ones, decoded
    /// views included: an encoded secret split between chunks is found in
    /// the chunk that completes it. Memory: the last `WINDOW` bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Option<Finding> {
        if self.own_only && !self.scanner.has_own() {
            return None;
        }
        let mut buf = std::mem::take(&mut self.tail);
        buf.extend_from_slice(chunk);
        let found = self.scanner.walk(&buf, self.own_only);
        let keep = buf.len().saturating_sub(WINDOW);
        buf.drain(..keep);
        self.tail = buf;
        found
    }
}

/// The base64 text of `secret` as it appears inside a longer encoded
/// string, at each of the three byte offsets, in both alphabets: only the
/// characters every one of its bits comes from the secret.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(secret);
        let (start, end) = ((8 * offset).div_ceil(6), 8 * (offset + secret.len()) / 6);
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&padded);
            if let Some(part) = encoded.get(start..end).filter(|p| p.len() >= MIN_SECRET)
                && !forms.iter().any(|f| f == part)
            {
                forms.push(part.to_owned());
            }
        }
    }
    forms
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every byte as `%xx`.
fn percent_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02x}")).collect()
}

/// Only the bytes a URL encoder must encode as `%xx`; the rest as they
/// are, and a space as `space` (`%20`, or `+` in a form body).
fn percent_reserved(bytes: &[u8], space: &str) -> Vec<u8> {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push_str(space);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out.into_bytes()
}

/// A secret as a form body writes it: spaces as `+`.
fn plus_for_space(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b == b' ' { b'+' } else { b })
        .collect()
}

/// Adds a form of a secret unless the list has it already.
fn add(list: &mut Vec<(Vec<u8>, &'static str)>, form: Vec<u8>, how: &'static str) {
    if !list.iter().any(|(f, _)| *f == form) {
        list.push((form, how));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    const SECRET: &str = "s3cr3t-Token/with+chars=";

    fn scanner() -> Scanner {
        Scanner::new(&[SECRET.to_owned(), "short".to_owned()])
    }

    fn kind(s: &Scanner, text: &str) -> Option<(&'static str, &'static str)> {
        s.scan(text.as_bytes()).map(|f| (f.kind, f.encoding))
    }

    /// Deterministic key-like text.
    fn random(seed: u64, n: usize, alphabet: &[u8]) -> String {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                alphabet[(x % alphabet.len() as u64) as usize] as char
            })
            .collect()
    }

    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const KEYCHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const WORDCHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    const UPPERDIGIT: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// One realistic key per known shape.
    fn known_keys() -> Vec<(&'static str, String)> {
        vec![
            (
                "anthropic-api-key",
                format!("sk-ant-api03-{}AA", random(1, 93, KEYCHARS)),
            ),
            ("openai-api-key", format!("sk-proj-{}", random(2, 120, KEYCHARS))),
            (
                "openai-api-key",
                format!("sk-{}T3BlbkFJ{}", random(3, 20, ALNUM), random(4, 20, ALNUM)),
            ),
            ("github-token", format!("ghp_{}", random(5, 36, ALNUM))),
            ("github-token", format!("github_pat_11A{}", random(6, 79, WORDCHARS))),
            ("gitlab-token", format!("glpat-{}", random(7, 20, ALNUM))),
            (
                "slack-token",
                format!("xoxb-2718281828-3141592653589-{}", random(8, 24, ALNUM)),
            ),
            ("aws-access-key-id", format!("AKIA{}", random(9, 16, UPPERDIGIT))),
            ("google-api-key", format!("AIzaSy{}", random(10, 33, KEYCHARS))),
            ("stripe-key", format!("sk_live_{}", random(11, 24, ALNUM))),
            ("npm-token", format!("npm_{}", random(12, 36, ALNUM))),
            ("huggingface-token", format!("hf_{}", random(13, 34, LETTERS))),
            (
                "pypi-token",
                format!("pypi-AgEIcHlwaS5vcmc{}", random(14, 70, KEYCHARS)),
            ),
            (
                "age-secret-key",
                format!("AGE-SECRET-KEY-1{}", random(15, 58, UPPERDIGIT)),
            ),
            (
                "sendgrid-key",
                format!("SG.{}.{}", random(16, 22, KEYCHARS), random(17, 43, KEYCHARS)),
            ),
            ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----".to_owned()),
            ("private-key", "-----BEGIN RSA PRIVATE KEY-----".to_owned()),
            (
                "jwt",
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c".to_owned(),
            ),
        ]
    }

    #[test]
    fn known_shapes_in_every_context() {
        let s = Scanner::new(&[]);
        let contexts: &[fn(&str) -> String] = &[
            |k| k.to_owned(),
            |k| format!("X{k}"),
            |k| format!("7{k}"),
            |k| format!("_{k}"),
            |k| format!("-{k}"),
            |k| format!("zz{k}zz"),
            |k| format!(r#"{{"model":"m","api_key":"{k}","n":1}}"#),
            |k| format!("/v1/files?key={k}&page=2"),
            |k| format!("/upload/{k}/done"),
            |k| format!("Bearer {k}"),
            |k| format!("Basic x{k}"),
            |k| format!("session=abc; token={k}; path=/"),
            |k| format!("line one\n\tkey: '{k}'\nline three"),
        ];
        for (want, key) in known_keys() {
            for context in contexts {
                let text = context(&key);
                assert_eq!(kind(&s, &text), Some((want, "raw")), "{text}");
            }
        }
    }

    #[test]
    fn existing_positives_stay() {
        let s = Scanner::new(&[]);
        let long = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
        let positives = [
            (format!("x-api-key: sk-ant-api03-{long}"), "anthropic-api-key"),
            (format!("Bearer sk-proj-{long}"), "openai-api-key"),
            (format!("sk-{long}"), "openai-api-key"),
            (format!("token ghp_{}", "a".repeat(36)), "github-token"),
            (format!("github_pat_{}", "B".repeat(70)), "github-token"),
            (format!("glpat-{}", "x".repeat(20)), "gitlab-token"),
            (format!("xoxb-1234567890-{}", "a".repeat(12)), "slack-token"),
            (format!("xapp-1-{}", "A".repeat(12)), "slack-token"),
            (format!("key=AKIA{}", "QWERTYUIOPASDFGH"), "aws-access-key-id"),
            (format!("ASIA{}", "ZXCVBNMLKJHGFDSA"), "aws-access-key-id"),
            (format!("AIza{}", "c".repeat(35)), "google-api-key"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE".to_owned(), "private-key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----".to_owned(), "private-key"),
            ("-----BEGIN PRIVATE KEY-----".to_owned(), "private-key"),
            ("-----BEGIN PGP PRIVATE KEY BLOCK-----".to_owned(), "private-key"),
            ("key=-----BEGIN+EC+PRIVATE+KEY-----%0AMIIE".to_owned(), "private-key"),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N".to_owned(),
                "jwt",
            ),
            // Glued to a word, placeholder-style keys still count where the
            // prefix says enough.
            (format!("Xsk-ant-api03-{}", "x".repeat(90)), "anthropic-api-key"),
            (format!("Xghp_{}", "a".repeat(36)), "github-token"),
            (format!("9AKIA{}", "QWERTYUIOPASDFGH"), "aws-access-key-id"),
            (format!("_AIza{}", "c".repeat(35)), "google-api-key"),
            (format!("aglpat-{}", "x".repeat(20)), "gitlab-token"),
        ];
        for (text, want) in positives {
            assert_eq!(kind(&s, &text), Some((want, "raw")), "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_not_a_secret() {
        let s = scanner();
        let negatives = [
            "risk-management-and-task-tracking-framework-version-two",
            "bot-bottle-placeholder-anthropic-api-key",
            "task-ant-colony-simulation-with-pheromone-trails-and-more",
            "We ask-and-answer; the desk-based risk-assessment-and-mitigation-strategy-document-v2 is done.",
            "the kiosk-mode-configuration-for-the-enterprise-deployment-pipeline",
            "whisk-together-the-flour-and-the-butter-until-smooth-and-creamy",
            "550e8400-e29b-41d4-a716-446655440000",
            "task-550e8400-e29b-41d4-a716-446655440000-attachment",
            "commit 3b15623a9f1c2e4d5b6a7c8d9e0f1a2b3c4d5e6f",
            "desk-3b15623a9f1c2e4d5b6a7c8d9e0f1a2b3c4d5e6f",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "SGVsbG8sIHdvcmxkISBUaGlzIGlzIHBsYWluIHRleHQu",
            "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZy4gUmlzay1tYW5hZ2VtZW50IGFuZCB0YXNrLXRyYWNraW5nLg==",
            "integrity sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+0gQ8mfB+b0nx4/h6cJsk+oh6ZuqNmzH6dTWGlQ==",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host",
            "function a(b){return b.maskElement&&b.taskQueue.length>0?b.riskScore:null}var c=a({});",
            "const riskManagementAndTaskTrackingFrameworkVersionTwo = useTaskSkeletonLoader();",
            ".task-list-item-checkbox-container{mask-image:linear-gradient(to right,#000 80%,transparent)}",
            ".disk-usage-panel--collapsed > .risk-badge__icon-wrapper { color: #3b15623a; }",
            "ghp_ is GitHub's prefix; AKIA-not-a-key; sk- alone; AIza short",
            &format!("ghp_{}", "a".repeat(20)),
            "AKIA-not-a-key",
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----",
            "eyJhbGciOiJIUzI1NiJ9 is a header alone",
            r#"{"messages":[{"role":"user","content":"Fix the bug in src\/main.rs:\n\n```rust\nfn main() {\n    println!(\"risk-management\\n\");\n}\n```\nThanks \u2014 and \ud83d\ude00"}]}"#,
            "q=risk-management%20and%20task-tracking&lang=en&page=2+3",
            "C:\\Users\\task\\AppData\\Local\\desk-app\\settings.json",
            "&#60;div class=&quot;task-list&quot;&#62;&amp;nbsp;",
            "caf\u{e9} na\u{ef}ve \u{201C}quoted\u{201D} \u{2014} \u{4e2d}\u{6587} emoji \u{1F600}",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a",
            "s3cr3t-Token/with",
            "this is short and fine",
            "//# sourceMappingURL=data:application/json;base64,eyJ2ZXJzaW9uIjozLCJzb3VyY2VzIjpbImEuanMiXSwibmFtZXMiOltdLCJtYXBwaW5ncyI6IkFBQUEifQ==",
            "apiVersion: v1\nkind: Secret\ndata:\n  config: eyJhdXRocyI6e319\n  note: cmlzay1tYW5hZ2VtZW50LWFuZC10YXNrLXRyYWNraW5nLWZyYW1ld29yay12ZXJzaW9uLXR3bw==\n",
            // Base32 of words, and what looks like base32 but is words.
            "KRUGKIDROVUWG2ZAMJZG653OEBTG66BANJ2W24DTEBXXMZLSEB2GQZJANRQXU6JAMRXWO===",
            "SELECT ORDERS.ID, CUSTOMERS.NAME FROM ORDERS INNER JOIN CUSTOMERS ON ORDERS.CUSTOMER_ID = CUSTOMERS.ID",
            "const thisisaverylongidentifierwithoutanyuppercaseletters = anotherlongidentifierinlowercase;",
            "apple\nbanana\ncherry\ndamson\nelderberry\nfig\ngrape\nhoneydew\nkiwi\nlemon\nmango\n",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz234567",
            // Numbers that are not bytes, and bytes that are not words.
            "[0.0123, -0.4567, 0.8912, 0.3456, -0.789, 0.1234, 0.5678, 0.9012, 0.3456]",
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]",
            "version 1.2.3, build 456 789, released 2024-01-01 at 10:30",
            // Compressed words, base64-encoded (a gzip, a zlib).
            "H4sIAAAAAAACAw3JyQGAIAwEwFa2ALUaG4gQEZFEIXhVr9+ZcWEcLbqEqeglmPXG2vJeoScX2N8bvQ+8hg4l1tRnEgqcWQwkHka/WSGXooThA6tIU71PAAAA",
            "eJwNyckBgCAMBMBWtgC1GhuIEBGRRCF4Va/fmXFhHC26hKnoJZj1xtryXqEnF9jfG70PvIYOJdbUZxIKnFkMJB5Gv1khl6KE4QOFShz9",
        ];
        for text in negatives {
            assert_eq!(kind(&s, text), None, "{text}");
            assert_eq!(s.scan_own(text.as_bytes()), None, "{text}");
        }
    }

    /// One way to write a secret, the encoding it should be reported as,
    /// and a name for failures.
    type Encoder = (&'static str, &'static str, fn(&str) -> String);

    fn json_all(s: &str) -> String {
        s.encode_utf16().map(|u| format!("\\u{u:04x}")).collect()
    }

    fn json_mixed(s: &str) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| match c {
                '/' => "\\/".to_owned(),
                '-' => "\\u002D".to_owned(),
                '\\' => "\\\\".to_owned(),
                _ if i % 3 == 0 => format!("\\u{:04X}", c as u32),
                _ => c.to_string(),
            })
            .collect()
    }

    /// Every character as a Unicode tag character, in JSON surrogate pairs.
    fn json_tags(s: &str) -> String {
        s.bytes()
            .map(|b| {
                let c = 0xE0000 + u32::from(b) - 0x10000;
                format!(
                    "\\u{:04x}\\u{:04x}",
                    0xD800 + (c >> 10),
                    0xDC00 + (c & 0x3FF)
                )
            })
            .collect()
    }

    fn pct(s: &str) -> String {
        s.bytes().map(|b| format!("%{b:02x}")).collect()
    }

    fn sprinkle(s: &str, invisible: &[char]) -> String {
        s.chars()
            .enumerate()
            .flat_map(|(i, c)| [c, invisible[i % invisible.len()]])
            .collect()
    }

    /// RFC 4648 base32, upper case, padded.
    fn b32(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        for group in bytes.chunks(5) {
            let mut block = [0u8; 5];
            block[..group.len()].copy_from_slice(group);
            let v = block.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
            let symbols = (group.len() * 8).div_ceil(5);
            for i in 0..8 {
                out.push(if i < symbols {
                    ALPHABET[(v >> (35 - 5 * i) & 31) as usize] as char
                } else {
                    '='
                });
            }
        }
        out
    }

    /// A key in a text it is compressed with: written twice, so that the
    /// second is a copy of the first (a random key alone may be stored
    /// rather than compressed).
    fn config(k: &str) -> Vec<u8> {
        format!("export API_KEY={k}\nexport API_KEY_AGAIN={k}\n").into_bytes()
    }

    fn squeeze(kind: &str, text: &[u8]) -> Vec<u8> {
        use flate2::Compression;
        use std::io::Write as _;
        match kind {
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
                e.write_all(text).unwrap();
                e.finish().unwrap()
            }
            "zlib" => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::best());
                e.write_all(text).unwrap();
                e.finish().unwrap()
            }
            "deflate" => {
                let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::fast());
                e.write_all(text).unwrap();
                e.finish().unwrap()
            }
            _ => {
                ruzstd::encoding::compress_to_vec(text, ruzstd::encoding::CompressionLevel::Fastest)
            }
        }
    }

    fn wrap76(s: &str) -> String {
        s.as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn encoders() -> Vec<Encoder> {
        vec![
            ("json \\u all", "json", |k| {
                format!(r#"{{"k":"{}"}}"#, json_all(k))
            }),
            ("json mixed", "json", |k| {
                format!(r#"{{"k":"{}"}}"#, json_mixed(k))
            }),
            ("json tag surrogates", "json", |k| {
                format!(r#"["{}"]"#, json_tags(k))
            }),
            ("percent lower", "url", |k| format!("?q={}", pct(k))),
            ("percent upper", "url", |k| {
                format!("?q={}", pct(k).to_uppercase())
            }),
            ("percent some", "url", |k| {
                let some: String = k
                    .bytes()
                    .enumerate()
                    .map(|(i, b)| match b {
                        _ if !b.is_ascii_alphanumeric() || i % 4 == 1 => format!("%{b:02X}"),
                        _ => (b as char).to_string(),
                    })
                    .collect();
                format!("a=1&q={some}&b=2")
            }),
            ("percent twice", "url", |k| pct(&pct(k))),
            ("percent %u", "url", |k| {
                k.encode_utf16().map(|u| format!("%u{u:04X}")).collect()
            }),
            ("html", "html", |k| {
                k.chars().map(|c| format!("&#{};", c as u32)).collect()
            }),
            ("html hex", "html", |k| {
                k.chars().map(|c| format!("&#x{:x}", c as u32)).collect()
            }),
            ("zero-width space", "unicode", |k| {
                sprinkle(k, &['\u{200B}'])
            }),
            ("joiners, bom, soft hyphen", "unicode", |k| {
                sprinkle(
                    k,
                    &['\u{200D}', '\u{FEFF}', '\u{AD}', '\u{200C}', '\u{2060}'],
                )
            }),
            ("percent-encoded zero-width", "url", |k| {
                pct(&sprinkle(k, &['\u{200B}']))
            }),
            ("html zero-width", "html", |k| {
                k.chars().map(|c| format!("{c}&#8203;")).collect()
            }),
            ("tag characters", "unicode", |k| {
                k.bytes()
                    .filter_map(|b| char::from_u32(0xE0000 + u32::from(b)))
                    .collect()
            }),
            ("mathematical bold", "unicode", |k| {
                k.chars()
                    .map(|c| {
                        let bold = match c {
                            'A'..='Z' => 0x1D400 + (c as u32 - 'A' as u32),
                            'a'..='z' => 0x1D41A + (c as u32 - 'a' as u32),
                            '0'..='9' => 0x1D7CE + (c as u32 - '0' as u32),
                            _ => c as u32,
                        };
                        char::from_u32(bold).unwrap_or(c)
                    })
                    .collect()
            }),
            ("fullwidth", "unicode", |k| {
                k.chars()
                    .map(|c| match c {
                        '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                        _ => c,
                    })
                    .collect()
            }),
            ("base64", "base64", |k| STANDARD.encode(k)),
            ("base64 url-safe", "base64", |k| URL_SAFE.encode(k)),
            ("base64 unpadded", "base64", |k| STANDARD_NO_PAD.encode(k)),
            ("base64 in a sentence", "base64", |k| {
                format!("data: {} end", STANDARD.encode(format!("user:{k}")))
            }),
            ("base64 behind a letter", "base64", |k| {
                format!("X{}", STANDARD.encode(format!("..{k}")))
            }),
            ("base64 in a path", "base64", |k| {
                format!("/exfil/{}", URL_SAFE_NO_PAD.encode(k))
            }),
            ("base64 wrapped at 76", "base64", |k| {
                wrap76(&STANDARD.encode(format!("{}{k}", "pad ".repeat(28))))
            }),
            ("hex", "hex", |k| hex(k.as_bytes())),
            ("hex upper", "hex", |k| hex(k.as_bytes()).to_uppercase()),
            ("hex behind a digit", "hex", |k| {
                format!("a{}", hex(k.as_bytes()))
            }),
            ("hex pairs", "hex", |k| {
                k.bytes().map(|b| format!("0x{b:02X}, ")).collect()
            }),
            ("hex colons", "hex", |k| {
                k.bytes().map(|b| format!("{b:02x}:")).collect()
            }),
            ("base64 of json", "base64", |k| STANDARD.encode(json_all(k))),
            ("percent of base64", "url", |k| pct(&STANDARD.encode(k))),
            ("json of base64", "json", |k| {
                format!(r#"{{"b":"{}"}}"#, json_mixed(&STANDARD.encode(k)))
            }),
            ("json string of wrapped base64", "json", |k| {
                format!(
                    r#"{{"b":"{}"}}"#,
                    wrap76(&STANDARD.encode(format!("{}{k}", "pad ".repeat(28))))
                        .replace("\r\n", "\\n")
                        .replace('/', "\\/")
                )
            }),
            ("base64 of base64", "base64", |k| {
                STANDARD.encode(STANDARD.encode(k))
            }),
            ("hex of base64", "hex", |k| {
                hex(STANDARD.encode(k).as_bytes())
            }),
            ("base64 of hex", "base64", |k| {
                STANDARD.encode(hex(k.as_bytes()))
            }),
            ("base64 of invisible", "base64", |k| {
                URL_SAFE.encode(sprinkle(k, &['\u{200B}']))
            }),
            ("base64 of percent", "base64", |k| STANDARD.encode(pct(k))),
            ("percent of json", "url", |k| pct(&json_mixed(k))),
            ("base64 of hex of json", "base64", |k| {
                STANDARD.encode(hex(json_mixed(k).as_bytes()))
            }),
            ("decimal bytes", "decimal", |k| {
                let bytes: Vec<String> = k.bytes().map(|b| b.to_string()).collect();
                format!("[{}]", bytes.join(","))
            }),
            ("node buffer json", "decimal", |k| {
                let bytes: Vec<String> = k.bytes().map(|b| b.to_string()).collect();
                format!(r#"{{"type":"Buffer","data":[{}]}}"#, bytes.join(", "))
            }),
            ("decimal of gzip", "decimal", |k| {
                let bytes: Vec<String> = squeeze("gzip", &config(k))
                    .iter()
                    .map(|b| b.to_string())
                    .collect();
                bytes.join(" ")
            }),
            ("base32", "base32", |k| b32(k.as_bytes())),
            ("base32 lower unpadded", "base32", |k| {
                b32(k.as_bytes()).trim_end_matches('=').to_lowercase()
            }),
            ("base32 behind a letter", "base32", |k| {
                format!("Q{}", b32(format!("..{k}").as_bytes()))
            }),
            ("base32 in a sentence", "base32", |k| {
                format!("token {} end", b32(format!("user:{k}").as_bytes()))
            }),
            ("base32 wrapped at 76", "base32", |k| {
                wrap76(&b32(format!("{}{k}", "pad ".repeat(28)).as_bytes())).replace("\r", "")
            }),
            ("base32 of base64", "base32", |k| {
                b32(STANDARD.encode(k).as_bytes())
            }),
            ("base64 of base32", "base64", |k| {
                STANDARD.encode(b32(k.as_bytes()))
            }),
            (
                "hex of base32",
                "hex",
                |k| hex(b32(k.as_bytes()).as_bytes()),
            ),
            ("base64 of gzip", "base64", |k| {
                STANDARD.encode(squeeze("gzip", k.as_bytes()))
            }),
            ("base64url of zlib", "base64", |k| {
                URL_SAFE_NO_PAD.encode(squeeze("zlib", &config(k)))
            }),
            ("base64 of raw deflate", "base64", |k| {
                STANDARD.encode(squeeze("deflate", &config(k)))
            }),
            ("base64 of zstd", "base64", |k| {
                STANDARD.encode(squeeze("zstd", &config(k)))
            }),
            ("base64 of gzip behind a letter", "base64", |k| {
                format!("X{}", STANDARD.encode(squeeze("gzip", &config(k))))
            }),
            ("base64 of gzip in a path", "base64", |k| {
                format!(
                    "/upload/v1/{}",
                    URL_SAFE_NO_PAD.encode(squeeze("gzip", &config(k)))
                )
            }),
            ("base64 of gzip of padded json", "base64", |k| {
                let body = format!(r#"{{"pad":"{}","k":"{k}"}}"#, "words and ".repeat(200));
                wrap76(&STANDARD.encode(squeeze("gzip", body.as_bytes())))
            }),
            ("base64 of two gzip members", "base64", |k| {
                let members = [
                    squeeze("gzip", b"first member "),
                    squeeze("gzip", &config(k)),
                ];
                STANDARD.encode(members.concat())
            }),
            ("hex of gzip", "hex", |k| hex(&squeeze("gzip", &config(k)))),
            ("base32 of zlib", "base32", |k| {
                b32(&squeeze("zlib", &config(k)))
            }),
            ("json of base64 of deflate", "json", |k| {
                format!(
                    r#"{{"b":"{}"}}"#,
                    json_mixed(&STANDARD.encode(squeeze("deflate", &config(k))))
                )
            }),
            ("percent of base64 of zlib", "url", |k| {
                pct(&STANDARD.encode(squeeze("zlib", &config(k))))
            }),
            ("base64 of gzip of base64", "base64", |k| {
                STANDARD.encode(squeeze("gzip", STANDARD.encode(k).as_bytes()))
            }),
            ("hex of base64 of gzip", "hex", |k| {
                hex(STANDARD.encode(squeeze("gzip", &config(k))).as_bytes())
            }),
            ("base64 of base64 of zlib", "base64", |k| {
                STANDARD.encode(STANDARD.encode(squeeze("zlib", &config(k))))
            }),
        ]
    }

    #[test]
    fn known_shapes_in_every_encoding() {
        let s = Scanner::new(&[]);
        for (want, key) in known_keys() {
            for (name, how, encode) in encoders() {
                let text = encode(&key);
                assert_eq!(
                    kind(&s, &text),
                    Some((want, how)),
                    "{want} as {name}: {text}"
                );
            }
        }
    }

    #[test]
    fn own_secrets_in_every_encoding() {
        let spaced = "correct horse battery staple";
        let s = Scanner::new(&[SECRET.to_owned(), spaced.to_owned()]);
        for secret in [SECRET, spaced] {
            for (name, how, encode) in encoders() {
                let text = encode(secret);
                let want = Some(("injected-secret", how));
                assert_eq!(kind(&s, &text), want, "{name}: {text}");
                let own = s.scan_own(text.as_bytes()).map(|f| (f.kind, f.encoding));
                assert_eq!(own, want, "own, {name}: {text}");
            }
        }
        let umlauts = "p\u{e4}ssw\u{f6}rd-\u{fc}ber-1234";
        let s2 = Scanner::new(&[umlauts.to_owned()]);
        // Tag characters only stand for ASCII.
        for (name, how, encode) in encoders()
            .into_iter()
            .filter(|(n, _, _)| !n.contains("tag"))
        {
            let text = encode(umlauts);
            let found = s2.scan_own(text.as_bytes()).map(|f| (f.kind, f.encoding));
            assert_eq!(found, Some(("injected-secret", how)), "{name}: {text}");
        }
        let quoted = r#"tok"en\with-quote"#;
        let s3 = Scanner::new(&[quoted.to_owned()]);
        let body = serde_json::json!({ "password": quoted }).to_string();
        assert_eq!(
            kind(&s3, &body),
            Some(("injected-secret", "json")),
            "{body}"
        );
        for (text, how) in [
            ("p=correct+horse+battery+staple&x=1", "url"),
            ("p=correct%20horse%20battery+staple", "url"),
        ] {
            assert_eq!(kind(&s, text), Some(("injected-secret", how)), "{text}");
        }
    }

    #[test]
    fn injected_secret_in_the_precomputed_forms() {
        let s = scanner();
        let b = SECRET.as_bytes();
        let cases = vec![
            (format!("q={SECRET}"), "raw"),
            (STANDARD.encode(b), "base64"),
            (URL_SAFE.encode(b), "base64"),
            (STANDARD.encode(format!("x{SECRET}")), "base64"),
            (STANDARD.encode(format!("xy{SECRET}")), "base64"),
            (STANDARD.encode(format!("xyz{SECRET}tail")), "base64"),
            (
                format!("Basic {}", STANDARD.encode(format!("user:{SECRET}"))),
                "base64",
            ),
            (URL_SAFE.encode(format!("ab{SECRET}")), "base64"),
            (hex(b), "hex"),
            (hex(b).to_uppercase(), "hex"),
            (percent_all(b), "url"),
            (percent_all(b).to_uppercase(), "url"),
            (
                format!(
                    "?t={}",
                    String::from_utf8_lossy(&percent_reserved(b, "%20"))
                ),
                "url",
            ),
        ];
        for (text, encoding) in cases {
            assert_eq!(
                kind(&s, &text),
                Some(("injected-secret", encoding)),
                "{text}"
            );
        }
        assert_eq!(
            kind(&s, "this is short and fine"),
            None,
            "short secrets are ignored"
        );
        assert_eq!(
            kind(&s, "s3cr3t-Token/with"),
            None,
            "a prefix is not the secret"
        );
    }

    #[test]
    fn scan_own_ignores_known_shapes() {
        let s = scanner();
        let (_, key) = &known_keys()[0];
        assert_eq!(s.scan_own(key.as_bytes()), None);
        assert!(s.scan(key.as_bytes()).is_some());
        let none = Scanner::new(&[]);
        assert!(!none.has_own());
        assert_eq!(none.scan_own(SECRET.as_bytes()), None);
        assert!(none.stream_own().feed(SECRET.as_bytes()).is_none());
    }

    #[test]
    fn urls_are_scanned_decoded() {
        let s = Scanner::new(&[]);
        let key = format!("sk-ant-api03-{}", "Z".repeat(40));
        let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
        let f = s.scan_url(&format!("/v1/x?k={encoded}")).unwrap();
        assert_eq!((f.kind, f.encoding), ("anthropic-api-key", "url"));
        let f = s.scan_url(&format!("/v1/x?k={}", pct(&pct(&key)))).unwrap();
        assert_eq!((f.kind, f.encoding), ("anthropic-api-key", "url"));
        assert_eq!(s.scan_url("/v1/messages?beta=true"), None);
        assert_eq!(s.scan_url("api.anthropic.com:443"), None);
    }

    /// Feeds `body` in chunks; the index of the first chunk with a finding.
    fn first_finding(scan: &mut StreamScan<'_>, body: &[u8], size: usize) -> Option<usize> {
        body.chunks(size).position(|c| scan.feed(c).is_some())
    }

    #[test]
    fn streams_find_encoded_secrets_across_chunks() {
        let s = scanner();
        let (_, key) = known_keys().remove(0);
        let streamed: Vec<Encoder> = encoders()
            .into_iter()
            .filter(|(name, _, _)| {
                [
                    "json mixed",
                    "percent upper",
                    "zero-width space",
                    "base64 wrapped at 76",
                    "hex pairs",
                    "base64 of json",
                    "percent of base64",
                    "base32 wrapped at 76",
                    "base64 of gzip",
                    "hex of gzip",
                ]
                .contains(name)
            })
            .collect();
        let mut cases = vec![("raw".to_owned(), key.clone(), SECRET.to_owned())];
        for (name, _, encode) in &streamed {
            cases.push((name.to_string(), encode(&key), encode(SECRET)));
        }
        for (name, key, own) in cases {
            for (secret, own_only) in [(&key, false), (&own, false), (&own, true)] {
                for size in [1, 3, 7, 1000, 4096] {
                    // Small chunks rescan the window each time: a short
                    // lead keeps the test quick.
                    let lead = if size < 100 { 300 } else { 3 * WINDOW };
                    let body = format!(
                        "{} {secret} {}",
                        "lorem ipsum ".repeat(lead / 12),
                        "x".repeat(50)
                    );
                    let end = body.find(secret.as_str()).unwrap_or(0) + secret.len();
                    let mut scan = if own_only { s.stream_own() } else { s.stream() };
                    let at = first_finding(&mut scan, body.as_bytes(), size);
                    assert!(
                        at.is_some_and(|i| i * size < end),
                        "{name}, own only {own_only}, chunks of {size}: found at {at:?}, secret ends at {end}"
                    );
                }
            }
        }
    }

    #[test]
    fn streams_keep_a_bounded_window() {
        let s = scanner();
        let mut scan = s.stream();
        assert!(scan.feed(&vec![b'x'; 3 * WINDOW]).is_none());
        assert!(scan.tail.len() <= WINDOW);
        assert!(
            scan.feed(SECRET.as_bytes()).is_some(),
            "after more than a window of clean bytes"
        );
        let body = format!("{}{SECRET}{}", "a".repeat(20_000), "b".repeat(100));
        let mut scan = s.stream();
        assert!(first_finding(&mut scan, body.as_bytes(), 20_005).is_some());
        // A secret spread wider than the window is not carried over.
        let mut scan = s.stream();
        assert!(scan.feed(&SECRET.as_bytes()[..10]).is_none());
        assert!(scan.feed(&vec![b' '; WINDOW]).is_none());
        assert!(scan.feed(&SECRET.as_bytes()[10..]).is_none());
    }

    #[test]
    fn a_large_clean_body_passes() {
        let s = scanner();
        let body: Vec<u8> = (0..4 * 1024 * 1024)
            .map(|i| b"abcdefghij klmnop\n"[i % 18])
            .collect();
        let mut scan = s.stream();
        assert!(body.chunks(64 * 1024).all(|c| scan.feed(c).is_none()));
        assert_eq!(s.scan(&body), None);
    }

    #[test]
    fn large_encoded_clean_bodies_pass() {
        let s = scanner();
        // An image upload: a JSON body around a long run of base64 of
        // random bytes.
        let noise: Vec<u8> = random(99, 768 * 1024, ALNUM)
            .bytes()
            .zip(random(98, 768 * 1024, KEYCHARS).bytes())
            .map(|(a, b)| a.wrapping_mul(31) ^ b)
            .collect();
        let image = format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"text","text":"What is in this picture?\nIt is \"risky\"."}},{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{}"}}}}]}}]}}"#,
            STANDARD.encode(&noise)
        );
        assert_eq!(kind(&s, &image), None);
        // A hex dump, base64 of base64 of prose, percent-encoded prose.
        let prose =
            "The quick brown fox jumps over the lazy dog; risk-management and task-tracking. "
                .repeat(4000);
        for text in [
            hex(&noise[..256 * 1024]),
            STANDARD.encode(STANDARD.encode(&prose)),
            pct(&prose),
            json_all(&prose[..64 * 1024]),
            b32(prose.as_bytes()),
            b32(&noise[..256 * 1024]).to_lowercase(),
            // Compressed a hundred times over, within what is decompressed.
            STANDARD.encode(squeeze("gzip", prose.as_bytes())),
            hex(&squeeze("zlib", prose.as_bytes())),
        ] {
            assert_eq!(kind(&s, &text), None, "{}", &text[..80]);
        }
        // A screenshot: a PNG whose pixels (compressed by design, some of
        // them reading as hex or base64) are not decompressed.
        let pixels: Vec<u8> = (0..1920 * 1080 * 4)
            .map(|i| {
                if i % 7680 == 0 {
                    1
                } else {
                    b"3A"[i / 40_000 % 2]
                }
            })
            .collect();
        let png = [
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x07\x80\0\0\x04\x38\x08\x06\0\0\0\0\0\0\0"
                .as_slice(),
            &(squeeze("zlib", &pixels).len() as u32).to_be_bytes(),
            b"IDAT",
            &squeeze("zlib", &pixels),
        ]
        .concat();
        let shot = format!(
            r#"{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{}"}}}}"#,
            STANDARD.encode(&png)
        );
        assert_eq!(kind(&s, &shot), None);
    }

    #[test]
    fn compression_is_bounded() {
        let s = scanner();
        let unscannable = Some(("unscannable", "nested"));
        // A bomb, small as it is sent: what it decompresses to is capped.
        let bomb = STANDARD.encode(squeeze("gzip", &vec![b'a'; 16 << 20]));
        assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
        assert_eq!(kind(&s, &format!(r#"{{"data":"{bomb}"}}"#)), unscannable);
        // Words compressed past both 32 times their size and 1 MiB.
        let words = "risk-management and task-tracking, ".repeat(60_000);
        let packed = STANDARD.encode(squeeze("zlib", words.as_bytes()));
        assert_eq!(kind(&s, &packed), unscannable);
        // An answer scanned for the bottle's own secrets only is not cut
        // off for it.
        assert_eq!(s.scan_own(bomb.as_bytes()), None);
        // The same cap holds for a streamed body, chunk by chunk.
        let mut scan = s.stream();
        let found = bomb
            .as_bytes()
            .chunks(64 * 1024)
            .find_map(|c| scan.feed(c))
            .map(|f| (f.kind, f.encoding));
        assert_eq!(found, unscannable);
    }

    #[test]
    fn the_work_is_capped() {
        let s = scanner();
        // A budget that is spent makes the text unscannable, not clean.
        let mut walk = Walk {
            scanner: &s,
            own_only: false,
            budget: 10,
            inflate_left: 10,
            inflater: None,
        };
        let text = STANDARD.encode("nothing secret in here at all, just words");
        let f = walk.view(text.as_bytes(), "raw", 0);
        assert_eq!(
            f.map(|f| (f.kind, f.encoding)),
            Some(("unscannable", "nested"))
        );
        // Layer upon layer of base64 stops decoding at the depth cap, and
        // stays within budget.
        let mut deep = "still nothing secret".to_owned();
        for _ in 0..8 {
            deep = STANDARD.encode(&deep);
        }
        assert_eq!(kind(&s, &deep), None);
        // The key under more layers than are decoded is not found; under
        // as many as are, it is.
        let (_, key) = &known_keys()[3];
        let mut wrapped = key.clone();
        for _ in 0..MAX_DEPTH {
            wrapped = STANDARD.encode(&wrapped);
        }
        assert_eq!(kind(&s, &wrapped), Some(("github-token", "base64")));
        assert_eq!(kind(&s, &STANDARD.encode(&wrapped)), None);
    }
}
