//! The gate's own answer to a push it refuses before git has read all of
//! it (too large): written the way `receive-pack` reports a refusal, so
//! the agent's git shows the gate's reason (`remote: …`, `! [remote
//! rejected]`) rather than a bare HTTP error. Pure.
//!
//! A push's request body starts with its command list: pkt-lines of
//! `<old> <new> <ref>`, the first carrying the capabilities the client
//! chose after a NUL, then a flush-pkt; the pack follows.

/// What a push's command list asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commands {
    pub(crate) refs: Vec<String>,
    pub(crate) caps: Vec<String>,
}

/// The most one pkt-line carries, its four length digits included.
const MAX_PKT: usize = 65520;

/// Reads the command list from the start of a push's body; None when it
/// is not all there or is not one.
pub(crate) fn commands(head: &[u8]) -> Option<Commands> {
    let mut rest = head;
    let mut found = Commands {
        refs: Vec::new(),
        caps: Vec::new(),
    };
    loop {
        let len = usize::from_str_radix(std::str::from_utf8(rest.get(..4)?).ok()?, 16).ok()?;
        if len == 0 {
            return (!found.refs.is_empty()).then_some(found);
        }
        if len < 4 {
            return None;
        }
        let line = rest.get(4..len)?;
        rest = &rest[len..];
        let line = std::str::from_utf8(line).ok()?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let (command, caps) = line.split_once('\0').unwrap_or((line, ""));
        if found.refs.is_empty() {
            found.caps = caps
                .split(' ')
                .filter(|c| !c.is_empty())
                .map(Into::into)
                .collect();
        }
        if command.starts_with("shallow ") {
            continue;
        }
        let mut words = command.split(' ');
        let (Some(_old), Some(_new), Some(name), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            // A signed push, or not a command list at all.
            return None;
        };
        found.refs.push(name.to_owned());
    }
}

fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The body of a `receive-pack` result refusing every ref of `commands`:
/// `message` to show (side-band 2, as `remote:` lines), then a status
/// report that names `reason` for each ref. None when the client asked
/// for no status report: it could take the answer for success.
pub(crate) fn refusal(commands: &Commands, message: &str, reason: &str) -> Option<Vec<u8>> {
    let has = |cap: &str| commands.caps.iter().any(|c| c == cap);
    if !has("report-status") && !has("report-status-v2") {
        return None;
    }
    let one_line = |text: &str| text.replace(['\n', '\r', '\0'], " ");
    let reason = one_line(reason);
    let mut report = pkt(format!("unpack {reason}\n").as_bytes());
    for name in &commands.refs {
        report.extend(pkt(format!("ng {name} {reason}\n").as_bytes()));
    }
    report.extend(b"0000");
    let band_max = if has("side-band-64k") {
        MAX_PKT - 5
    } else if has("side-band") {
        1000 - 5
    } else {
        return Some(report);
    };
    let mut body = Vec::new();
    let shown = format!("{}\n", one_line(message));
    for (band, bytes) in [(2u8, shown.as_bytes()), (1u8, &report[..])] {
        for piece in bytes.chunks(band_max) {
            let mut payload = vec![band];
            payload.extend_from_slice(piece);
            body.extend(pkt(&payload));
        }
    }
    body.extend(b"0000");
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "0000000000000000000000000000000000000000";
    const A: &str = "1111111111111111111111111111111111111111";

    fn list(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            out.extend(pkt(l.as_bytes()));
        }
        out.extend(b"0000PACK\0\0\0\x02");
        out
    }

    #[test]
    fn command_lists_parse() {
        let first = format!("{Z} {A} refs/heads/a\0report-status side-band-64k agent=git/2\n");
        let second = format!("{A} {Z} refs/heads/b\n");
        let got = commands(&list(&[&first, &second])).unwrap();
        assert_eq!(got.refs, ["refs/heads/a", "refs/heads/b"]);
        assert_eq!(got.caps, ["report-status", "side-band-64k", "agent=git/2"]);
        let shallow = format!("shallow {A}");
        let got = commands(&list(&[&shallow, &first])).unwrap();
        assert_eq!(got.refs, ["refs/heads/a"]);
        let full = list(&[&first]);
        let cases: &[(&str, &[u8])] = &[
            ("cut in a line", &full[..20]),
            ("no flush yet", &full[..full.len() - 12]),
            ("empty", b""),
            ("only a flush", b"0000"),
            ("not hex", b"zzzzabc"),
            ("too short a length", b"0003"),
        ];
        for (name, head) in cases {
            assert_eq!(commands(head), None, "{name}");
        }
        let signed = list(&["push-cert\0report-status\n", "certificate version 0.1\n"]);
        assert_eq!(commands(&signed), None);
    }

    /// The pkt-lines of `body`, band by band for side-band answers.
    fn unframe(mut body: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let len = usize::from_str_radix(std::str::from_utf8(&body[..4]).unwrap(), 16).unwrap();
            if len == 0 {
                assert_eq!(body.len(), 4, "bytes after the last flush");
                return out;
            }
            out.push(body[4..len].to_vec());
            body = &body[len..];
        }
    }

    #[test]
    fn refusals_are_reported_as_git_reports_them() {
        let commands = |caps: &[&str]| Commands {
            refs: vec!["refs/heads/a".into(), "refs/heads/b".into()],
            caps: caps.iter().map(|c| (*c).to_owned()).collect(),
        };
        let report = "000funpack big\n0018ng refs/heads/a big\n0018ng refs/heads/b big\n0000";
        assert_eq!(refusal(&commands(&[]), "m", "big"), None);
        assert_eq!(refusal(&commands(&["side-band-64k"]), "m", "big"), None);
        let plain = refusal(&commands(&["report-status"]), "m", "big").unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), report);
        for caps in [
            &["report-status", "side-band-64k"][..],
            &["report-status-v2", "side-band"][..],
        ] {
            let body = refusal(&commands(caps), "too\nlarge", "big").unwrap();
            let packets = unframe(&body);
            assert_eq!(packets[0], b"\x02too large\n");
            assert_eq!(packets[1][0], 1);
            assert_eq!(&packets[1][1..], report.as_bytes());
        }
        // A message longer than a side-band packet is split.
        let long = "x".repeat(3000);
        let body = refusal(&commands(&["report-status", "side-band"]), &long, "big").unwrap();
        let packets = unframe(&body);
        assert!(packets.iter().all(|p| p.len() <= 996), "{packets:?}");
        let shown: Vec<u8> = packets
            .iter()
            .filter(|p| p[0] == 2)
            .flat_map(|p| p[1..].to_vec())
            .collect();
        assert_eq!(shown, format!("{long}\n").into_bytes());
    }
}
