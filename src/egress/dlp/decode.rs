//! What an agent can wrap a secret in, taken off again, so the scanner
//! can look at what the bytes say rather than how they are written:
//!
//! - escapes: percent (`%2D`, `%u002D`), backslash (JSON `\u002d` with
//!   surrogate pairs, `\/`, `\\`; `\x2d`, octal, `\u{2d}`, shell-style
//!   `\-`), HTML character references (`&#45;`, `&#x2d;`, `&hyphen;`);
//! - characters that can be sprinkled into a key without showing
//!   (zero-width space and joiners, BOM, soft hyphen, bidi controls,
//!   variation selectors, lone surrogates) are dropped; Unicode tag
//!   characters (invisible ASCII), fullwidth forms, mathematical letters
//!   and digits, and dash look-alikes become the ASCII they stand for;
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
/// Ends each stretch of decoded text in a view, so no match spans two.
const SEPARATOR: u8 = 0;
/// Decoded bytes are kept only in stretches of text at least this long.
const MIN_TEXT: usize = 8;

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
    let leads = [0xC2, 0xCD, 0xD8, 0xE1, 0xE2, 0xE3, 0xEF, 0xF0, 0xF3];
    let mut i = 0;
    while i < leads.len() {
        t[leads[i]] = true;
        i += 1;
    }
    t
};

const C_TRIGGER: u8 = 1;
const C_BASE64: u8 = 2;
const C_HEX: u8 = 4;
/// Goes on in a hex run without being a digit (separators, `0x`).
const C_HEX_GAP: u8 = 8;
const C_NEWLINE: u8 = 16;

/// Each byte's part in the quick looks `next_window` takes.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let mut c = 0;
        if TRIGGER[b] {
            c |= C_TRIGGER;
        }
        if BASE64[b] >= 0 {
            c |= C_BASE64;
        }
        if byte.is_ascii_hexdigit() {
            c |= C_HEX;
        }
        if matches!(byte, b' ' | b':' | b',' | b';' | b'-' | b'x' | b'X') {
            c |= C_HEX_GAP;
        }
        if matches!(byte, b'\n' | b'\r') {
            c |= C_NEWLINE | C_HEX_GAP;
        }
        t[b] = c;
        b += 1;
    }
    t
};

/// Whether `text` has a run of base64 long enough to decode. Errs on the
/// side of yes (line breaks count towards a run's length); `Runs::base64`
/// decides. Part of what a clean text costs, so it reads as few bytes as
/// it can.
pub(super) fn has_base64_run(text: &[u8]) -> bool {
    next_window(text, 0, BASE64_RUN).is_some()
}

/// Whether `text` has a run of hex long enough to decode, as
/// `has_base64_run`.
pub(super) fn has_hex_run(text: &[u8]) -> bool {
    next_window(text, 0, HEX_RUN).is_some()
}

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

/// What makes a run worth decoding: bytes of the `run` classes, at least
/// `core` of them of the `core` classes, over `RUN` bytes.
struct RunKind {
    run: u8,
    core: u8,
    min_core: usize,
}

/// Base64 symbols; line breaks go on a run (even if it is wrapped short).
const BASE64_RUN: RunKind = RunKind {
    run: C_BASE64 | C_NEWLINE,
    core: C_BASE64,
    min_core: MIN_BASE64 * 3 / 4,
};
/// Hex digits, of which separators and `0x` may take up half.
const HEX_RUN: RunKind = RunKind {
    run: C_HEX | C_HEX_GAP,
    core: C_HEX,
    min_core: MIN_HEX / 2,
};
const RUN: usize = 16;
const _: () = assert!(MIN_BASE64 == RUN && MIN_HEX == RUN);

fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

/// The start of the first `RUN` bytes at or after `from` that make a run
/// of `kind`. Looks at each candidate window from its end, so a text full
/// of breaks is read only in part.
fn next_window(text: &[u8], from: usize, kind: RunKind) -> Option<usize> {
    let mut i = from;
    while let Some(window) = text.get(i..i + RUN) {
        // Past the last break in the window, if there is one.
        if let Some(k) = window.iter().rposition(|&b| !is(b, kind.run)) {
            i += k + 1;
            continue;
        }
        if window.iter().filter(|&&b| is(b, kind.core)).count() >= kind.min_core {
            return Some(i);
        }
        // A window that starts before the first core byte here holds no
        // more core bytes than the one that starts at it.
        i += window
            .iter()
            .position(|&b| is(b, kind.core))
            .map_or(RUN, |p| p.max(1));
    }
    None
}

