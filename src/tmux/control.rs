//! The tmux control-mode protocol (tmux 3.3a), parsed: bytes in, events
//! out. Pure: no IO, no time.
//!
//! A command's reply is a block: `%begin TIME NUMBER FLAGS`, its output
//! lines, then `%end` or `%error` with the same three numbers. Only such a
//! matching line closes a block: output lines may start with `%`, and may
//! even be a forged `%end` with other numbers. FLAGS bit 1 marks commands
//! this client sent; the client matches those blocks to its commands in
//! FIFO order. Outside blocks come notifications (`%output %3 data`, with
//! bytes below 0x20 and `\` written as `\ooo`), `%exit`, and sometimes stray
//! lines (a hook's output), which are reported, never fatal.

use std::fmt;

/// A line longer than this is dropped whole: the parser's memory stays
/// bounded whatever arrives.
const MAX_LINE: usize = 16 * 1024 * 1024;
/// Lines kept of one reply block.
const MAX_BLOCK_LINES: usize = 100_000;

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        /// A tmux id; its Display form is a target (`%3`, `@1`, `$0`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            /// The id from its target form; None for anything else.
            pub fn parse(s: &str) -> Option<$name> {
                s.strip_prefix($prefix)?.parse().ok().map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(PaneId, "%");
id_type!(WindowId, "@");
id_type!(SessionId, "$");

/// What one line of the stream completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A command's reply block.
    Reply(Reply),
    /// A notification.
    Notification(Notification),
    /// `%exit`, with its reason if any. Nothing follows.
    Exit(Option<String>),
    /// A line outside any block that is not a notification.
    Stray(Vec<u8>),
}

/// A command's reply block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The command's number, as tmux counts them.
    pub number: u64,
    /// The command came from this client (flags bit 1).
    pub from_client: bool,
    /// `%end`, not `%error`.
    pub ok: bool,
    /// The output (or error) lines.
    pub lines: Vec<String>,
}

/// A notification: a line outside blocks that tmux's control mode
/// documents (`%name ...`), its fields parsed. Each variant is the
/// notification of that name; tmux(1), CONTROL MODE, says when each comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `%output`: what a pane's program wrote.
    Output {
        /// The pane.
        pane: PaneId,
        /// The bytes, unescaped.
        data: Vec<u8>,
    },
    /// `%extended-output`: output, with how late it is (flow control).
    ExtendedOutput {
        /// The pane.
        pane: PaneId,
        /// How long the output waited, in milliseconds.
        age_ms: u64,
        /// The bytes, unescaped.
        data: Vec<u8>,
    },
    /// `%pause`: the pane's output is paused (flow control).
    Pause(PaneId),
    /// `%continue`: the pane's output flows again.
    Continue(PaneId),
    /// `%window-add`: a window was linked to this session.
    WindowAdd(WindowId),
    /// `%window-close`: a window of this session closed.
    WindowClose(WindowId),
    /// `%window-renamed`: a window of this session was renamed.
    WindowRenamed {
        /// The window.
        window: WindowId,
        /// Its new name.
        name: String,
    },
    /// `%unlinked-window-add`: a window was made in another session.
    UnlinkedWindowAdd(WindowId),
    /// `%unlinked-window-close`: a window of another session closed.
    UnlinkedWindowClose(WindowId),
    /// `%unlinked-window-renamed`: a window of another session was renamed.
    UnlinkedWindowRenamed {
        /// The window.
        window: WindowId,
        /// Its new name.
        name: String,
    },
    /// `%window-pane-changed`: a window's active pane changed.
    WindowPaneChanged {
        /// The window.
        window: WindowId,
        /// Its active pane now.
        pane: PaneId,
    },
    /// `%layout-change`: a window's layout changed.
    LayoutChange {
        /// The window.
        window: WindowId,
        /// The layout, in tmux's notation.
        layout: String,
    },
    /// `%session-changed`: this client now shows another session.
    SessionChanged {
        /// The session.
        session: SessionId,
        /// Its name.
        name: String,
    },
    /// `%client-session-changed`: another client now shows another session.
    ClientSessionChanged {
        /// The client's name.
        client: String,
        /// The session.
        session: SessionId,
        /// Its name.
        name: String,
    },
    /// `%session-renamed`: this session was renamed.
    SessionRenamed {
        /// Its new name.
        name: String,
    },
    /// `%session-window-changed`: a session's current window changed.
    SessionWindowChanged {
        /// The session.
        session: SessionId,
        /// Its current window now.
        window: WindowId,
    },
    /// `%sessions-changed`: a session was made or closed.
    SessionsChanged,
    /// `%client-detached`: a client detached.
    ClientDetached {
        /// The client's name.
        client: String,
    },
    /// `%pane-mode-changed`: a pane entered or left a mode (copy mode...).
    PaneModeChanged(PaneId),
    /// `%subscription-changed`: a subscribed format's value changed.
    SubscriptionChanged {
        /// The subscription's name.
        name: String,
        /// The format's value now.
        value: String,
    },
    /// One this parser does not model, or a malformed known one: the line.
    Other(String),
}

