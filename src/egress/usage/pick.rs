//! A JSON document read as it streams for a few scalar fields, in constant
//! memory: the bytes may come split anywhere, the document may be any
//! size, and only the fields asked for (by their path of object keys) are
//! kept. Whatever is not asked for is read over, never held.
//!
//! It reads JSON strictly enough to tell a document from something else: a
//! byte out of place fails it, and a failed document gives nothing.

/// A field's path: the object keys from the top, e.g. `["usage", "input_tokens"]`.
pub(super) type Path = &'static [&'static str];

/// A field's value, as far as it matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scalar {
    /// A string, its first `TEXT_LIMIT` bytes.
    Text(String),
    /// A non-negative integer that fits a u64.
    Count(u64),
    /// Anything else: null, a boolean, another number, an object or array.
    Other,
}

/// Object nesting past this fails the document (model APIs nest a few).
const DEPTH_LIMIT: usize = 128;
/// Longer keys are read but match no path.
const KEY_LIMIT: usize = 64;
/// Bytes of a string value kept.
const TEXT_LIMIT: usize = 512;
/// Bytes of a number kept; a longer one is not a count.
const NUMBER_LIMIT: usize = 24;

/// Where the reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// A value is due (top level, after `:`, after `,` in an array).
    Value,
    /// Just after `[`: a value or `]`.
    FirstItem,
    /// Just after `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the end of its container.
    After,
    /// In a string (a key or a value).
    Str { key: bool, escape: Escape },
    /// In a number.
    Number,
    /// In `true`, `false` or `null`.
    Literal,
    /// The top-level value is complete; only whitespace may follow.
    End,
    /// Not JSON.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    No,
    /// After a backslash.
    Backslash,
    /// In `\uXXXX`: digits still due, the code so far.
    Unicode {
        left: u8,
        code: u32,
    },
}

/// An open object or array: for an object, the key of the member being read.
struct Frame {
    object: bool,
    key: Option<String>,
}

pub(super) struct Picker {
    wants: &'static [Path],
    values: Vec<Option<Scalar>>,
    stack: Vec<Frame>,
    lex: Lex,
    /// The string, number or literal being read, when it is kept.
    buf: Vec<u8>,
    /// Past its limit: a key that matches nothing, a number that is no count.
    overflow: bool,
    /// Which wanted path the value being read is at.
    want: Option<usize>,
}

impl Picker {
    /// A reader that keeps the values at `wants`.
    pub(super) fn new(wants: &'static [Path]) -> Picker {
        Picker {
            wants,
            values: vec![None; wants.len()],
            stack: Vec::new(),
            lex: Lex::Value,
            buf: Vec::new(),
            overflow: false,
            want: None,
        }
    }