/// Where the run through `window` starts: back over bytes of `class`, not
/// before `floor`.
fn run_start(text: &[u8], floor: usize, window: usize, class: u8) -> usize {
    text[floor..window]
        .iter()
        .rposition(|&b| !is(b, class))
        .map_or(floor, |p| floor + p + 1)
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
fn utf8_at(s: &[u8], i: usize) -> Option<(u32, usize)> {
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

/// A hex digit's value; -1 for anything else.
const HEX: [i8; 256] = {
    let mut t = [-1i8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as i8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as i8;
        t[b'A' as usize + i] = 10 + i as i8;
        i += 1;
    }
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
        let mut from = 0;
        while let Some(window) = next_window(text, from, BASE64_RUN) {
            let start = run_start(text, from, window, BASE64_RUN.run);
            let end = text[window..]
                .iter()
                .position(|&b| !is(b, BASE64_RUN.run))
                .map_or(text.len(), |p| window + p);
            if runs.symbols.is_empty() {
                // One allocation: no more symbols than bytes left.
                runs.symbols.reserve(text.len() - start);
            }
            let before = runs.symbols.len();
            runs.symbols.extend(
                text[start..end]
                    .iter()
                    .map(|&b| BASE64[b as usize])
                    .filter(|&v| v >= 0)
                    .map(|v| v as u8),
            );
            if runs.symbols.len() - before >= MIN_BASE64 {
                runs.ends.push(runs.symbols.len());
            } else {
                runs.symbols.truncate(before);
            }
            from = end;
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
        let nibble = |b: u8| u8::try_from(HEX[b as usize]).ok();
        let prefixed = |i: usize| {
            text[i] == b'0'
                && matches!(text.get(i + 1), Some(b'x' | b'X'))
                && text.get(i + 2).copied().and_then(nibble).is_some()
        };
        let is_sep = |b: u8| b" :,;-\r\n".contains(&b);
        let mut from = 0;
        while let Some(window) = next_window(text, from, HEX_RUN) {
            let mut i = run_start(text, from, window, HEX_RUN.run);
            // The window has a digit; the run starts at the first.
            i += text[i..]
                .iter()
                .position(|&b| nibble(b).is_some())
                .unwrap_or(0);
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
            from = i.max(from + 1);
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

    /// Every run decoded from its `skip`th symbol, and of that only the
    /// stretches of text (see `text_only`), each ended by a NUL, into
    /// `out`; `scratch` holds one run's bytes. Both are cleared first, so
    /// one pair serves every alignment.
    pub(super) fn decode_into(
        &self,
        skip: usize,
        keep_utf8: bool,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let mut start = 0;
        for &end in &self.ends {
            scratch.clear();
            decode_symbols(
                &self.symbols[(start + skip).min(end)..end],
                self.bits,
                scratch,
            );
            text_only(scratch, out, keep_utf8);
            start = end;
        }
    }

    #[cfg(test)]
    pub(super) fn decode(&self, skip: usize, keep_utf8: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.decode_into(skip, keep_utf8, &mut Vec::new(), &mut out);
        out
    }
}

/// Symbols of `bits` bits each, as bytes; a last partial byte is dropped.
fn decode_symbols(symbols: &[u8], bits: u32, out: &mut Vec<u8>) {
    let whole = if bits == 6 { 4 } else { 2 };
    let mut groups = symbols.chunks_exact(whole);
    for g in &mut groups {
        if bits == 6 {
            let v = u32::from(g[0]) << 18
                | u32::from(g[1]) << 12
                | u32::from(g[2]) << 6
                | u32::from(g[3]);
            out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
        } else {
            out.push(g[0] << 4 | g[1]);
        }
    }
    let (mut acc, mut held) = (0u32, 0u32);
    for &v in groups.remainder() {
        acc = acc << bits | u32::from(v);
        held += bits;
        if held >= 8 {
            held -= 8;
            out.push((acc >> held) as u8);
        }
    }
}

const T_BREAK: u8 = 0;
const T_TEXT: u8 = 1;
/// NUL (UTF-16?) or a UTF-8 lead byte: looked at closely.
const T_LOOK: u8 = 2;

/// How `text_only` reads a byte: printable ASCII and whitespace are text;
/// `all_leads` makes every UTF-8 lead byte worth a look, not only those
/// of the characters `fold` changes.
const fn text_classes(all_leads: bool) -> [u8; 256] {
    let mut t = [T_BREAK; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        t[b] = if (byte >= b' ' && byte <= b'~') || byte == b'\t' || byte == b'\n' || byte == b'\r'
        {
            T_TEXT
        } else if byte == 0
            || (TRIGGER[b] && byte >= 0x80)
            || (all_leads && byte >= 0xC2 && byte <= 0xF4)
        {
            T_LOOK
        } else {
            T_BREAK
        };
        b += 1;
    }
    t
}
const TEXT_FOLDABLE: [u8; 256] = text_classes(false);
const TEXT_UTF8: [u8; 256] = text_classes(true);

/// What a byte `text_only` looks at closely stands for.
enum Look {
    /// Nothing: skip these many bytes, the stretch goes on.
    Skip(usize),
    /// This ASCII byte, for these many.
    Ascii(usize, u8),
    /// These many bytes as they are.
    Copy(usize),
    Break,
}

fn look(bytes: &[u8], i: usize, keep_utf8: bool) -> Look {
    if bytes[i] == 0 {
        return if utf16_nul(bytes, i) {
            Look::Skip(1)
        } else {
            Look::Break
        };
    }
    match utf8_at(bytes, i) {
        Some((c, len)) => match fold(c) {
            Fold::Drop => Look::Skip(len),
            Fold::Ascii(a) => Look::Ascii(len, a),
            Fold::Keep if keep_utf8 => Look::Copy(len),
            Fold::Keep => Look::Break,
        },
        None => Look::Break,
    }
}

/// Appends the stretches of text in `bytes` at least `MIN_TEXT` long, each
/// ended by a NUL. What is binary (an image, compressed data) holds no
/// escapes to take off and no runs to decode, and a key is text.
/// Invisible and look-alike characters are folded here (as `unescape`
/// does); other UTF-8 is kept only if `keep_utf8` (a secret of the bottle
/// has some), else it ends a stretch like binary does. NULs interleaved
/// with ASCII are dropped, so UTF-16 text reads as ASCII. Without a
/// branch per byte for plain text or binary: this runs over every byte of
/// a decoded image.
fn text_only(bytes: &[u8], out: &mut Vec<u8>, keep_utf8: bool) {
    let classes = if keep_utf8 {
        &TEXT_UTF8
    } else {
        &TEXT_FOLDABLE
    };
    let base = out.len();
    // Nothing written is longer than what it comes from, and one NUL more.
    out.resize(base + bytes.len() + 1, 0);
    let buf = &mut out[base..];
    let (mut len, mut start, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        let mut class = classes[b as usize];
        if class == T_LOOK {
            match look(bytes, i, keep_utf8) {
                Look::Skip(n) => {
                    i += n;
                    continue;
                }
                Look::Ascii(n, a) => {
                    buf[len] = a;
                    len += 1;
                    i += n;
                    continue;
                }
                Look::Copy(n) => {
                    buf[len..len + n].copy_from_slice(&bytes[i..i + n]);
                    len += n;
                    i += n;
                    continue;
                }
                Look::Break => class = T_BREAK,
            }
        }
        // Text goes on the stretch; anything else ends it, kept (with a
        // NUL in place of the byte) if long enough, else taken back.
        let text = class == T_TEXT;
        let kept = len - start >= MIN_TEXT;
        buf[len] = if text { b } else { SEPARATOR };
        let ended = if kept { len + 1 } else { start };
        len = if text { len + 1 } else { ended };
        start = if text { start } else { len };
        i += 1;
    }
    if len - start >= MIN_TEXT {
        buf[len] = SEPARATOR;
        len += 1;
    } else {
        len = start;
    }
    out.truncate(base + len);
}

/// Whether the NUL at `i` is the high half of a UTF-16 ASCII character:
/// ASCII beside it, and another NUL two bytes away.
fn utf16_nul(bytes: &[u8], i: usize) -> bool {
    let at = |j: Option<usize>| j.and_then(|j| bytes.get(j)).copied();
    let is_text = |b: u8| TEXT_FOLDABLE[b as usize] == T_TEXT;
    let text_beside =
        at(i.checked_sub(1)).is_some_and(is_text) || at(Some(i + 1)).is_some_and(is_text);
    text_beside && (at(i.checked_sub(2)) == Some(0) || at(Some(i + 2)) == Some(0))
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
    fn base64_runs_decode_at_every_alignment() {
        let payload = b"the payload sk-ant-api03 hidden here";
        for prefix in ["", "X", "/a/", "abc/"] {
            for encoded in [STANDARD.encode(payload), URL_SAFE_NO_PAD.encode(payload)] {
                let text = format!("path {prefix}{encoded}== tail");
                let runs = Runs::base64(text.as_bytes());
                let found = (0..runs.alignments())
                    .map(|k| runs.decode(k, false))
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
        assert!(
            runs.decode(0, false)
                .windows(payload.len())
                .any(|w| w == payload)
        );
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
                .map(|k| runs.decode(k, false))
                .any(|v| v.windows(payload.len()).any(|w| w == payload));
            assert!(found, "{text}");
        }
        assert!(Runs::hex(b"a bad bee, 12 cafes").is_empty());
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

    #[test]
    fn the_quick_look_flags_whatever_the_decoders_would_decode() {
        let texts = [
            "plain words and short ones, nothing to decode here at all".to_owned(),
            "    \n\n\n\n                                          indented".to_owned(),
            "x".repeat(15),
            "x".repeat(16),
            format!("{}abcdefghijklmnop", "word ".repeat(13)),
            "c2st\nYW50\nLWFw\naTAz\nLWFi\nY2Rl".to_owned(),
            "de ad be ef ca fe ba be 00 11".to_owned(),
            "0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48".to_owned(),
            "a bad bee faced a decade".to_owned(),
            "%41 and \\u0041 and &#65;".to_owned(),
        ];
        for text in &texts {
            let t = text.as_bytes();
            assert!(has_base64_run(t) || Runs::base64(t).is_empty(), "{text}");
            assert!(has_hex_run(t) || Runs::hex(t).is_empty(), "{text}");
        }
        let prose = texts[0].as_bytes();
        assert!(!has_base64_run(prose) && !has_hex_run(prose));
        assert!(next_trigger(prose, 0).is_none());
        let indented = texts[1].as_bytes();
        assert!(!has_base64_run(indented) && !has_hex_run(indented));
        assert!(has_base64_run(texts[5].as_bytes()), "base64 wrapped short");
        assert!(!Runs::base64(texts[5].as_bytes()).is_empty());
    }

    #[test]
    fn decoded_views_keep_text_only() {
        let kept = |bytes: &[u8], utf8: bool| {
            let mut out = Vec::new();
            text_only(bytes, &mut out, utf8);
            String::from_utf8_lossy(&out).into_owned()
        };
        let binary: Vec<u8> = (0u8..=255)
            .rev()
            .cycle()
            .take(1000)
            .map(|b| b.wrapping_mul(151))
            .collect();
        let mut mixed = binary.clone();
        mixed.extend_from_slice(b"\x01sk-ant-api03-KEY\x02");
        mixed.extend_from_slice(&binary);
        let from_mixed = kept(&mixed, false);
        assert!(from_mixed.contains("sk-ant-api03-KEY\0"), "{from_mixed:?}");
        assert!(from_mixed.len() < 100, "binary is dropped: {from_mixed:?}");
        let cases = [
            ("short\x01", ""),
            ("long enough\x01tiny\x02", "long enough\0"),
            (
                "s\u{200B}k\u{200D}-\u{FEFF}a\u{AD}n\u{2060}t-api",
                "sk-ant-api\0",
            ),
            ("\u{FF53}\u{FF4B}-\u{E0061}\u{E006E}t-api", "sk-ant-api\0"),
            ("caf\u{e9} au lait, sk-ant-api", " au lait, sk-ant-api\0"),
        ];
        for (input, want) in cases {
            assert_eq!(kept(input.as_bytes(), false), want, "{input:?}");
        }
        assert_eq!(
            kept("caf\u{e9} au lait".as_bytes(), true),
            "caf\u{e9} au lait\0"
        );
        let utf16: Vec<u8> = "sk-ant-api03"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(kept(&utf16, false), "sk-ant-api03\0");
        let utf16be: Vec<u8> = "sk-ant-api03"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(kept(&utf16be, false), "sk-ant-api03\0");
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
                    assert!(runs.decode(k, false).len() <= t.len());
                }
            }
            if let Some((u, _)) = unescape(t) {
                assert!(u.len() <= t.len());
            }
        }
    }
}
