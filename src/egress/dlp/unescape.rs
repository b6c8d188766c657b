//! Escapes an agent can wrap a secret in, taken off again, so the scanner
//! can look at what the bytes say rather than how they are written:
//!
//! - percent (`%2D`, `%u002D`), backslash (JSON `\u002d` with surrogate
//!   pairs, `\/`, `\\`; `\x2d`, octal, `\u{2d}`, shell-style `\-`), HTML
//!   character references (`&#45;`, `&#x2d;`, `&hyphen;`);
//! - characters that can be sprinkled into a key without showing
//!   (zero-width space and joiners, BOM, soft hyphen, bidi controls,
//!   variation selectors, lone surrogates) are dropped; Unicode tag
//!   characters (invisible ASCII), fullwidth forms, mathematical letters
//!   and digits, and dash look-alikes become the ASCII they stand for.
//!
//! The output is never longer than the input: an escape is longer than
//! what it stands for, and a folded character than its ASCII.

const URL: u8 = 1;
const JSON: u8 = 2;
const HTML: u8 = 4;
const UNICODE: u8 = 8;

/// Bytes that may start something `unescape` changes.
pub(super) const TRIGGER: [bool; 256] = {
    let mut t = [false; 256];
    t[b'%' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'&' as usize] = true;
    // UTF-8 lead bytes of the characters `fold` changes.
    let leads = [0xC2, 0xCD, 0xD8, 0xE1, 0xE2, 0xE3, 0xEF, 0xF0, 0xF3];
    let mut i = 0;
    while i < leads.len() {
        t[leads[i]] = true;
        i += 1;
    }
    t
};

/// The first byte at or after `from` that may start an escape or a
/// foldable character: `%`, `\`, `&` or one of the UTF-8 lead bytes in
/// `TRIGGER`. Past the nearby bytes, blocks without any are passed over
/// with branch-free comparisons, which the compiler turns into SIMD.
fn next_trigger(text: &[u8], from: usize) -> Option<usize> {
    let trigger = |b: &u8| TRIGGER[*b as usize];
    // Escapes come in clusters: first the bytes nearby, one by one.
    let near = text.len().min(from + 32);
    if let Some(k) = text[from.min(near)..near].iter().position(trigger) {
        return Some(from + k);
    }
    let maybe = |b: u8| (b == b'%') | (b == b'\\') | (b == b'&') | (b >= 0xC2);
    let mut i = near;
    while i < text.len() {
        let end = text.len().min(i + 64);
        let block = &text[i..end];
        if block.iter().fold(false, |any, &b| any | maybe(b))
            && let Some(k) = block.iter().position(trigger)
        {
            return Some(i + k);
        }
        i = end;
    }
    None
}

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
    while let Some(at) = next_trigger(input, i) {
        let Some((len, emit, kind)) = escape_at(input, at) else {
            i = at + 1;
            continue;
        };
        if kinds == 0 {
            out.reserve(input.len());
        }
        out.extend_from_slice(&input[copied..at]);
        match emit {
            Emit::Byte(b) => out.push(b),
            Emit::Char(c) => push_folded(&mut out, c),
            Emit::Nothing => {}
        }
        kinds |= kind;
        i = at + len;
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
pub(super) fn utf8_at(s: &[u8], i: usize) -> Option<(u32, usize)> {
    let lead = s[i];
    let (len, bits, min) = match lead {
        0xC2..=0xDF => (2, lead & 0x1F, 0x80),
        0xE0..=0xEF => (3, lead & 0x0F, 0x800),
        0xF0..=0xF4 => (4, lead & 0x07, 0x10000),
        _ => return None,
    };
    let mut c = u32::from(bits);
    for &b in s.get(i + 1..i + len)? {
        if b & 0xC0 != 0x80 {
            return None;
        }
        c = c << 6 | u32::from(b & 0x3F);
    }
    let valid = (min..=0x10FFFF).contains(&c) && !(0xD800..0xE000).contains(&c);
    valid.then_some((c, len))
}

pub(super) enum Fold {
    Keep,
    Drop,
    Ascii(u8),
}

/// What a character is read as when looking for keys.
pub(super) fn fold(c: u32) -> Fold {
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
        // Mathematical letters (bold, italic, script, monospace… A-Z a-z
        // in 13 styles) and digits (0-9 in 5).
        0x1D400..=0x1D6A3 => match (c - 0x1D400) % 52 {
            i @ 0..=25 => Fold::Ascii(b'A' + i as u8),
            i => Fold::Ascii(b'a' + (i - 26) as u8),
        },
        0x1D7CE..=0x1D7FF => Fold::Ascii(b'0' + ((c - 0x1D7CE) % 10) as u8),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            ("\u{1D42C}\u{1D48C}-\u{1D68A}\u{1D7F7}", "sk-a1", "unicode"),
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
    fn triggers_are_found_at_every_offset() {
        for trigger in ["%", "\\", "&", "\u{200B}", "\u{FF53}"] {
            for at in 0..40 {
                let text = format!("{}\u{e9}{trigger}tail", "a".repeat(at));
                assert_eq!(
                    next_trigger(text.as_bytes(), 0),
                    Some(at + 2),
                    "{trigger} after {at}"
                );
            }
        }
        assert_eq!(
            next_trigger("plain caf\u{e9} text, 99.5".as_bytes(), 0),
            None
        );
    }
}
