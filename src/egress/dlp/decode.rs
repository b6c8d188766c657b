//! What an agent can wrap a secret in, taken off again, so the scanner
//! can look at what the bytes say rather than how they are written:
//!
//! - escapes: percent (`%2D`, `%u002D`), backslash (JSON `\u002d` with
//!   surrogate pairs, `\/`, `\\`; `\x2d`, octal, `\u{2d}`, shell-style
//!   `\-`), HTML character references (`&#45;`, `&#x2d;`, `&hyphen;`);
//! - characters that can be sprinkled into a key without showing
//!   (zero-width space and joiners, BOM, soft hyphen, bidi controls,
//!   variation selectors, lone surrogates) are dropped; Unicode tag
//!   characters (invisible ASCII), fullwidth forms and dash look-alikes
//!   become the ASCII they stand for;
//! - runs of base64 (both alphabets, padded or not, wrapped with newlines)
//!   and of hex (either case, optionally as `0x41`, `41 42`, `41:42`).
//!
//! Every function returns text no longer than its input: an escape is
//! longer than what it stands for, base64 takes four characters per three
//! bytes, hex two per byte. That keeps nested decoding bounded.

/// Runs of base64 shorter than this are not decoded (under 12 bytes).
const MIN_BASE64: usize = 16;
/// Runs of hex digits shorter than this are not decoded (under 8 bytes).
const MIN_HEX: usize = 16;
/// Separates the decoded runs in a view, so no match spans two runs.
const SEPARATOR: u8 = 0;

const URL: u8 = 1;
const JSON: u8 = 2;
const HTML: u8 = 4;
const UNICODE: u8 = 8;

/// Bytes that may start something `unescape` changes.
const TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    t[b'%' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'&' as usize] = true;
    // UTF-8 lead bytes of the characters `fold` changes.
    let leads = [0xC2, 0xCD, 0xD8, 0xE1, 0xE2, 0xE3, 0xEF, 0xF3];
    let mut i = 0;
    while i < leads.len() {
        t[leads[i]] = true;
        i += 1;
    }
    t
};

/// What one escape stands for.
enum Emit {
    Byte(u8),
    Char(u32),
    Nothing,
}

/// One pass of escape decoding and character folding; `None` if nothing
/// changed. Returns the text and how it was written ("url", "json",
/// "html" or "unicode", the first that applies).
pub(super) fn unescape(input: &[u8]) -> Option<(Vec<u8>, &'static str)> {
    let mut out = Vec::new();
    let mut copied = 0;
    let mut kinds = 0u8;
    let mut i = 0;
    while i < input.len() {
        if !TRIGGER[input[i] as usize] {
            i += 1;
            continue;
        }
        let Some((len, emit, kind)) = escape_at(input, i) else {
            i += 1;
            continue;
        };
        if kinds == 0 {
            out.reserve(input.len());
        }
        out.extend_from_slice(&input[copied..i]);
        match emit {
            Emit::Byte(b) => out.push(b),
            Emit::Char(c) => push_folded(&mut out, c),
            Emit::Nothing => {}
        }
        kinds |= kind;
        i += len;
        copied = i;
    }
    if kinds == 0 {
        return None;
    }
    out.extend_from_slice(&input[copied..]);
    let how = if kinds & URL != 0 {
        "url"
    } else if kinds & JSON != 0 {
        "json"
    } else if kinds & HTML != 0 {
        "html"
    } else {
        "unicode"
    };
    Some((out, how))
}

/// The escape or foldable character at `i`: its length, what it stands
/// for, and its kind.
fn escape_at(s: &[u8], i: usize) -> Option<(usize, Emit, u8)> {
    match s[i] {
        b'%' => percent_at(s, i).map(|(len, e)| (len, e, URL)),
        b'\\' => backslash_at(s, i).map(|(len, e)| (len, e, JSON)),
        b'&' => reference_at(s, i).map(|(len, e)| (len, e, HTML)),
        _ => {
            let (c, len) = utf8_at(s, i)?;
            match fold(c) {
                Fold::Keep => None,
                _ => Some((len, Emit::Char(c), UNICODE)),
            }
        }
    }
}

