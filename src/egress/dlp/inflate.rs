//! Compressed data inside an encoded run. A program hiding a key from a
//! scanner compresses it before it base64-, base32- or hex-encodes it:
//! the run then decodes to binary, which holds no text to scan, so what is
//! compressed in it is decompressed first. gzip, zlib and zstd streams are
//! found by their headers anywhere in the bytes (a run may start with
//! other symbols: a URL path before a base64 segment); raw deflate, which
//! has no header, is tried where a run starts, once its first block header
//! reads right and a fixed-code block starts with text (most binary fails
//! that at once). A PNG or a PDF, which
//! compress their own content by design (pixels, pages), is not looked
//! into: the pictures an agent sends to a model are not decompressed.
//!
//! Output comes in pieces to a sink that scans each and may stop the
//! stream; nothing is held but one piece, and the caller's budget bounds
//! how many. A stream cut short, corrupt or followed by other bytes gives
//! what came out before.

use std::io::Read;
use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use flate2::{Decompress, FlushDecompress, Status};

use crate::egress::decode::ZSTD_MAX_WINDOW;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Gzip,
    Zlib,
    /// Raw deflate, without a header.
    Deflate,
    Zstd,
}

/// The headers a stream is found by: gzip's magic and method, zlib's with
/// the flags of its four compression levels, zstd's magic.
const MAGICS: &[(&[u8], Format)] = &[
    (&[0x1f, 0x8b, 0x08], Format::Gzip),
    (&[0x78, 0x01], Format::Zlib),
    (&[0x78, 0x5e], Format::Zlib),
    (&[0x78, 0x9c], Format::Zlib),
    (&[0x78, 0xda], Format::Zlib),
    (&[0x28, 0xb5, 0x2f, 0xfd], Format::Zstd),
];

/// Files whose content is compressed by design: PNG, PDF.
const CONTAINERS: &[&[u8]] = &[b"\x89PNG\r\n\x1a\n", b"%PDF-"];

/// Output handed to the sink at a time.
const PIECE: usize = 64 * 1024;
/// Fewer bytes hold no compressed secret: a header, a block, a trailer.
const MIN_STREAM: usize = 16;
/// Symbols of a fixed-code raw deflate block read to see it starts with
/// text.
const FIXED_LOOK: usize = 4;

/// A symbol of a fixed-code block.
enum Symbol {
    Literal(u8),
    Length,
    End,
}

/// Finds where streams start.
pub(super) struct Starts(Option<AhoCorasick>);

impl Starts {
    pub(super) fn new() -> Starts {
        let needles: Vec<&[u8]> = MAGICS.iter().map(|(m, _)| *m).collect();
        Starts(
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .build(needles)
                .ok(),
        )
    }

    /// Where a stream may start in `bytes`, and as what: raw deflate at
    /// the start unless a header is there (and the block starts with
    /// text, UTF-8 included if `utf8`), then every header; nothing in a
    /// PNG or PDF.
    pub(super) fn find(&self, bytes: &[u8], utf8: bool) -> Vec<(usize, Format)> {
        if bytes.len() < MIN_STREAM || CONTAINERS.iter().any(|c| bytes.starts_with(c)) {
            return Vec::new();
        }
        let mut found: Vec<(usize, Format)> = match &self.0 {
            Some(ac) => ac
                .find_iter(bytes)
                .map(|m| (m.start(), MAGICS[m.pattern().as_usize()].1))
                .collect(),
            // Never blind: every position is tried.
            None => (0..bytes.len())
                .filter_map(|i| {
                    MAGICS
                        .iter()
                        .find(|(m, _)| bytes[i..].starts_with(m))
                        .map(|(_, f)| (i, *f))
                })
                .collect(),
        };
        if found.first().is_none_or(|(at, _)| *at > 0) && plausible_deflate(bytes, utf8) {
            found.insert(0, (0, Format::Deflate));
        }
        found
    }
}

/// Decompresses streams, reusing one deflate state across them: a scan
/// tries many that fail in their first bytes.
pub(super) struct Inflater {
    deflate: Decompress,
    out: Vec<u8>,
}

impl Inflater {
    pub(super) fn new() -> Inflater {
        Inflater {
            deflate: Decompress::new(false),
            out: Vec::with_capacity(PIECE),
        }
    }

    /// Decompresses the stream at the start of `bytes` as `format`,
    /// handing each piece of output to `sink`, until the sink breaks, the
    /// stream ends, or it cannot go on.
    pub(super) fn each_piece(
        &mut self,
        bytes: &[u8],
        format: Format,
        sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) {
        match format {
            Format::Gzip => {
                if let Some(body) = gzip_body(bytes) {
                    self.deflate(body, false, sink);
                }
            }
            Format::Zlib => self.deflate(bytes, true, sink),
            Format::Deflate => self.deflate(bytes, false, sink),
            Format::Zstd => self.zstd(bytes, sink),
        }
    }