struct Block {
    header: (u64, u64, u32),
    lines: Vec<String>,
}

/// The stream's state between lines: the open block, a partial line.
#[derive(Default)]
pub(crate) struct Parser {
    buf: Vec<u8>,
    block: Option<Block>,
    /// Dropping the rest of a line that grew past MAX_LINE.
    skipping: bool,
    exited: bool,
}

impl Parser {
    pub(crate) fn new() -> Parser {
        Parser::default()
    }

    /// Feeds bytes as they arrive; returns the events they complete.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(nl);
            rest = &tail[1..];
            if self.skipping {
                self.skipping = false;
                self.buf.clear();
                continue;
            }
            let mut line = std::mem::take(&mut self.buf);
            line.extend_from_slice(head);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut events);
        }
        if !self.skipping {
            self.buf.extend_from_slice(rest);
            if self.buf.len() > MAX_LINE {
                self.buf = Vec::new();
                self.skipping = true;
            }
        }
        events
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<Event>) {
        if self.exited {
            return;
        }
        if let Some(block) = &mut self.block {
            let closing = closes(line, block.header);
            if closing.is_none() && !is_exit(line) {
                if block.lines.len() < MAX_BLOCK_LINES {
                    block.lines.push(String::from_utf8_lossy(line).into_owned());
                }
                return;
            }
            let Some(block) = self.block.take() else {
                return;
            };
            events.push(Event::Reply(Reply {
                number: block.header.1,
                from_client: block.header.2 & 1 == 1,
                ok: closing == Some(true),
                lines: block.lines,
            }));
            if closing.is_some() {
                return;
            }
        }
        if is_exit(line) {
            let reason = line
                .get(6..)
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .filter(|r| !r.is_empty());
            events.push(Event::Exit(reason));
            self.exited = true;
            return;
        }
        if let Some(header) = line.strip_prefix(b"%begin ").and_then(numbers) {
            self.block = Some(Block {
                header,
                lines: Vec::new(),
            });
            return;
        }
        if line.first() == Some(&b'%') {
            events.push(Event::Notification(notification(line)));
        } else {
            events.push(Event::Stray(line.to_vec()));
        }
    }
}

fn is_exit(line: &[u8]) -> bool {
    line == b"%exit" || line.starts_with(b"%exit ")
}

/// Some(true) for `%end`, Some(false) for `%error`, with matching numbers.
fn closes(line: &[u8], header: (u64, u64, u32)) -> Option<bool> {
    let (ok, rest) = if let Some(rest) = line.strip_prefix(b"%end ") {
        (true, rest)
    } else {
        (false, line.strip_prefix(b"%error ")?)
    };
    (numbers(rest) == Some(header)).then_some(ok)
}

/// `TIME NUMBER FLAGS`.
fn numbers(rest: &[u8]) -> Option<(u64, u64, u32)> {
    let text = std::str::from_utf8(rest).ok()?;
    let mut it = text.split(' ');
    let parsed = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    it.next().is_none().then_some(parsed)
}

/// One `%`-line outside a command's block; what it does not know (or
/// cannot parse) is `Other`.
fn notification(line: &[u8]) -> Notification {
    let other = || Notification::Other(String::from_utf8_lossy(line).into_owned());
    // `%output %P data`: the data is bytes, octal-escaped.
    if let Some(rest) = line.strip_prefix(b"%output ") {
        let (pane, data) = split_word(rest);
        return match PaneId::parse(pane) {
            Some(pane) => Notification::Output {
                pane,
                data: decode_octal(data),
            },
            None => other(),
        };
    }
    if let Some(rest) = line.strip_prefix(b"%extended-output ") {
        let (pane, rest) = split_word(rest);
        let (age, _) = split_word(rest);
        let data = find(rest, b" : ").map(|i| &rest[i + 3..]);
        return match (PaneId::parse(pane), age.parse(), data) {
            (Some(pane), Ok(age_ms), Some(data)) => Notification::ExtendedOutput {
                pane,
                age_ms,
                data: decode_octal(data),
            },
            _ => other(),
        };
    }
    text_notification(&String::from_utf8_lossy(line)).unwrap_or_else(other)
}

