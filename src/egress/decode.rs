//! Content codings, so that DLP and the server-tools check see what the
//! other side will read, not compressed bytes. Bounded: a body that
//! decodes past its limit (a zip bomb) is an error, not a memory spike.
//!
//! Requests may be gzip, deflate or zstd, decoded whole once buffered.
//! Responses may be gzip or deflate (the proxy asks for no other), decoded
//! as they stream.

use std::io::{self, Read, Write};

use flate2::bufread;
use flate2::write;
use http::HeaderMap;
use http::header::CONTENT_ENCODING;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    /// zlib-wrapped deflate, as the standard says, or raw deflate, as some
    /// servers send.
    Deflate,
    Zstd,
}

impl Coding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Zstd => "zstd",
        }
    }
}

/// The body's coding from its Content-Encoding headers: None for identity;
/// Err names what cannot be decoded (an unknown coding, or several stacked).
pub(crate) fn coding(headers: &HeaderMap) -> Result<Option<Coding>, String> {
    let mut found = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let value = value
            .to_str()
            .map_err(|_| "a Content-Encoding that is not text".to_owned())?;
        for token in value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
            match token.as_str() {
                "" | "identity" => {}
                "gzip" | "x-gzip" => found.push(Coding::Gzip),
                "deflate" => found.push(Coding::Deflate),
                "zstd" => found.push(Coding::Zstd),
                other => return Err(format!("Content-Encoding '{other}'")),
            }
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(format!(
            "stacked Content-Encodings ({})",
            found
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("decodes to more than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("is not valid {coding}: {source}")]
    Corrupt {
        coding: &'static str,
        /// What the decoder said, or that data follows the stream.
        #[source]
        source: io::Error,
    },
}

/// The largest zstd window accepted: bounds the decoder's memory.
pub(crate) const ZSTD_MAX_WINDOW: u64 = 8 * 1024 * 1024;
const PIECE: usize = 64 * 1024;

/// Decodes a whole body, at most `limit` bytes of output per reading.
/// `sink` gets the output in pieces, with the index of its reading: a
/// deflate body is read both as zlib (0) and as raw deflate (1), since
/// upstreams differ on which they try; other codings have one reading.
/// Ok lists the readings that decoded completely (at least one); a failed
/// reading may have sent some output first.
pub(crate) fn decode_all(
    body: &[u8],
    coding: Coding,
    limit: usize,
    mut sink: impl FnMut(usize, &[u8]),
) -> Result<Vec<usize>, DecodeError> {
    let corrupt = |source| DecodeError::Corrupt {
        coding: coding.name(),
        source,
    };
    match coding {
        Coding::Gzip => {
            let mut reader = bufread::MultiGzDecoder::new(body);
            pump(&mut reader, limit, |p| sink(0, p)).map_err(|e| or_corrupt(e, &corrupt))?;
            Ok(vec![0])
        }
        Coding::Zstd => {
            pump(&mut ZstdFrames::new(body), limit, |p| sink(0, p))
                .map_err(|e| or_corrupt(e, &corrupt))?;
            Ok(vec![0])
        }
        Coding::Deflate => {
            let mut readings = Vec::new();
            let mut first_error = None;
            let zlib = deflate_reading(bufread::ZlibDecoder::new(body), limit, |p| sink(0, p));
            match zlib {
                Ok(()) => readings.push(0),
                Err(e @ DecodeError::TooLarge { .. }) => return Err(e),
                Err(e) => first_error = Some(e),
            }
            let raw = deflate_reading(bufread::DeflateDecoder::new(body), limit, |p| sink(1, p));
            match raw {
                Ok(()) => readings.push(1),
                Err(e @ DecodeError::TooLarge { .. }) => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
            match first_error {
                Some(e) if readings.is_empty() => Err(e),
                _ => Ok(readings),
            }
        }
    }
}

/// One reading of a deflate body; the whole input must be used.
fn deflate_reading<R: DeflateRead>(
    mut reader: R,
    limit: usize,
    sink: impl FnMut(&[u8]),
) -> Result<(), DecodeError> {
    let corrupt = |source| DecodeError::Corrupt {
        coding: "deflate",
        source,
    };
    pump(&mut reader, limit, sink).map_err(|e| or_corrupt(e, &corrupt))?;
    if reader.rest() > 0 {
        return Err(corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            "data after the end of the compressed stream",
        )));
    }
    Ok(())
}

trait DeflateRead: Read {
    fn rest(&self) -> usize;
}

impl DeflateRead for bufread::ZlibDecoder<&[u8]> {
    fn rest(&self) -> usize {
        self.get_ref().len()
    }
}

impl DeflateRead for bufread::DeflateDecoder<&[u8]> {
    fn rest(&self) -> usize {
        self.get_ref().len()
    }
}

enum PumpError {
    TooLarge(usize),
    Io(io::Error),
}

fn or_corrupt(e: PumpError, corrupt: &impl Fn(io::Error) -> DecodeError) -> DecodeError {
    match e {
        PumpError::TooLarge(limit) => DecodeError::TooLarge { limit },
        PumpError::Io(e) => corrupt(e),
    }
}

fn pump(
    reader: &mut impl Read,
    limit: usize,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), PumpError> {
    let mut buf = vec![0u8; PIECE];
    let mut total = 0usize;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PumpError::Io(e)),
        };
        total += n;
        if total > limit {
            return Err(PumpError::TooLarge(limit));
        }
        sink(&buf[..n]);
    }
}