    fn deflate(
        &mut self,
        mut input: &[u8],
        zlib: bool,
        sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
    ) {
        self.deflate.reset(zlib);
        loop {
            self.out.clear();
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .decompress_vec(input, &mut self.out, FlushDecompress::None);
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(input.len());
            input = input.get(used..).unwrap_or_default();
            if !self.out.is_empty() && sink(&self.out).is_break() {
                return;
            }
            match status {
                Ok(Status::StreamEnd) | Err(_) => return,
                Ok(_) if used == 0 && self.out.is_empty() => return,
                Ok(_) => {}
            }
        }
    }

    fn zstd(&mut self, bytes: &[u8], sink: &mut dyn FnMut(&[u8]) -> ControlFlow<()>) {
        let Ok(mut frame) =
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(bytes, ZSTD_MAX_WINDOW)
        else {
            return;
        };
        self.out.resize(PIECE, 0);
        loop {
            match frame.read(&mut self.out) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if sink(&self.out[..n]).is_break() {
                        return;
                    }
                }
            }
        }
    }
}

/// The deflate data of a gzip member: after its header (RFC 1952) and
/// the optional extra field, name, comment and header check.
fn gzip_body(b: &[u8]) -> Option<&[u8]> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let flags = *b.get(3)?;
    if !b.starts_with(&[0x1f, 0x8b, 0x08]) || flags & 0xe0 != 0 {
        return None;
    }
    let mut i = 10;
    if flags & FEXTRA != 0 {
        let len = u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]);
        i += 2 + usize::from(len);
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            i += b.get(i..)?.iter().position(|&c| c == 0)? + 1;
        }
    }
    if flags & FHCRC != 0 {
        i += 2;
    }
    b.get(i..)
}

/// Bits of a deflate stream, least significant first.
struct Bits<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Option<u32> {
        let mut v = 0;
        for i in 0..n {
            let byte = *self.bytes.get(self.pos / 8)?;
            v |= u32::from(byte >> (self.pos % 8) & 1) << i;
            self.pos += 1;
        }
        Some(v)
    }
}

/// Whether `bytes` start with a deflate block header that can be right
/// (RFC 1951 3.2.3): not the reserved type; a stored block's length and
/// its complement; a dynamic block's counts in range and a complete code
/// for its code lengths. A fixed-code block, whose header says nothing,
/// must start with text: what is hidden is text, and a stream's first
/// symbol can only be a literal.
fn plausible_deflate(bytes: &[u8], utf8: bool) -> bool {
    let mut bits = Bits { bytes, pos: 0 };
    let _last = bits.take(1);
    match bits.take(2) {
        Some(0) => {
            bytes.len() >= 5
                && u16::from_le_bytes([bytes[1], bytes[2]])
                    == !u16::from_le_bytes([bytes[3], bytes[4]])
        }
        Some(1) => fixed_starts_with_text(&mut bits, utf8),
        Some(2) => {
            let (Some(lit), Some(dist), Some(lengths)) = (bits.take(5), bits.take(5), bits.take(4))
            else {
                return false;
            };
            if lit > 29 || dist > 29 {
                return false;
            }
            // Kraft's sum of the code-length code, in 128ths.
            let mut sum = 0u32;
            for _ in 0..lengths + 4 {
                match bits.take(3) {
                    Some(0) => {}
                    Some(len) => sum += 1 << (7 - len),
                    None => return false,
                }
            }
            sum == 128
        }
        _ => false,
    }
}

/// Whether a fixed-code block starts with a literal of text, then more
/// of them up to `FIXED_LOOK` symbols or a copy of what came before.
fn fixed_starts_with_text(bits: &mut Bits<'_>, utf8: bool) -> bool {
    for n in 0..FIXED_LOOK {
        match fixed_symbol(bits) {
            Some(Symbol::Literal(b)) if is_text(b) || (utf8 && b >= 0x80) => {}
            Some(Symbol::Length) if n > 0 => return true,
            _ => return false,
        }
    }
    true
}

/// The next symbol of a fixed-code block (RFC 1951 3.2.6: codes of 7 to
/// 9 bits, read most significant bit first).
fn fixed_symbol(bits: &mut Bits<'_>) -> Option<Symbol> {
    let mut code = 0u32;
    for _ in 0..7 {
        code = code << 1 | bits.take(1)?;
    }
    match code {
        0 => return Some(Symbol::End),
        // 257-279.
        1..=0b001_0111 => return Some(Symbol::Length),
        _ => {}
    }
    code = code << 1 | bits.take(1)?;
    match code {
        // 0-143.
        0b0011_0000..=0b1011_1111 => u8::try_from(code - 0b0011_0000).ok().map(Symbol::Literal),
        // 280-287.
        0b1100_0000..=0b1100_0111 => Some(Symbol::Length),
        // 144-255, nine bits.
        _ => {
            code = code << 1 | bits.take(1)?;
            u8::try_from(code - 0b1_1001_0000 + 144)
                .ok()
                .map(Symbol::Literal)
        }
    }
}

