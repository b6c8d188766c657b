//! Runs of base64 (both alphabets, padded or not, wrapped with line
//! breaks), of base32 (RFC 4648's alphabet in one case, padded or not,
//! wrapped), of hex (either case, optionally as `0x41`, `41 42`,
//! `41:42`) and of bytes written as decimal numbers (`[115, 107, 45]`, as
//! a JSON array or a Node Buffer has them) found in a text and decoded, at
//! every alignment, keeping only
//! what decodes to text (the bytes each run decodes to are also handed to
//! the caller whole, for what is compressed in them). A view is never
//! longer than the text it comes from: base64 takes four characters per
//! three bytes, base32 eight per five, hex two per byte, decimal two or
//! more.

use super::unescape::{Fold, TRIGGER, fold, utf8_at};

/// Runs of base64 shorter than this are not decoded (under 12 bytes).
const MIN_BASE64: usize = 16;
/// Runs of base32 shorter than this are not decoded (under 10 bytes).
const MIN_BASE32: usize = 16;
/// Runs of hex digits shorter than this are not decoded (under 8 bytes).
const MIN_HEX: usize = 16;
/// Runs of decimal bytes shorter than this are not decoded.
const MIN_DECIMAL: usize = 8;
/// Ends each stretch of decoded text in a view, so no match spans two.
const SEPARATOR: u8 = 0;
/// Decoded bytes are kept only in stretches of text at least this long.
const MIN_TEXT: usize = 8;

const C_BASE64: u8 = 2;
const C_HEX: u8 = 4;
/// Goes on in a hex run without being a digit (separators, `0x`).
const C_HEX_GAP: u8 = 8;
const C_NEWLINE: u8 = 16;
/// Base32 in upper case (`A-Z2-7`), and in lower case (`a-z2-7`).
const C_BASE32_UPPER: u8 = 32;
const C_BASE32_LOWER: u8 = 64;