/// Every frame of a zstd body, skippable frames skipped.
struct ZstdFrames<'a> {
    rest: &'a [u8],
    frame: Option<ruzstd::decoding::StreamingDecoder<&'a [u8], ruzstd::decoding::FrameDecoder>>,
}

impl<'a> ZstdFrames<'a> {
    fn new(body: &'a [u8]) -> ZstdFrames<'a> {
        ZstdFrames {
            rest: body,
            frame: None,
        }
    }
}

impl Read for ZstdFrames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                if !frame.decoder.is_finished() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "truncated frame",
                    ));
                }
                if let Some(frame) = self.frame.take() {
                    self.rest = frame.into_inner();
                }
            }
            if self.rest.is_empty() {
                return Ok(0);
            }
            let magic = self
                .rest
                .get(..4)
                .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
            if let Some(0x184D_2A50..=0x184D_2A5F) = magic {
                let len = self
                    .rest
                    .get(4..8)
                    .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "truncated skippable frame")
                    })?;
                self.rest = self.rest.get(8 + len..).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "truncated skippable frame")
                })?;
                continue;
            }
            let frame = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(
                self.rest,
                ZSTD_MAX_WINDOW,
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.frame = Some(frame);
        }
    }
}

/// A gzip or deflate response decoded as it streams, in bounded steps.
pub(crate) struct StreamDecoder {
    state: State,
}

enum State {
    Gzip(write::MultiGzDecoder<Vec<u8>>),
    Zlib(write::ZlibDecoder<Vec<u8>>),
    Raw(write::DeflateDecoder<Vec<u8>>),
    /// Deflate, until two bytes tell zlib from raw.
    Sniff(Vec<u8>),
}

/// Input taken per step: bounds the output of one step (deflate expands
/// at most about 1032 times).
const STEP_INPUT: usize = 1024;

impl StreamDecoder {
    /// None for a coding that cannot be decoded as it streams.
    pub(crate) fn new(coding: Coding) -> Option<StreamDecoder> {
        let state = match coding {
            Coding::Gzip => State::Gzip(write::MultiGzDecoder::new(Vec::new())),
            Coding::Deflate => State::Sniff(Vec::new()),
            Coding::Zstd => return None,
        };
        Some(StreamDecoder { state })
    }