/// A notification whose arguments are text (all but the output ones);
/// None for an unknown kind or malformed arguments. One arm a kind.
fn text_notification(text: &str) -> Option<Notification> {
    let mut words = text.splitn(2, ' ');
    let kind = words.next().unwrap_or("");
    let args = words.next().unwrap_or("");
    let (first, rest) = args.split_once(' ').unwrap_or((args, ""));
    match kind {
        "%pause" => PaneId::parse(first).map(Notification::Pause),
        "%continue" => PaneId::parse(first).map(Notification::Continue),
        "%pane-mode-changed" => PaneId::parse(first).map(Notification::PaneModeChanged),
        "%window-add" => WindowId::parse(first).map(Notification::WindowAdd),
        "%window-close" => WindowId::parse(first).map(Notification::WindowClose),
        "%unlinked-window-add" => WindowId::parse(first).map(Notification::UnlinkedWindowAdd),
        "%unlinked-window-close" => WindowId::parse(first).map(Notification::UnlinkedWindowClose),
        "%window-renamed" => WindowId::parse(first).map(|window| Notification::WindowRenamed {
            window,
            name: rest.to_owned(),
        }),
        "%unlinked-window-renamed" => {
            WindowId::parse(first).map(|window| Notification::UnlinkedWindowRenamed {
                window,
                name: rest.to_owned(),
            })
        }
        "%window-pane-changed" => WindowId::parse(first)
            .zip(PaneId::parse(rest))
            .map(|(window, pane)| Notification::WindowPaneChanged { window, pane }),
        "%layout-change" => WindowId::parse(first).map(|window| Notification::LayoutChange {
            window,
            layout: rest.split(' ').next().unwrap_or("").to_owned(),
        }),
        "%session-changed" => SessionId::parse(first).map(|session| Notification::SessionChanged {
            session,
            name: rest.to_owned(),
        }),
        "%client-session-changed" => {
            let (session, name) = rest.split_once(' ').unwrap_or((rest, ""));
            SessionId::parse(session).map(|session| Notification::ClientSessionChanged {
                client: first.to_owned(),
                session,
                name: name.to_owned(),
            })
        }
        "%session-renamed" => Some(Notification::SessionRenamed {
            // 3.3a sends `$S name`; the man page says only the name.
            name: if SessionId::parse(first).is_some() {
                rest
            } else {
                args
            }
            .to_owned(),
        }),
        "%session-window-changed" => SessionId::parse(first)
            .zip(WindowId::parse(rest))
            .map(|(session, window)| Notification::SessionWindowChanged { session, window }),
        "%sessions-changed" => Some(Notification::SessionsChanged),
        "%client-detached" => Some(Notification::ClientDetached {
            client: args.to_owned(),
        }),
        "%subscription-changed" => {
            args.split_once(" : ")
                .map(|(head, value)| Notification::SubscriptionChanged {
                    name: head.split(' ').next().unwrap_or("").to_owned(),
                    value: value.to_owned(),
                })
        }
        _ => None,
    }
}