fn percent_at(s: &[u8], i: usize) -> Option<(usize, Emit)> {
    if let Some(b) = hex_value(s, i + 1, 2) {
        return Some((3, Emit::Byte(b as u8)));
    }
    // `%uXXXX`, as JavaScript's escape() writes, pairs included.
    if matches!(s.get(i + 1), Some(b'u' | b'U')) {
        let high = hex_value(s, i + 2, 4)?;
        return Some(surrogates(s, i + 6, high, b'%').unwrap_or((6, Emit::Char(high))));
    }
    None
}

fn backslash_at(s: &[u8], i: usize) -> Option<(usize, Emit)> {
    let next = *s.get(i + 1)?;
    let emit = |len, e| Some((len, e));
    match next {
        b'u' => {
            if let Some(high) = hex_value(s, i + 2, 4) {
                return Some(surrogates(s, i + 6, high, b'\\').unwrap_or((6, Emit::Char(high))));
            }
            // `\u{2d}`
            if s.get(i + 2) == Some(&b'{') {
                let digits = s[(i + 3).min(s.len())..]
                    .iter()
                    .take(7)
                    .take_while(|b| b.is_ascii_hexdigit())
                    .count();
                if (1..=6).contains(&digits) && s.get(i + 3 + digits) == Some(&b'}') {
                    let c = hex_value(s, i + 3, digits)?;
                    return emit(digits + 4, Emit::Char(c));
                }
            }
            emit(2, Emit::Byte(b'u'))
        }
        b'U' => match hex_value(s, i + 2, 8) {
            Some(c) => emit(10, Emit::Char(c)),
            None => emit(2, Emit::Byte(b'U')),
        },
        b'x' => match hex_value(s, i + 2, 2) {
            Some(b) => emit(4, Emit::Byte(b as u8)),
            None => emit(2, Emit::Byte(b'x')),
        },
        b'0'..=b'3'
            if s.get(i + 2).is_some_and(|b| (b'0'..=b'7').contains(b))
                && s.get(i + 3).is_some_and(|b| (b'0'..=b'7').contains(b)) =>
        {
            let v = (next - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0');
            emit(4, Emit::Byte(v))
        }
        b'n' => emit(2, Emit::Byte(b'\n')),
        b'r' => emit(2, Emit::Byte(b'\r')),
        b't' => emit(2, Emit::Byte(b'\t')),
        b'b' => emit(2, Emit::Byte(0x08)),
        b'f' => emit(2, Emit::Byte(0x0C)),
        b'v' => emit(2, Emit::Byte(0x0B)),
        b'0' => emit(2, Emit::Byte(0)),
        // A line continuation.
        b'\n' => emit(2, Emit::Nothing),
        b'\r' if s.get(i + 2) == Some(&b'\n') => emit(3, Emit::Nothing),
        // `\/`, `\\`, `\"`, and any other escaped ASCII stands for itself.
        b' '..=b'~' => emit(2, Emit::Byte(next)),
        _ => None,
    }
}

/// A high surrogate at `i - 6` followed by `<lead>uXXXX` with a low one.
fn surrogates(s: &[u8], i: usize, high: u32, lead: u8) -> Option<(usize, Emit)> {
    if !(0xD800..0xDC00).contains(&high) || s.get(i) != Some(&lead) {
        return None;
    }
    if !matches!(s.get(i + 1), Some(b'u' | b'U')) {
        return None;
    }
    let low = hex_value(s, i + 2, 4).filter(|l| (0xDC00..0xE000).contains(l))?;
    Some((
        12,
        Emit::Char(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)),
    ))
}