    /// Reads on.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.lex == Lex::Failed {
                return;
            }
            // Runs of a string not kept are skipped in one go.
            if let Lex::Str {
                escape: Escape::No, ..
            } = self.lex
            {
                let run = bytes[i..]
                    .iter()
                    .position(|b| *b == b'"' || *b == b'\\' || *b < 0x20)
                    .unwrap_or(bytes.len() - i);
                if run > 0 {
                    self.keep(&bytes[i..i + run]);
                    i += run;
                    continue;
                }
            }
            if self.byte(bytes[i]) {
                i += 1;
            }
        }
    }

    /// The input has ended: whether it was one whole document.
    pub(super) fn finish(&mut self) -> bool {
        match self.lex {
            Lex::Number | Lex::Literal if self.stack.is_empty() => {
                self.scalar_end();
                self.lex == Lex::End
            }
            Lex::End => true,
            _ => false,
        }
    }

    /// Whether what was read is not JSON.
    pub(super) fn failed(&self) -> bool {
        self.lex == Lex::Failed
    }

    /// The string at `path`, if one was read there.
    pub(super) fn text(&self, path: Path) -> Option<&str> {
        match self.value(path)? {
            Scalar::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The count at `path`, if one was read there.
    pub(super) fn count(&self, path: Path) -> Option<u64> {
        match self.value(path)? {
            Scalar::Count(n) => Some(*n),
            _ => None,
        }
    }

    fn value(&self, path: Path) -> Option<&Scalar> {
        if self.failed() {
            return None;
        }
        let i = self.wants.iter().position(|w| *w == path)?;
        self.values[i].as_ref()
    }

    fn keep(&mut self, bytes: &[u8]) {
        let limit = match self.lex {
            Lex::Str { key: true, .. } => KEY_LIMIT,
            Lex::Str { key: false, .. } if self.want.is_some() => TEXT_LIMIT,
            Lex::Number if self.want.is_some() => NUMBER_LIMIT,
            Lex::Literal => 5,
            _ => return,
        };
        let room = limit.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Which wanted path a value starting now is at.
    fn wanted(&self) -> Option<usize> {
        if self.stack.is_empty() || self.stack.iter().any(|f| !f.object) {
            return None;
        }
        self.wants.iter().position(|w| {
            w.len() == self.stack.len()
                && w.iter()
                    .zip(&self.stack)
                    .all(|(k, f)| f.key.as_deref() == Some(*k))
        })
    }

    fn fail(&mut self) -> bool {
        self.lex = Lex::Failed;
        self.stack.clear();
        self.buf = Vec::new();
        true
    }

    /// Reads one byte; false when it must be read again in the new state.
    fn byte(&mut self, b: u8) -> bool {
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match self.lex {
            Lex::Failed => true,
            Lex::End => space || self.fail(),
            Lex::Value | Lex::FirstItem | Lex::FirstKey | Lex::Key | Lex::Colon | Lex::After
                if space =>
            {
                true
            }
            Lex::FirstItem if b == b']' => self.close(false),
            Lex::FirstKey if b == b'}' => self.close(true),
            Lex::Value | Lex::FirstItem => self.value_start(b),
            Lex::FirstKey | Lex::Key => {
                if b != b'"' {
                    return self.fail();
                }
                self.buf.clear();
                self.overflow = false;
                self.lex = Lex::Str {
                    key: true,
                    escape: Escape::No,
                };
                true
            }
            Lex::Colon => {
                if b != b':' {
                    return self.fail();
                }
                self.lex = Lex::Value;
                true
            }
            Lex::After => self.after(b),
            Lex::Str { key, escape } => self.string(key, escape, b),
            Lex::Number => {
                if b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E') {
                    self.keep(&[b]);
                    return true;
                }
                self.scalar_end();
                false
            }
            Lex::Literal => {
                if b.is_ascii_lowercase() {
                    self.keep(&[b]);
                    return true;
                }
                self.scalar_end();
                false
            }
        }
    }

    fn value_start(&mut self, b: u8) -> bool {
        self.want = self.wanted();
        self.buf.clear();
        self.overflow = false;
        match b {
            b'{' | b'[' => {
                if let Some(i) = self.want {
                    self.values[i] = Some(Scalar::Other);
                }
                if self.stack.len() >= DEPTH_LIMIT {
                    return self.fail();
                }
                let object = b == b'{';
                self.stack.push(Frame { object, key: None });
                self.lex = if object {
                    Lex::FirstKey
                } else {
                    Lex::FirstItem
                };
                true
            }
            b'"' => {
                self.lex = Lex::Str {
                    key: false,
                    escape: Escape::No,
                };
                true
            }
            b'-' | b'0'..=b'9' => {
                self.lex = Lex::Number;
                self.keep(&[b]);
                true
            }
            b't' | b'f' | b'n' => {
                self.lex = Lex::Literal;
                self.keep(&[b]);
                true
            }
            _ => self.fail(),
        }
    }

    fn after(&mut self, b: u8) -> bool {
        let Some(top) = self.stack.last_mut() else {
            return self.fail();
        };
        match (b, top.object) {
            (b',', true) => {
                top.key = None;
                self.lex = Lex::Key;
                true
            }
            (b',', false) => {
                self.lex = Lex::Value;
                true
            }
            (b'}', true) => self.close(true),
            (b']', false) => self.close(false),
            _ => self.fail(),
        }
    }

    fn close(&mut self, object: bool) -> bool {
        match self.stack.pop() {
            Some(f) if f.object == object => {
                self.value_end();
                true
            }
            _ => self.fail(),
        }
    }

    fn value_end(&mut self) {
        self.lex = if self.stack.is_empty() {
            Lex::End
        } else {
            Lex::After
        };
    }

    fn string(&mut self, key: bool, escape: Escape, b: u8) -> bool {
        let next = |escape| Lex::Str { key, escape };
        match escape {
            Escape::No => match b {
                b'"' => {
                    if key {
                        let name = (!self.overflow)
                            .then(|| String::from_utf8(std::mem::take(&mut self.buf)).ok())
                            .flatten();
                        if let Some(top) = self.stack.last_mut() {
                            top.key = name;
                        }
                        self.lex = Lex::Colon;
                    } else {
                        if let Some(i) = self.want {
                            let text = String::from_utf8_lossy(&self.buf).into_owned();
                            self.values[i] = Some(Scalar::Text(text));
                        }
                        self.value_end();
                    }
                    true
                }
                b'\\' => {
                    self.lex = next(Escape::Backslash);
                    true
                }
                0..0x20 => self.fail(),
                _ => {
                    self.keep(&[b]);
                    true
                }
            },
            Escape::Backslash => {
                let c = match b {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        self.lex = next(Escape::Unicode { left: 4, code: 0 });
                        return true;
                    }
                    _ => return self.fail(),
                };
                self.keep(&[c]);
                self.lex = next(Escape::No);
                true
            }
            Escape::Unicode { left, code } => {
                let Some(digit) = (b as char).to_digit(16) else {
                    return self.fail();
                };
                let code = code * 16 + digit;
                if left > 1 {
                    self.lex = next(Escape::Unicode {
                        left: left - 1,
                        code,
                    });
                    return true;
                }
                // A surrogate half stands for itself: U+FFFD.
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut utf8 = [0; 4];
                self.lex = next(Escape::No);
                self.keep(c.encode_utf8(&mut utf8).as_bytes());
                true
            }
        }
    }

    /// A number or literal has ended.
    fn scalar_end(&mut self) {
        let text = std::mem::take(&mut self.buf);
        let value = if self.lex == Lex::Literal {
            if !matches!(text.as_slice(), b"true" | b"false" | b"null") || self.overflow {
                self.fail();
                return;
            }
            Scalar::Other
        } else if !self.overflow && !text.is_empty() && text.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse().ok())
                .map_or(Scalar::Other, Scalar::Count)
        } else {
            Scalar::Other
        };
        if let Some(i) = self.want {
            self.values[i] = Some(value);
        }
        self.value_end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTS: &[Path] = &[
        &["model"],
        &["usage", "input_tokens"],
        &["usage", "details", "cached"],
    ];

    fn read(doc: &str) -> (Picker, bool) {
        let mut p = Picker::new(WANTS);
        p.feed(doc.as_bytes());
        let whole = p.finish();
        (p, whole)
    }

    #[test]
    fn picks_the_fields_asked_for_wherever_they_are() {
        let doc = r#" {"id":"x","list":[1,{"model":"no"},"s"],"model":"m\u00e9-\"1\"",
            "usage":{"output_tokens":3,"input_tokens":12,"details":{"cached":7}},
            "more":{"usage":{"input_tokens":99}}, "n": -1.5e3, "t": true, "z": null} "#;
        let (p, whole) = read(doc);
        assert!(whole);
        assert_eq!(p.text(&["model"]), Some("mé-\"1\""));
        assert_eq!(p.count(&["usage", "input_tokens"]), Some(12));
        assert_eq!(p.count(&["usage", "details", "cached"]), Some(7));
    }

    #[test]
    fn split_anywhere_reads_the_same() {
        let doc = r#"{"model":"claude-é","usage":{"input_tokens":123456,"details":{"cached":0}}}"#;
        for at in 0..=doc.len() {
            let mut p = Picker::new(WANTS);
            p.feed(&doc.as_bytes()[..at]);
            p.feed(&doc.as_bytes()[at..]);
            assert!(p.finish(), "split at {at}");
            assert_eq!(p.text(&["model"]), Some("claude-é"), "split at {at}");
            assert_eq!(p.count(&["usage", "input_tokens"]), Some(123456));
        }
    }

    #[test]
    fn what_is_not_a_count_or_not_json() {
        let (p, whole) = read(r#"{"model":5,"usage":{"input_tokens":1.5}}"#);
        assert!(whole);
        assert_eq!(p.text(&["model"]), None);
        assert_eq!(p.count(&["usage", "input_tokens"]), None);
        let (p, _) = read(r#"{"usage":{"input_tokens":99999999999999999999999}}"#);
        assert_eq!(p.count(&["usage", "input_tokens"]), None);
        for bad in [
            "hello",
            "{\"model\":\"a\"} tail",
            "{\"model\" \"a\"}",
            "{\"model\":\"a\",}x",
            "[1 2]",
            "{\"model\":tru}",
            "{\"a\":\"\\q\"}",
            "{]",
            "\"raw\nnewline\"",
        ] {
            let (p, whole) = read(bad);
            assert!(p.failed() && !whole, "{bad}");
            assert_eq!(p.text(&["model"]), None, "{bad}");
        }
        let (p, whole) = read(r#"{"model":"cut","usage":{"input_t"#);
        assert!(!whole && !p.failed());
        assert_eq!(p.text(&["model"]), Some("cut"));
        assert!(read("42").1 && read(" [] ").1);
    }

    #[test]
    fn memory_stays_small_whatever_comes() {
        let mut p = Picker::new(WANTS);
        p.feed(b"{\"big\":\"");
        for _ in 0..1000 {
            p.feed(&[b'x'; 1024]);
        }
        p.feed(b"\",\"model\":\"");
        p.feed("m".repeat(10_000).as_bytes());
        p.feed(b"\",\"");
        p.feed("k".repeat(10_000).as_bytes());
        p.feed(b"\":1}");
        assert!(p.finish());
        assert_eq!(p.text(&["model"]).map(str::len), Some(TEXT_LIMIT));
        assert!(p.buf.capacity() <= 64 * 1024);
        let mut deep = Picker::new(WANTS);
        deep.feed("[".repeat(DEPTH_LIMIT + 1).as_bytes());
        assert!(deep.failed());
    }
}