    /// Takes some of `input`; returns how much it took and what came out.
    pub(crate) fn step(&mut self, input: &[u8]) -> io::Result<(usize, Vec<u8>)> {
        let input = &input[..input.len().min(STEP_INPUT)];
        if let State::Sniff(head) = &mut self.state {
            head.extend_from_slice(input);
            if head.len() < 2 {
                return Ok((input.len(), Vec::new()));
            }
            let head = std::mem::take(head);
            self.state = if is_zlib_header(head[0], head[1]) {
                State::Zlib(write::ZlibDecoder::new(Vec::new()))
            } else {
                State::Raw(write::DeflateDecoder::new(Vec::new()))
            };
            let out = self.write_all(&head)?;
            return Ok((input.len(), out));
        }
        let taken = match &mut self.state {
            State::Gzip(d) => d.write(input)?,
            State::Zlib(d) => d.write(input)?,
            State::Raw(d) => d.write(input)?,
            State::Sniff(_) => 0,
        };
        if taken == 0 && !input.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data after the end of the compressed stream",
            ));
        }
        Ok((taken, self.drain()?))
    }

    /// The rest of the output, once the input has ended; an error if the
    /// stream was cut short.
    pub(crate) fn finish(&mut self) -> io::Result<Vec<u8>> {
        match &mut self.state {
            State::Gzip(d) => d.try_finish()?,
            State::Zlib(d) => d.try_finish()?,
            State::Raw(d) => d.try_finish()?,
            State::Sniff(head) if head.is_empty() => return Ok(Vec::new()),
            State::Sniff(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "truncated deflate stream",
                ));
            }
        }
        self.drain()
    }

    fn write_all(&mut self, mut input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (taken, more) = self.step(input)?;
            out.extend_from_slice(&more);
            input = &input[taken..];
        }
        Ok(out)
    }

    fn drain(&mut self) -> io::Result<Vec<u8>> {
        Ok(match &mut self.state {
            State::Gzip(d) => {
                d.flush()?;
                std::mem::take(d.get_mut())
            }
            State::Zlib(d) => {
                d.flush()?;
                std::mem::take(d.get_mut())
            }
            State::Raw(d) => {
                d.flush()?;
                std::mem::take(d.get_mut())
            }
            State::Sniff(_) => Vec::new(),
        })
    }
}