/// `&#45;`, `&#x2d;` (the `;` optional), and the named references that
/// stand for characters keys are made of.
fn reference_at(s: &[u8], i: usize) -> Option<(usize, Emit)> {
    const NAMED: &[(&[u8], u8)] = &[
        (b"&amp;", b'&'),
        (b"&lt;", b'<'),
        (b"&gt;", b'>'),
        (b"&quot;", b'"'),
        (b"&apos;", b'\''),
        (b"&sol;", b'/'),
        (b"&bsol;", b'\\'),
        (b"&hyphen;", b'-'),
        (b"&dash;", b'-'),
        (b"&minus;", b'-'),
        (b"&lowbar;", b'_'),
        (b"&UnderBar;", b'_'),
        (b"&plus;", b'+'),
        (b"&equals;", b'='),
        (b"&period;", b'.'),
        (b"&colon;", b':'),
        (b"&percnt;", b'%'),
        (b"&num;", b'#'),
    ];
    if s.get(i + 1) != Some(&b'#') {
        let rest = &s[i..];
        return NAMED
            .iter()
            .find(|(name, _)| rest.starts_with(name))
            .map(|(name, b)| (name.len(), Emit::Byte(*b)));
    }
    let (start, radix, max) = match s.get(i + 2) {
        Some(b'x' | b'X') => (i + 3, 16, 6),
        _ => (i + 2, 10, 7),
    };
    let digits = s[start.min(s.len())..]
        .iter()
        .take(max + 1)
        .take_while(|&&b| (b as char).is_digit(radix))
        .count();
    if digits == 0 || digits > max {
        return None;
    }
    let text = std::str::from_utf8(&s[start..start + digits]).ok()?;
    let c = u32::from_str_radix(text, radix).ok()?;
    let semi = usize::from(s.get(start + digits) == Some(&b';'));
    Some((start + digits + semi - i, Emit::Char(c)))
}

/// The value of `n` hex digits at `i`.
fn hex_value(s: &[u8], i: usize, n: usize) -> Option<u32> {
    let digits = s.get(i..i + n)?;
    digits
        .iter()
        .try_fold(0u32, |v, &b| Some(v << 4 | (b as char).to_digit(16)?))
}

/// The UTF-8 character at `i` and its length.
fn utf8_at(s: &[u8], i: usize) -> Option<(u32, usize)> {
    let len = match s[i] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let c = std::str::from_utf8(s.get(i..i + len)?)
        .ok()?
        .chars()
        .next()?;
    Some((c as u32, len))
}

enum Fold {
    Keep,
    Drop,
    Ascii(u8),
}

/// What a character is read as when looking for keys.
fn fold(c: u32) -> Fold {
    match c {
        // Invisible: soft hyphen, combining grapheme joiner, Arabic letter
        // mark, Hangul fillers, Khmer vowels inherent, Mongolian vowel
        // separator, zero-width space/non-joiner/joiner, direction marks
        // and embeddings, word joiner and invisible operators, BOM,
        // variation selectors, tag controls; lone surrogates from escapes.
        0xAD
        | 0x34F
        | 0x61C
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0x3164
        | 0xFE00..=0xFE0F
        | 0xFEFF
        | 0xFFA0
        | 0xD800..=0xDFFF
        | 0xE0000..=0xE001F
        | 0xE007F
        | 0xE0100..=0xE01EF => Fold::Drop,
        // Tag characters: invisible copies of ASCII.
        0xE0020..=0xE007E => Fold::Ascii((c - 0xE0000) as u8),
        // Fullwidth ASCII.
        0xFF01..=0xFF5E => Fold::Ascii((c - 0xFEE0) as u8),
        // Hyphens that look like `-` (not the en and em dashes of prose).
        0x2010..=0x2012 | 0x2212 | 0xFE63 => Fold::Ascii(b'-'),
        _ => Fold::Keep,
    }
}