/// Each byte's part in the quick looks `next_window` takes.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let mut c = 0;
        if BASE64[b] >= 0 {
            c |= C_BASE64;
        }
        if byte.is_ascii_hexdigit() {
            c |= C_HEX;
        }
        if matches!(byte, b' ' | b':' | b',' | b';' | b'-' | b'.' | b'x' | b'X') {
            c |= C_HEX_GAP;
        }
        if matches!(byte, b'\n' | b'\r') {
            c |= C_NEWLINE | C_HEX_GAP;
        }
        if byte.is_ascii_uppercase() || (byte >= b'2' && byte <= b'7') {
            c |= C_BASE32_UPPER;
        }
        if byte.is_ascii_lowercase() || (byte >= b'2' && byte <= b'7') {
            c |= C_BASE32_LOWER;
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

/// Whether `text` has a run of base32 long enough to decode, in either
/// case, as `has_base64_run`.
pub(super) fn has_base32_run(text: &[u8]) -> bool {
    BASE32_RUNS
        .iter()
        .any(|kind| next_window(text, 0, *kind).is_some())
}

/// What makes a run worth decoding: bytes of the `run` classes, at least
/// `core` of them of the `core` classes, over `RUN` bytes.
#[derive(Clone, Copy)]
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
/// Base32 symbols in upper case, and in lower case: an encoder writes
/// one, and ordinary text (base64 too) seldom keeps to one for long. A
/// line break goes on a run only after a full line (see `Runs::base32`):
/// lines of short words are not base32.
const BASE32_RUNS: [RunKind; 2] = [
    RunKind {
        run: C_BASE32_UPPER,
        core: C_BASE32_UPPER,
        min_core: MIN_BASE32,
    },
    RunKind {
        run: C_BASE32_LOWER,
        core: C_BASE32_LOWER,
        min_core: MIN_BASE32,
    },
];
/// Hex digits, of which separators and `0x` may take up half.
const HEX_RUN: RunKind = RunKind {
    run: C_HEX | C_HEX_GAP,
    core: C_HEX,
    min_core: MIN_HEX / 2,
};
const RUN: usize = 16;
const _: () = assert!(MIN_BASE64 == RUN && MIN_BASE32 == RUN && MIN_HEX == RUN);

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

/// A base32 symbol's value (RFC 4648, either case); -1 for anything else.
const BASE32: [i8; 256] = {
    let mut t = [-1i8; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as i8;
        t[b'a' as usize + i] = i as i8;
        i += 1;
    }
    let mut d = 0;
    while d < 6 {
        t[b'2' as usize + d] = 26 + d as i8;
        d += 1;
    }
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
    /// No runs yet, of symbols of `bits` bits.
    fn empty(bits: u32) -> Runs {
        Runs {
            symbols: Vec::new(),
            ends: Vec::new(),
            bits,
        }
    }

    /// Runs of base64 symbols; a run goes on over line breaks and ends at
    /// padding or anything else.
    pub(super) fn base64(text: &[u8]) -> Runs {
        let mut runs = Runs::empty(6);
        runs.read_each(text, BASE64_RUN, MIN_BASE64, |symbols, start| {
            // Every byte from `start` to its window is of the run.
            let end = text[start..]
                .iter()
                .position(|&b| !is(b, BASE64_RUN.run))
                .map_or(text.len(), |p| start + p);
            if symbols.is_empty() {
                // One allocation: no more symbols than bytes left.
                symbols.reserve(text.len() - start);
            }
            symbols.extend(
                text[start..end]
                    .iter()
                    .map(|&b| BASE64[b as usize])
                    .filter(|&v| v >= 0)
                    .map(|v| v as u8),
            );
            end
        });
        runs
    }

    /// Runs of base32 symbols in one case, upper then lower; a run ends
    /// at padding or anything else, and goes on over a line break that
    /// ends a line of at least `MIN_BASE32` symbols (as `base32` wraps
    /// them).
    pub(super) fn base32(text: &[u8]) -> Runs {
        let mut runs = Runs::empty(5);
        for kind in BASE32_RUNS {
            runs.read_each(text, kind, MIN_BASE32, |symbols, mut i| {
                let mut line = 0;
                while let Some(&b) = text.get(i) {
                    if let Some(v) = u8::try_from(BASE32[b as usize])
                        .ok()
                        .filter(|_| is(b, kind.run))
                    {
                        symbols.push(v);
                        (line, i) = (line + 1, i + 1);
                    } else if is(b, C_NEWLINE) && line >= MIN_BASE32 {
                        let crlf = b == b'\r' && text.get(i + 1) == Some(&b'\n');
                        (line, i) = (0, i + 1 + usize::from(crlf));
                    } else {
                        break;
                    }
                }
                i
            });
        }
        runs
    }

    /// Runs of hex digits. Between whole bytes a run may go on over one or
    /// two of ` :,;-.` and line breaks (`41 42`, `41:42`, DNS labels), and
    /// each byte may be written `0x41`.
    pub(super) fn hex(text: &[u8]) -> Runs {
        let mut runs = Runs::empty(4);
        let nibble = |b: u8| u8::try_from(HEX[b as usize]).ok();
        let prefixed = |i: usize| {
            text[i] == b'0'
                && matches!(text.get(i + 1), Some(b'x' | b'X'))
                && text.get(i + 2).copied().and_then(nibble).is_some()
        };
        let is_sep = |b: u8| b" :,;-.\r\n".contains(&b);
        runs.read_each(text, HEX_RUN, MIN_HEX, |symbols, mut i| {
            // The window has a digit; the run starts at the first.
            i += text[i..]
                .iter()
                .position(|&b| nibble(b).is_some())
                .unwrap_or(0);
            let mut token = 0;
            while i < text.len() {
                if token == 0 && prefixed(i) {
                    i += 2;
                }
                if let Some(v) = nibble(text[i]) {
                    symbols.push(v);
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
            i
        });
        runs
    }

    /// Runs of bytes written as decimal numbers (0 to 255, no sign or
    /// point) separated by a comma, a comma and spaces, or spaces.
    pub(super) fn decimal(text: &[u8]) -> Runs {
        let mut runs = Runs::empty(8);
        let mut i = 0;
        let mut before = 0;
        while i < text.len() {
            let Some((byte, len)) = decimal_at(text, i) else {
                runs.close(before, MIN_DECIMAL);
                before = runs.symbols.len();
                i += 1;
                continue;
            };
            runs.symbols.push(byte);
            i += len;
            let rest = &text[i..];
            let comma = usize::from(rest.first() == Some(&b','));
            let spaces = rest[comma..].iter().take_while(|&&b| b == b' ').count();
            let next = rest.get(comma + spaces).is_some_and(u8::is_ascii_digit);
            if (comma + spaces) > 0 && next {
                i += comma + spaces;
            } else {
                runs.close(before, MIN_DECIMAL);
                before = runs.symbols.len();
            }
        }
        runs.close(before, MIN_DECIMAL);
        runs
    }

    /// Every run of `kind` in `text`: `read` takes one from where it
    /// starts (before its first window), pushes its symbols and answers
    /// where it stopped; a run of fewer than `min` symbols is taken back.
    fn read_each(
        &mut self,
        text: &[u8],
        kind: RunKind,
        min: usize,
        mut read: impl FnMut(&mut Vec<u8>, usize) -> usize,
    ) {
        let mut from = 0;
        while let Some(window) = next_window(text, from, kind) {
            let before = self.symbols.len();
            let stopped = read(&mut self.symbols, run_start(text, from, window, kind.run));
            self.close(before, min);
            from = stopped.max(from + 1);
        }
    }

    /// Ends the run that started at symbol `start`: kept if it has at
    /// least `min` symbols, else taken back.
    fn close(&mut self, start: usize, min: usize) {
        if self.symbols.len() - start >= min {
            self.ends.push(self.symbols.len());
        } else {
            self.symbols.truncate(start);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// How many alignments a run can have: the symbols that make whole
    /// bytes (4 of base64, 8 of base32, 2 of hex, 1 of decimal).
    pub(super) fn alignments(&self) -> usize {
        group(self.bits)
    }

    /// Every run decoded from its `skip`th symbol, and of that only the
    /// stretches of text (see `text_only`), each ended by a NUL, into
    /// `out`; `scratch` holds one run's bytes, which `each_run` is handed
    /// whole. Both are cleared first, so one pair serves every alignment.
    pub(super) fn decode_into(
        &self,
        skip: usize,
        keep_utf8: bool,
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
        mut each_run: impl FnMut(&[u8]),
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
            each_run(scratch);
            text_only(scratch, out, keep_utf8);
            start = end;
        }
    }

    #[cfg(test)]
    pub(super) fn decode(&self, skip: usize, keep_utf8: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.decode_into(skip, keep_utf8, &mut Vec::new(), &mut out, |_| {});
        out
    }
}

/// How many symbols of `bits` bits make whole bytes.
fn group(bits: u32) -> usize {
    match bits {
        8 => 1,
        6 => 4,
        5 => 8,
        _ => 2,
    }
}

/// The byte a decimal number at `i` stands for, and its length: one to
/// three digits, not part of a longer number or a decimal fraction.
fn decimal_at(text: &[u8], i: usize) -> Option<(u8, usize)> {
    let glued = |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'.');
    if glued(i.checked_sub(1).and_then(|p| text.get(p))) {
        return None;
    }
    let len = text[i..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&len) || glued(text.get(i + len)) {
        return None;
    }
    let value = text[i..i + len]
        .iter()
        .fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
    Some((u8::try_from(value).ok()?, len))
}

/// Whether `text` may have a run of decimal bytes: a number, a comma or
/// spaces, and another number, somewhere. `Runs::decimal` decides. Most
/// text has few digits, which are all this looks at.
pub(super) fn has_decimal_run(text: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = text[i..].iter().position(u8::is_ascii_digit) {
        let number = &text[i + p..];
        let digits = number.iter().take_while(|b| b.is_ascii_digit()).count();
        let rest = &number[digits..];
        let comma = usize::from(rest.first() == Some(&b','));
        let spaces = rest[comma..].iter().take_while(|&&b| b == b' ').count();
        if comma + spaces > 0 && rest.get(comma + spaces).is_some_and(u8::is_ascii_digit) {
            return true;
        }
        i += p + digits;
    }
    false
}

/// Symbols of `bits` bits each, as bytes; a last partial byte is dropped.
fn decode_symbols(symbols: &[u8], bits: u32, out: &mut Vec<u8>) {
    let mut groups = symbols.chunks_exact(group(bits));
    for g in &mut groups {
        match bits {
            6 => {
                let v = u32::from(g[0]) << 18
                    | u32::from(g[1]) << 12
                    | u32::from(g[2]) << 6
                    | u32::from(g[3]);
                out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
            }
            5 => {
                let v = g.iter().fold(0u64, |v, &s| v << 5 | u64::from(s));
                out.extend_from_slice(&v.to_be_bytes()[3..]);
            }
            8 => out.push(g[0]),
            _ => out.push(g[0] << 4 | g[1]),
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
pub(super) fn text_only(bytes: &[u8], out: &mut Vec<u8>, keep_utf8: bool) {
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
    use super::super::unescape::unescape;
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    /// Whether the view at some alignment of `runs` holds `payload`.
    fn decodes_to(runs: &Runs, payload: &[u8]) -> bool {
        (0..runs.alignments())
            .map(|k| runs.decode(k, false))
            .any(|v| v.windows(payload.len()).any(|w| w == payload))
    }

    #[test]
    fn base64_runs_decode_at_every_alignment() {
        let payload = b"the payload sk-ant-api03 hidden here";
        for prefix in ["", "X", "/a/", "abc/"] {
            for encoded in [STANDARD.encode(payload), URL_SAFE_NO_PAD.encode(payload)] {
                let text = format!("path {prefix}{encoded}== tail");
                let runs = Runs::base64(text.as_bytes());
                assert!(decodes_to(&runs, payload), "{text}");
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

    /// RFC 4648 base32, upper case, padded.
    fn b32(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let bits: Vec<u8> = bytes
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1))
            .collect();
        let mut out: String = bits
            .chunks(5)
            .map(|c| {
                let v = c.iter().chain([0u8; 5].iter()).take(5);
                ALPHABET[v.fold(0usize, |v, &b| v << 1 | usize::from(b))] as char
            })
            .collect();
        while !out.len().is_multiple_of(8) {
            out.push('=');
        }
        out
    }

    #[test]
    fn base32_runs_decode_at_every_alignment() {
        let payload = b"the payload sk-ant-api03 hidden here";
        let upper = b32(payload);
        let wrapped: String = b32(&payload.repeat(4))
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        for encoded in [
            upper.clone(),
            upper.to_lowercase(),
            upper.trim_end_matches('=').to_owned(),
            wrapped,
        ] {
            for prefix in ["", "Q", "AB7", "ab7"] {
                let text = format!("token: {prefix}{encoded} end");
                let runs = Runs::base32(text.as_bytes());
                assert!(decodes_to(&runs, payload), "{text}");
            }
        }
        assert_eq!(Runs::base32(b"x").alignments(), 8);
    }

    #[test]
    fn base32_runs_keep_to_one_case_and_full_lines() {
        // Each half is a run of its own.
        let halves = Runs::base32(b"ABCDEFGHIJKLMNOPabcdefghijklmnop");
        assert_eq!(halves.ends, vec![16, 32]);
        for text in [
            "aVeryLongCamelCaseIdentifierNameThatGoesOnAndOn",
            "apple\nbanana\ncherry\ndamson\nelderberry\nfig\ngrape\n",
            "short words, nothing_long here",
            "ABCDEFGHIJKLMNO",
        ] {
            assert!(Runs::base32(text.as_bytes()).is_empty(), "{text}");
        }
        // A line break goes on a run only after a full line.
        let wrapped = Runs::base32(b"ABCDEFGHIJKLMNOPQRST\r\nUVWXYZ");
        assert_eq!(wrapped.ends, vec![26]);
    }

    #[test]
    fn decimal_runs_decode() {
        let payload = b"sk-ant-api03";
        let numbers: Vec<String> = payload.iter().map(u8::to_string).collect();
        for text in [
            format!("[{}]", numbers.join(",")),
            format!("{{\"data\":[{}]}}", numbers.join(", ")),
            format!("bytes: {} end", numbers.join(" ")),
        ] {
            let runs = Runs::decimal(text.as_bytes());
            assert_eq!(runs.alignments(), 1);
            assert_eq!(
                runs.decode(0, false),
                [payload.as_slice(), b"\0"].concat(),
                "{text}"
            );
        }
        for text in [
            "[0.12, 0.34, 0.56, 0.78, 0.91, 0.23, 0.45, 0.67, 0.89]",
            "1,000,000 and 2,500,000",
            "[1, 2, 3]",
            "[256, 300, 1000, 4096, 512, 999, 1024, 2048]",
            "v1.2.3 build 20240101",
            "x1, x2, x3, x4, x5, x6, x7, x8, x9",
        ] {
            assert!(Runs::decimal(text.as_bytes()).is_empty(), "{text}");
        }
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
            format!("{}.{}.example", &plain[..12], &plain[12..]),
            format!("{}\n{}", &plain[..10], &plain[10..]),
        ];
        for text in cases {
            let runs = Runs::hex(text.as_bytes());
            assert!(decodes_to(&runs, payload), "{text}");
        }
        assert!(Runs::hex(b"a bad bee, 12 cafes").is_empty());
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
            "KRUGKIDROVUWG2ZAMJZG653OEBTG66BANJ2W24DTEBXXMZLSEB2GQZJANRQXU6JAMRXWO===".to_owned(),
            "krugkidrovuwg2zamjzg653o\nebtg66banj2w24dt".to_owned(),
            "aVeryLongCamelCaseIdentifierName".to_owned(),
            "[115,107,45,97,110,116,45,97]".to_owned(),
            "115 107 45 97 110 116 45 97".to_owned(),
        ];
        for text in &texts {
            let t = text.as_bytes();
            assert!(has_base64_run(t) || Runs::base64(t).is_empty(), "{text}");
            assert!(has_hex_run(t) || Runs::hex(t).is_empty(), "{text}");
            assert!(has_base32_run(t) || Runs::base32(t).is_empty(), "{text}");
            assert!(has_decimal_run(t) || Runs::decimal(t).is_empty(), "{text}");
        }
        let prose = texts[0].as_bytes();
        assert!(!has_base64_run(prose) && !has_hex_run(prose) && !has_base32_run(prose));
        assert!(!has_decimal_run(prose));
        assert!(unescape(prose).is_none());
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
            "MFRGG".repeat(100),
            "ab".repeat(100),
            "0x41, ".repeat(50),
            "%41\\u0041&#65;\u{200B}".repeat(30),
        ];
        for text in texts {
            let t = text.as_bytes();
            for runs in [Runs::base64(t), Runs::base32(t), Runs::hex(t)] {
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