/// RFC 1950: deflate method, a window the spec allows, and a check that
/// makes the pair a multiple of 31.
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = write::GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = write::ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw(data: &[u8]) -> Vec<u8> {
        let mut e = write::DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    /// Each reading's output; empty for one that failed.
    fn all(body: &[u8], coding: Coding, limit: usize) -> Result<Vec<Vec<u8>>, DecodeError> {
        let mut out = vec![Vec::new(), Vec::new()];
        let ok = decode_all(body, coding, limit, |i, p| out[i].extend_from_slice(p))?;
        for (i, reading) in out.iter_mut().enumerate() {
            if !ok.contains(&i) {
                reading.clear();
            }
        }
        Ok(out)
    }

    #[test]
    fn codings_from_headers() {
        type Case<'a> = (&'a [&'a str], Result<Option<Coding>, &'a str>);
        let cases: &[Case] = &[
            (&[], Ok(None)),
            (&["identity"], Ok(None)),
            (&["gzip"], Ok(Some(Coding::Gzip))),
            (&["X-GZIP"], Ok(Some(Coding::Gzip))),
            (&[" deflate "], Ok(Some(Coding::Deflate))),
            (&["zstd"], Ok(Some(Coding::Zstd))),
            (&["identity, gzip"], Ok(Some(Coding::Gzip))),
            (&["br"], Err("'br'")),
            (&["compress"], Err("'compress'")),
            (&["gzip, gzip"], Err("stacked")),
            (&["gzip", "deflate"], Err("stacked")),
        ];
        for (values, want) in cases {
            let mut headers = HeaderMap::new();
            for v in *values {
                headers.append(CONTENT_ENCODING, v.parse().unwrap());
            }
            match (coding(&headers), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{values:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{values:?}: {got}"),
                (got, want) => panic!("{values:?}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn whole_bodies() {
        let text = b"{\"note\": \"the secret is here\"}".repeat(100);
        assert_eq!(all(&gzip(&text), Coding::Gzip, 1 << 20).unwrap()[0], text);
        let two = [gzip(b"first "), gzip(b"second")].concat();
        assert_eq!(
            all(&two, Coding::Gzip, 1 << 20).unwrap()[0],
            b"first second"
        );
        assert_eq!(
            all(&zlib(&text), Coding::Deflate, 1 << 20).unwrap()[0],
            text
        );
        assert_eq!(all(&raw(&text), Coding::Deflate, 1 << 20).unwrap()[1], text);
        assert_eq!(all(&zstd(&text), Coding::Zstd, 1 << 20).unwrap()[0], text);
        let frames = [zstd(b"one "), zstd(b"two")].concat();
        assert_eq!(all(&frames, Coding::Zstd, 1 << 20).unwrap()[0], b"one two");
        let mut skippable = vec![0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
        skippable.extend(zstd(b"after"));
        assert_eq!(all(&skippable, Coding::Zstd, 1 << 20).unwrap()[0], b"after");
    }

    #[test]
    fn bad_bodies_are_errors() {
        let text = b"hello world, hello world".repeat(10);
        let mut cut = gzip(&text);
        cut.truncate(cut.len() - 4);
        assert!(matches!(
            all(&cut, Coding::Gzip, 1 << 20),
            Err(DecodeError::Corrupt { .. })
        ));
        let mut cut = zlib(&text);
        cut.truncate(cut.len() / 2);
        assert!(all(&cut, Coding::Deflate, 1 << 20).is_err());
        let mut trailing = gzip(&text);
        trailing.extend_from_slice(b"plain text after");
        assert!(all(&trailing, Coding::Gzip, 1 << 20).is_err());
        let mut trailing = zlib(&text);
        trailing.extend_from_slice(b"plain");
        assert!(matches!(
            all(&trailing, Coding::Deflate, 1 << 20),
            Err(DecodeError::Corrupt { .. })
        ));
        let mut cut = zstd(&text);
        cut.truncate(cut.len() - 3);
        assert!(all(&cut, Coding::Zstd, 1 << 20).is_err());
        assert!(all(b"not compressed at all", Coding::Gzip, 1 << 20).is_err());
        assert!(all(b"not compressed at all", Coding::Zstd, 1 << 20).is_err());
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        for (coding, body) in [
            (Coding::Gzip, gzip(&zeros)),
            (Coding::Deflate, zlib(&zeros)),
            (Coding::Deflate, raw(&zeros)),
            (Coding::Zstd, zstd(&zeros)),
        ] {
            assert!(body.len() < 64 * 1024, "{coding:?}: {}", body.len());
            assert!(
                matches!(
                    all(&body, coding, 1024 * 1024),
                    Err(DecodeError::TooLarge { limit: 1_048_576 })
                ),
                "{coding:?}"
            );
        }
    }

    fn streamed(coding: Coding, body: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let mut d = StreamDecoder::new(coding).unwrap();
        let mut out = Vec::new();
        for mut piece in body.chunks(chunk) {
            while !piece.is_empty() {
                let (taken, more) = d.step(piece)?;
                assert!(more.len() <= 2 * 1024 * 1024, "one step is bounded");
                out.extend(more);
                piece = &piece[taken..];
            }
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn streams() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for chunk in [1, 7, 1000, 65536] {
            assert_eq!(streamed(Coding::Gzip, &gzip(&text), chunk).unwrap(), text);
            assert_eq!(
                streamed(Coding::Deflate, &zlib(&text), chunk).unwrap(),
                text
            );
            assert_eq!(streamed(Coding::Deflate, &raw(&text), chunk).unwrap(), text);
        }
        let mut cut = gzip(&text);
        cut.truncate(cut.len() - 2);
        assert!(streamed(Coding::Gzip, &cut, 4096).is_err());
        let mut trailing = zlib(&text);
        trailing.extend_from_slice(b"more");
        assert!(streamed(Coding::Deflate, &trailing, 4096).is_err());
        assert!(StreamDecoder::new(Coding::Zstd).is_none());
        let zeros = gzip(&vec![0u8; 16 * 1024 * 1024]);
        assert_eq!(
            streamed(Coding::Gzip, &zeros, 65536).unwrap().len(),
            16 * 1024 * 1024
        );
    }
}