/// The first space-separated word (as text) and the rest (as bytes).
fn split_word(bytes: &[u8]) -> (&str, &[u8]) {
    let end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    let word = std::str::from_utf8(&bytes[..end]).unwrap_or("");
    (word, bytes.get(end + 1..).unwrap_or(&[]))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Undoes `%output`'s escaping: `\ooo` is the byte with that octal value;
/// everything else is itself.
fn decode_octal(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\\'
            && let Some(d) = data.get(i + 1..i + 4)
            && d.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (u32::from(d[0] - b'0') << 6)
                | (u32::from(d[1] - b'0') << 3)
                | u32::from(d[2] - b'0');
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Vec<Event> {
        Parser::new().feed(bytes)
    }

    fn reply(number: u64, ok: bool, lines: &[&str]) -> Event {
        Event::Reply(Reply {
            number,
            from_client: true,
            ok,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        })
    }

    #[test]
    fn notifications() {
        let cases: Vec<(&str, Notification)> = vec![
            (
                "%output %3 hi\\015\\012\\134x",
                Notification::Output {
                    pane: PaneId(3),
                    data: b"hi\r\n\\x".to_vec(),
                },
            ),
            (
                "%extended-output %2 15 : abc",
                Notification::ExtendedOutput {
                    pane: PaneId(2),
                    age_ms: 15,
                    data: b"abc".to_vec(),
                },
            ),
            ("%pause %1", Notification::Pause(PaneId(1))),
            ("%continue %1", Notification::Continue(PaneId(1))),
            ("%window-add @4", Notification::WindowAdd(WindowId(4))),
            ("%window-close @4", Notification::WindowClose(WindowId(4))),
            (
                "%window-renamed @4 my name",
                Notification::WindowRenamed {
                    window: WindowId(4),
                    name: "my name".into(),
                },
            ),
            (
                "%unlinked-window-close @1",
                Notification::UnlinkedWindowClose(WindowId(1)),
            ),
            (
                "%window-pane-changed @0 %5",
                Notification::WindowPaneChanged {
                    window: WindowId(0),
                    pane: PaneId(5),
                },
            ),
            (
                "%layout-change @0 abcd,80x24,0,0,0 abcd,80x24,0,0,0 *",
                Notification::LayoutChange {
                    window: WindowId(0),
                    layout: "abcd,80x24,0,0,0".into(),
                },
            ),
            (
                "%session-changed $0 bot-bottle",
                Notification::SessionChanged {
                    session: SessionId(0),
                    name: "bot-bottle".into(),
                },
            ),
            (
                "%client-session-changed /dev/pts/3 $1 other",
                Notification::ClientSessionChanged {
                    client: "/dev/pts/3".into(),
                    session: SessionId(1),
                    name: "other".into(),
                },
            ),
            (
                "%session-renamed $1 new",
                Notification::SessionRenamed { name: "new".into() },
            ),
            (
                "%session-window-changed $0 @2",
                Notification::SessionWindowChanged {
                    session: SessionId(0),
                    window: WindowId(2),
                },
            ),
            ("%sessions-changed", Notification::SessionsChanged),
            (
                "%client-detached /dev/pts/1",
                Notification::ClientDetached {
                    client: "/dev/pts/1".into(),
                },
            ),
            (
                "%pane-mode-changed %2",
                Notification::PaneModeChanged(PaneId(2)),
            ),
            (
                "%subscription-changed dead $0 @0 0 %0 : 13",
                Notification::SubscriptionChanged {
                    name: "dead".into(),
                    value: "13".into(),
                },
            ),
            (
                "%message hello",
                Notification::Other("%message hello".into()),
            ),
            (
                "%output nopane x",
                Notification::Other("%output nopane x".into()),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_all(format!("{line}\n").as_bytes()),
                [Event::Notification(want)],
                "{line}"
            );
        }
    }

    #[test]
    fn blocks() {
        let text = "%begin 1 10 1\n%0\n%end 9 9 1\nplain\n%end 1 10 1\n%begin 1 11 1\nbad\n%error 1 11 1\n%begin 1 12 0\n%end 1 12 0\n";
        let mut server = reply(12, true, &[]);
        if let Event::Reply(r) = &mut server {
            r.from_client = false;
        }
        assert_eq!(
            parse_all(text.as_bytes()),
            [
                reply(10, true, &["%0", "%end 9 9 1", "plain"]),
                reply(11, false, &["bad"]),
                server
            ]
        );
    }

    #[test]
    fn exit_stray_and_line_endings() {
        assert_eq!(parse_all(b"%exit\nignored\n"), [Event::Exit(None)]);
        assert_eq!(
            parse_all(b"%exit too far behind\n"),
            [Event::Exit(Some("too far behind".into()))]
        );
        assert_eq!(
            parse_all(b"%begin 1 2 1\npartial\n%exit\n"),
            [reply(2, false, &["partial"]), Event::Exit(None)]
        );
        assert_eq!(
            parse_all(b"stray-from-hook\r\n"),
            [Event::Stray(b"stray-from-hook".to_vec())]
        );
        assert_eq!(
            parse_all(b"%begin 1 2 1\r\nx\r\n%end 1 2 1\r\n"),
            [reply(2, true, &["x"])]
        );
        assert_eq!(parse_all(b"no newline yet"), []);
    }

    #[test]
    fn octal() {
        assert_eq!(decode_octal(b"\\015\\012"), b"\r\n");
        assert_eq!(decode_octal(b"\\134"), b"\\");
        assert_eq!(decode_octal("é\\033[0m".as_bytes()), "é\x1b[0m".as_bytes());
        assert_eq!(decode_octal(b"\\9\\01\\"), b"\\9\\01\\");
        assert_eq!(
            decode_octal(b"\\777"),
            b"\\777",
            "out of range stays as written"
        );
    }

    /// A tiny deterministic PRNG, so the random tests need no crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    const FIXTURES: [&[u8]; 2] = [
        include_bytes!("../../tests/fixtures/tmux/basic.txt"),
        include_bytes!("../../tests/fixtures/tmux/forged.txt"),
    ];

    #[test]
    fn any_split_of_a_transcript_gives_the_same_events() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for fixture in FIXTURES {
            let whole = parse_all(fixture);
            let mut bytewise = Parser::new();
            let one: Vec<Event> = fixture.iter().flat_map(|b| bytewise.feed(&[*b])).collect();
            assert_eq!(one, whole);
            for _ in 0..50 {
                let mut p = Parser::new();
                let mut events = Vec::new();
                let mut rest: &[u8] = fixture;
                while !rest.is_empty() {
                    let n = (rng.next() % 40) as usize + 1;
                    let (chunk, tail) = rest.split_at(n.min(rest.len()));
                    events.extend(p.feed(chunk));
                    rest = tail;
                }
                assert_eq!(events, whole);
            }
        }
    }

    #[test]
    fn recorded_transcripts_mean_what_they_say() {
        let basic = parse_all(FIXTURES[0]);
        let replies: Vec<&Reply> = basic
            .iter()
            .filter_map(|e| match e {
                Event::Reply(r) if r.from_client => Some(r),
                _ => None,
            })
            .collect();
        assert!(
            replies[0].lines[0].starts_with("%0 "),
            "pane lines start with %: {:?}",
            replies[0]
        );
        assert_eq!(replies[1].lines, ["$0"]);
        assert!(
            replies
                .iter()
                .any(|r| !r.ok && r.lines[0].contains("unknown command"))
        );
        assert!(basic.iter().any(|e| matches!(e,
            Event::Notification(Notification::Output { pane: PaneId(0), data }) if String::from_utf8_lossy(data).contains("hi\r\n"))));
        assert!(basic.contains(&Event::Notification(Notification::WindowAdd(WindowId(1)))));
        assert_eq!(basic.last(), Some(&Event::Exit(None)));

        let forged = parse_all(FIXTURES[1]);
        assert!(
            forged.iter().any(|e| matches!(e,
            Event::Reply(r) if r.lines.iter().any(|l| l == "%end 9 9 1"))),
            "a forged %end stays inside its block"
        );
    }

    #[test]
    fn random_input_never_panics_and_stays_bounded() {
        let mut rng = XorShift(42);
        let pieces: [&[u8]; 10] = [
            b"%begin 1 2 1\n",
            b"%end 1 2 1\n",
            b"%error 1 2 1\n",
            b"%output %1 \\033x\n",
            b"%exit\n",
            b"\n",
            b"%",
            b"\\",
            b"%window-add @",
            b"\xff\xfe",
        ];
        for _ in 0..300 {
            let mut p = Parser::new();
            for _ in 0..200 {
                let mut chunk = Vec::new();
                if rng.next().is_multiple_of(2) {
                    chunk.extend_from_slice(pieces[(rng.next() % pieces.len() as u64) as usize]);
                } else {
                    for _ in 0..(rng.next() % 30) {
                        chunk.push(rng.next() as u8);
                    }
                }
                let _ = p.feed(&chunk);
            }
        }
        let mut p = Parser::new();
        p.feed(&vec![b'x'; MAX_LINE + 10]);
        assert!(
            p.buf.is_empty() && p.skipping,
            "an overlong line is dropped"
        );
        assert_eq!(
            p.feed(b"more\n%sessions-changed\n"),
            [Event::Notification(Notification::SessionsChanged)]
        );
    }
}