/// Text a secret is made of: printable ASCII and whitespace (and UTF-8,
/// if the bottle has secrets with non-ASCII characters).
fn is_text(b: u8) -> bool {
    matches!(b, b' '..=b'~' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

    use super::*;

    fn all(bytes: &[u8], format: Format) -> Vec<u8> {
        let mut out = Vec::new();
        Inflater::new().each_piece(bytes, format, &mut |p| {
            out.extend_from_slice(p);
            ControlFlow::Continue(())
        });
        out
    }

    fn compressed(text: &[u8]) -> Vec<(Format, Vec<u8>)> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(text).unwrap();
        let mut named = flate2::GzBuilder::new()
            .filename("key.txt")
            .comment("hidden")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), Compression::best());
        named.write_all(text).unwrap();
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::fast());
        zlib.write_all(text).unwrap();
        let mut raw = DeflateEncoder::new(Vec::new(), Compression::best());
        raw.write_all(text).unwrap();
        let mut stored = DeflateEncoder::new(Vec::new(), Compression::none());
        stored.write_all(text).unwrap();
        vec![
            (Format::Gzip, gz.finish().unwrap()),
            (Format::Gzip, named.finish().unwrap()),
            (Format::Zlib, zlib.finish().unwrap()),
            (Format::Deflate, raw.finish().unwrap()),
            (Format::Deflate, stored.finish().unwrap()),
            (
                Format::Zstd,
                ruzstd::encoding::compress_to_vec(
                    text,
                    ruzstd::encoding::CompressionLevel::Fastest,
                ),
            ),
        ]
    }

    #[test]
    fn streams_are_found_and_decompressed() {
        let short = b"sk-ant-api03-a-key-to-hide".to_vec();
        let long = b"lorem ipsum dolor sit amet ".repeat(10_000);
        let starts = Starts::new();
        for text in [short, long] {
            for (format, stream) in compressed(&text) {
                // Alone, behind other bytes, with more after it, cut short.
                let behind = [b"\x00\x01binary".as_slice(), &stream].concat();
                let after = [stream.as_slice(), b"trailing bytes"].concat();
                for (name, bytes) in [("alone", &stream), ("behind", &behind), ("after", &after)] {
                    if format == Format::Deflate && name == "behind" {
                        continue; // no header to find it by
                    }
                    let found = starts.find(bytes, false);
                    let at = found
                        .iter()
                        .find(|(_, f)| *f == format)
                        .map(|(at, _)| *at)
                        .unwrap_or_else(|| panic!("{format:?} {name}: {found:?}"));
                    assert_eq!(all(&bytes[at..], format), text, "{format:?} {name}");
                }
                let cut = &stream[..stream.len() * 2 / 3];
                let part = all(cut, format);
                assert!(text.starts_with(&part), "{format:?} cut short");
            }
        }
    }

    #[test]
    fn output_stops_when_the_sink_says() {
        let zeros = vec![0u8; 8 << 20];
        for (format, stream) in compressed(&zeros) {
            let mut seen = 0;
            Inflater::new().each_piece(&stream, format, &mut |p| {
                assert!(p.len() <= PIECE);
                seen += p.len();
                if seen >= 3 * PIECE {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            assert!(seen < 4 * PIECE, "{format:?}: {seen}");
        }
    }

    #[test]
    fn most_binary_is_not_taken_for_deflate() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut plausible = 0;
        for _ in 0..10_000 {
            let bytes: Vec<u8> = (0..32)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            plausible += usize::from(plausible_deflate(&bytes, false));
        }
        assert!(plausible < 500, "{plausible}");
        assert!(!plausible_deflate(b"", false));
        assert!(!plausible_deflate(b"\xff\xd8\xff\xe0 a jpeg", false));
        assert!(!plausible_deflate(b"\x89PNG\r\n\x1a\n", false));
        assert!(gzip_body(b"\x1f\x8b\x08\xe0 reserved flags").is_none());
        // A PNG's pixels and a PDF's pages are compressed by design.
        let idat = [
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".as_slice(),
            b"\x78\x9c\x01\x02",
        ]
        .concat();
        assert!(Starts::new().find(&idat, false).is_empty());
        let pdf = b"%PDF-1.7 obj << /Filter /FlateDecode >> stream \x78\x9c";
        assert!(Starts::new().find(pdf, false).is_empty());
        let other = b"other bytes first, then \x78\x9c";
        assert!(
            Starts::new()
                .find(other, false)
                .contains(&(24, Format::Zlib))
        );
        assert!(gzip_body(b"\x1f\x8b\x08\x08 no name end").is_none());
    }
}