fn push_folded(out: &mut Vec<u8>, c: u32) {
    match fold(c) {
        Fold::Drop => {}
        Fold::Ascii(b) => out.push(b),
        Fold::Keep => {
            let c = char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// A base64 symbol's value, both alphabets; -1 for anything else.
const BASE64: [i8; 256] = {
    let mut t = [-1i8; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as i8;
        t[b'a' as usize + i] = 26 + i as i8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as i8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'-' as usize] = 62;
    t[b'/' as usize] = 63;
    t[b'_' as usize] = 63;
    t
};

/// The runs of one alphabet in a text, as symbol values, ready to be
/// decoded at each alignment (a run may start with stray symbols, such as
/// a path before a base64 segment, or a letter put there on purpose).
pub(super) struct Runs {
    symbols: Vec<u8>,
    ends: Vec<usize>,
    bits: u32,
}

impl Runs {
    /// Runs of base64 symbols; a run goes on over line breaks and ends at
    /// padding or anything else.
    pub(super) fn base64(text: &[u8]) -> Runs {
        let mut runs = Runs {
            symbols: Vec::new(),
            ends: Vec::new(),
            bits: 6,
        };
        let mut i = 0;
        while i < text.len() {
            if BASE64[text[i] as usize] < 0 {
                i += 1;
                continue;
            }
            let start = i;
            let mut count = 0;
            while i < text.len() {
                let b = text[i];
                if BASE64[b as usize] >= 0 {
                    count += 1;
                } else if b != b'\n' && b != b'\r' {
                    break;
                }
                i += 1;
            }
            if count >= MIN_BASE64 {
                runs.symbols.extend(
                    text[start..i]
                        .iter()
                        .map(|&b| BASE64[b as usize])
                        .filter(|&v| v >= 0)
                        .map(|v| v as u8),
                );
                runs.ends.push(runs.symbols.len());
            }
        }
        runs
    }

    /// Runs of hex digits. Between whole bytes a run may go on over one or
    /// two of ` :,;-` and line breaks, and each byte may be written `0x41`.
    pub(super) fn hex(text: &[u8]) -> Runs {
        let mut runs = Runs {
            symbols: Vec::new(),
            ends: Vec::new(),
            bits: 4,
        };
        let nibble = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let prefixed = |i: usize| {
            text[i] == b'0'
                && matches!(text.get(i + 1), Some(b'x' | b'X'))
                && text.get(i + 2).copied().and_then(nibble).is_some()
        };
        let is_sep = |b: u8| b" :,;-\r\n".contains(&b);
        let mut i = 0;
        while i < text.len() {
            if nibble(text[i]).is_none() {
                i += 1;
                continue;
            }
            let start = runs.symbols.len();
            let mut token = 0;
            while i < text.len() {
                if token == 0 && prefixed(i) {
                    i += 2;
                }
                if let Some(v) = nibble(text[i]) {
                    runs.symbols.push(v);
                    token += 1;
                    i += 1;
                    continue;
                }
                // A separator between whole bytes, then more digits.
                let seps = text[i..].iter().take(3).take_while(|&&b| is_sep(b)).count();
                let resumes = (1..=2).contains(&seps)
                    && text.get(i + seps).copied().and_then(nibble).is_some();
                if token > 0 && token % 2 == 0 && resumes {
                    i += seps;
                    token = 0;
                    continue;
                }
                break;
            }
            if runs.symbols.len() - start >= MIN_HEX {
                runs.ends.push(runs.symbols.len());
            } else {
                runs.symbols.truncate(start);
            }
        }
        runs
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// How many alignments a run can have: 4 symbols of base64 make whole
    /// bytes, 2 of hex.
    pub(super) fn alignments(&self) -> usize {
        if self.bits == 6 { 4 } else { 2 }
    }

    /// Every run decoded from its `skip`th symbol, runs separated by a NUL.
    pub(super) fn decode(&self, skip: usize) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.symbols.len() * self.bits as usize / 8 + self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            let (mut acc, mut held) = (0u32, 0u32);
            for &v in &self.symbols[(start + skip).min(end)..end] {
                acc = (acc << self.bits | u32::from(v)) & 0xFFFF;
                held += self.bits;
                if held >= 8 {
                    held -= 8;
                    out.push((acc >> held) as u8);
                }
            }
            out.push(SEPARATOR);
            start = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    fn unescaped(s: &str) -> String {
        let (out, _) = unescape(s.as_bytes()).unwrap_or((s.as_bytes().to_vec(), "none"));
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn escapes_are_taken_off() {
        let cases = [
            (r"sk\u002dant\u002Dapi", "sk-ant-api", "json"),
            (r#"a\/b\\c\"d"#, "a/b\\c\"d", "json"),
            (r"line\nnext\ttab", "line\nnext\ttab", "json"),
            (r"\ud83d\ude00!", "\u{1F600}!", "json"),
            (r"\x73\x6B\055", "sk-", "json"),
            (r"\u{2d}\U0000002d", "--", "json"),
            (r"s\k\-a\n", "sk-a\n", "json"),
            ("sk%2dant%2D", "sk-ant-", "url"),
            ("%u0073%u006B", "sk", "url"),
            ("a+b%20c", "a+b c", "url"),
            ("&#115;&#x6b;&#X2D&hyphen;&amp;", "sk--&", "html"),
            (
                "s\u{200B}k\u{200D}-\u{FEFF}a\u{AD}n\u{2060}t",
                "sk-ant",
                "unicode",
            ),
            ("\u{E0073}\u{E006B}\u{E002D}", "sk-", "unicode"),
            ("ｓｋ－ａｎｔ", "sk-ant", "unicode"),
            ("sk\u{2011}ant\u{2212}", "sk-ant-", "unicode"),
            (r"s\u200bk", "sk", "json"),
            (r"\udb40\udc73k", "sk", "json"),
            ("%5Cu002d", r"\u002d", "url"),
        ];
        for (input, want, how) in cases {
            let (out, got_how) = unescape(input.as_bytes()).expect(input);
            assert_eq!(
                (String::from_utf8_lossy(&out).as_ref(), got_how),
                (want, how),
                "{input}"
            );
            assert!(out.len() <= input.len(), "{input}");
        }
    }

    #[test]
    fn plain_text_is_left_alone() {
        for text in [
            "plain text, 100% sure & done; C:\\ is a path",
            "caf\u{e9} \u{201C}quoted\u{201D} \u{2014} na\u{ef}ve \u{4e2d}\u{6587}",
            "%zz %4 &#; &# &nbsp; \\",
            "",
        ] {
            assert_eq!(unescaped(text), text.replace("C:\\ ", "C: "), "{text}");
        }
        assert!(unescape(b"no escapes at all").is_none());
        assert!(unescape("caf\u{e9} \u{201C}q\u{201D}".as_bytes()).is_none());
    }

    #[test]
    fn broken_escapes_do_not_panic() {
        for text in [
            "%",
            "%4",
            "\\",
            "\\u",
            "\\u12",
            "\\ud83d",
            "\\ud83d\\u",
            "&#",
            "&#x",
            "&#99999999",
            "\u{E2}",
            "\\u{",
            "\\u{110000}",
            "%uD800%u",
        ] {
            let _ = unescape(text.as_bytes());
        }
        let truncated = [0xE2u8, 0x80];
        assert!(unescape(&truncated).is_none());
    }

    #[test]
    fn base64_runs_decode_at_every_alignment() {
        let payload = b"the payload sk-ant-api03 hidden here";
        for prefix in ["", "X", "/a/", "abc/"] {
            for encoded in [STANDARD.encode(payload), URL_SAFE_NO_PAD.encode(payload)] {
                let text = format!("path {prefix}{encoded}== tail");
                let runs = Runs::base64(text.as_bytes());
                let found = (0..runs.alignments())
                    .map(|k| runs.decode(k))
                    .any(|v| v.windows(payload.len()).any(|w| w == payload));
                assert!(found, "{text}");
            }
        }
        let wrapped: String = STANDARD
            .encode(payload.repeat(4))
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
            .collect();
        let runs = Runs::base64(wrapped.as_bytes());
        assert!(runs.decode(0).windows(payload.len()).any(|w| w == payload));
        assert!(Runs::base64(b"short words, nothing_long here").is_empty());
    }

    #[test]
    fn hex_runs_decode_with_separators() {
        let payload = b"sk-ant-api03";
        let plain: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let cases = [
            plain.clone(),
            plain.to_uppercase(),
            format!("a{plain}"),
            payload.iter().map(|b| format!("{b:02x} ")).collect(),
            payload.iter().map(|b| format!("{b:02X}:")).collect(),
            payload.iter().map(|b| format!("0x{b:02x}, ")).collect(),
            format!("{}\n{}", &plain[..10], &plain[10..]),
        ];
        for text in cases {
            let runs = Runs::hex(text.as_bytes());
            let found = (0..runs.alignments())
                .map(|k| runs.decode(k))
                .any(|v| v.windows(payload.len()).any(|w| w == payload));
            assert!(found, "{text}");
        }
        assert!(Runs::hex(b"a bad bee, 12 cafes").is_empty());
    }

    #[test]
    fn views_are_never_larger_than_their_text() {
        let texts = [
            "QUJD".repeat(100),
            "ab".repeat(100),
            "0x41, ".repeat(50),
            "%41\\u0041&#65;\u{200B}".repeat(30),
        ];
        for text in texts {
            let t = text.as_bytes();
            for runs in [Runs::base64(t), Runs::hex(t)] {
                for k in 0..runs.alignments() {
                    assert!(runs.decode(k).len() <= t.len());
                }
            }
            if let Some((u, _)) = unescape(t) {
                assert!(u.len() <= t.len());
            }
        }
    }
}
