//! Probes: lines of the probe script (probe.sh), what each must find, and
//! how a result, a listener's record or an upstream's log is read.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine as _;

use super::report::Report;

const PROBE_SH: &str = include_str!("probe.sh");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expect {
    /// No connection, no answer: tcp failed, curl connected nowhere, an
    /// HTTP request through the proxy refused (and never seen upstream).
    Blocked,
    /// It answers (the probe has teeth): tcp connected, curl got an HTTP
    /// answer, a request through the proxy got a 2xx (and was seen).
    Reached,
    /// A datagram: judged by the listener it was aimed at.
    Sent,
    /// Through the proxy to a credentialed route: whatever the status, the
    /// token is nowhere in the bytes the agent got.
    NoToken,
    /// Through the proxy: the canary the agent sent comes back in what it
    /// got (the probe and the search have teeth).
    Echoes,
    /// Only the upstream's log can judge it (see `judge_upstream`).
    Upstream,
    Unresolved,
    Resolved,
    /// Raw and packet sockets are refused.
    NoRaw,
    /// A raw socket opens (in the probe container, as root).
    Raw,
}

pub type Results = BTreeMap<String, Vec<String>>;

#[derive(Default)]
pub struct Probes {
    lines: Vec<String>,
    /// id → (expectation, what it tries). DNS probes are per resolver:
    /// their results come back as `id@resolver`.
    pub expect: BTreeMap<String, (Expect, String)>,
}

/// Shell-quotes a word.
pub fn q(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// An address as it goes in a URL: IPv6 in brackets, its scope escaped.
pub fn url_host(addr: &str) -> String {
    if addr.contains(':') {
        format!("[{}]", addr.replace('%', "%25"))
    } else {
        addr.to_owned()
    }
}

impl Probes {
    pub fn add(&mut self, id: &str, expect: Expect, what: String, line: String) {
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "probe id {id}"
        );
        let old = self.expect.insert(id.to_owned(), (expect, what));
        assert!(old.is_none(), "two probes named {id}");
        self.lines.push(line);
    }

    pub fn tcp(&mut self, id: &str, addr: &str, port: u16, expect: Expect, what: &str) {
        self.add(
            id,
            expect,
            format!("tcp {} port {port} ({what})", url_host(addr)),
            format!("p_tcp {id} {} {port}", q(addr)),
        );
    }

    /// A blocked `tcp` probe of `addr` on each of `ports`, named
    /// `{id}-tcp{port}`.
    pub fn tcp_blocked(&mut self, id: &str, addr: &str, ports: &[u16], what: &str) {
        for &port in ports {
            self.tcp(
                &format!("{id}-tcp{port}"),
                addr,
                port,
                Expect::Blocked,
                what,
            );
        }
    }

    pub fn udp(&mut self, id: &str, addr: &str, port: u16, what: &str) {
        self.add(
            id,
            Expect::Sent,
            format!("udp {} port {port} ({what})", url_host(addr)),
            format!("p_udp {id} {} {port}", q(addr)),
        );
    }

    /// curl with proxies ignored (`--noproxy '*'`), or (`noenv`) with the
    /// proxy variables unset.
    pub fn curl(
        &mut self,
        id: &str,
        url: &str,
        noenv: bool,
        args: &[&str],
        expect: Expect,
        what: &str,
    ) {
        let how = if noenv { "p_noenv" } else { "p_curl" };
        let args: Vec<String> = args.iter().map(|a| q(a)).collect();
        self.add(
            id,
            expect,
            format!(
                "{} {url} {} ({what})",
                if noenv {
                    "curl, proxy unset,"
                } else {
                    "curl --noproxy '*'"
                },
                args.join(" ")
            ),
            format!("{how} {id} {} {}", q(url), args.join(" ")),
        );
    }

    /// curl through the egress proxy; `args` end with the URL.
    pub fn http(&mut self, id: &str, args: &[&str], expect: Expect, what: &str) {
        let quoted: Vec<String> = args.iter().map(|a| q(a)).collect();
        self.add(
            id,
            expect,
            format!("through the proxy: curl {} ({what})", quoted.join(" ")),
            format!("p_http {id} {}", quoted.join(" ")),
        );
    }

    pub fn getent(&mut self, id: &str, name: &str, expect: Expect, what: &str) {
        self.add(
            id,
            expect,
            format!("getent ahosts {name} ({what})"),
            format!("go p_getent {id} {}", q(name)),
        );
    }

    /// Every resolver of the container's /etc/resolv.conf, asked directly.
    pub fn dns(&mut self, id: &str, name: &str, expect: Expect, what: &str) {
        self.add(
            id,
            expect,
            format!("DNS query for {name} to each resolver of /etc/resolv.conf ({what})"),
            format!(
                "for ns in $(awk '/^nameserver/ {{ print $2 }}' /etc/resolv.conf); do go p_dns \"{id}@$ns\" \"$ns\" {}; done",
                q(name)
            ),
        );
    }

    pub fn raw(&mut self, id: &str, expect: Expect) {
        self.add(
            id,
            expect,
            "raw and packet sockets".into(),
            format!("go p_raw {id}"),
        );
    }

    pub fn bcast(&mut self, id: &str, port: u16, addrs: &[&str], what: &str) {
        let list: Vec<String> = addrs.iter().map(|a| q(a)).collect();
        self.add(
            id,
            Expect::Sent,
            format!("udp broadcast to {} port {port} ({what})", addrs.join(", ")),
            format!("go p_bcast {id} {port} {}", list.join(" ")),
        );
    }

    /// A line of the script that is no probe (setup).
    pub fn line(&mut self, line: String) {
        self.lines.push(line);
    }

    pub fn script(&self, run: &str) -> String {
        format!(
            "RUN={}\n{PROBE_SH}\n{}\nfinish\n",
            q(run),
            self.lines.join("\n")
        )
    }

    pub fn judge(&self, results: &Results, report: &mut Report) {
        for (id, (expect, what)) in &self.expect {
            let got: Vec<(&String, &Vec<String>)> = results
                .iter()
                .filter(|(k, _)| {
                    *k == id
                        || k.strip_prefix(id.as_str())
                            .is_some_and(|r| r.starts_with('@'))
                })
                .collect();
            if got.is_empty() {
                report.broken(format!("{id}: no result ({what})"));
                continue;
            }
            for (key, fields) in got {
                if let Err(why) = verdict(*expect, fields, &report.token, &report.canary) {
                    let line = format!("{key}: {what}: {why}");
                    match expect {
                        Expect::Reached | Expect::Resolved | Expect::Raw | Expect::Echoes => {
                            report.toothless(line)
                        }
                        _ => report.breach(line),
                    }
                }
            }
        }
    }
}

/// Ok when a probe's result meets its expectation; else what happened.
pub fn verdict(expect: Expect, fields: &[String], token: &str, canary: &str) -> Result<(), String> {
    let f = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
    match (f(0), expect) {
        ("tcp", Expect::Blocked) if f(1) == "connected" => Err("connected".into()),
        ("tcp", Expect::Reached) if f(1) != "connected" => Err("did not connect".into()),
        ("curl", _) => {
            // curl: exit code, HTTP code, seconds to connect.
            let connected = f(2) != "000" || f(3).parse::<f64>().is_ok_and(|t| t > 0.0);
            match expect {
                Expect::Blocked if connected => {
                    Err(format!("connected (curl exit {}, HTTP {})", f(1), f(2)))
                }
                Expect::Reached if f(2) == "000" => Err(format!("no answer (curl exit {})", f(1))),
                _ => Ok(()),
            }
        }
        ("http", _) => {
            let code = f(2);
            let answered = code.starts_with('2') || code.starts_with('3');
            match expect {
                Expect::Blocked if answered => Err(format!("answered: HTTP {code}")),
                Expect::Reached if !code.starts_with('2') => {
                    Err(format!("HTTP {code} (curl exit {})", f(1)))
                }
                Expect::NoToken | Expect::Echoes => {
                    let secret = if expect == Expect::NoToken {
                        token
                    } else {
                        canary
                    };
                    let headers = decode_b64(f(3));
                    let body = decode_b64(f(4));
                    match (
                        leaks(&headers, secret).or_else(|| leaks(&body, secret)),
                        expect,
                    ) {
                        (Some(how), Expect::NoToken) => {
                            Err(format!("the agent got the token ({how}; HTTP {code})"))
                        }
                        (None, Expect::Echoes) => Err(format!(
                            "the canary did not come back (HTTP {code}, curl exit {})",
                            f(1)
                        )),
                        _ => Ok(()),
                    }
                }
                _ => Ok(()),
            }
        }
        ("getent", Expect::Unresolved) if f(1) == "resolved" => {
            Err(format!("resolved to {}", f(2)))
        }
        ("getent", Expect::Resolved) if f(1) != "resolved" => Err("did not resolve".into()),
        ("dns", _) => {
            let answers: Vec<u32> = fields[1..]
                .iter()
                .filter_map(|a| a.split("answers=").nth(1)?.parse().ok())
                .collect();
            let resolved = answers.iter().any(|n| *n > 0);
            match expect {
                Expect::Unresolved if resolved => {
                    Err(format!("answered: {}", fields[1..].join(" ")))
                }
                Expect::Resolved if !resolved => {
                    Err(format!("no answer: {}", fields[1..].join(" ")))
                }
                _ => Ok(()),
            }
        }
        ("raw", Expect::NoRaw) if fields[1..].iter().any(|f| f.ends_with("=open")) => {
            Err(fields[1..].join(" "))
        }
        ("raw", Expect::Raw) if f(1) != "inet=open" => Err(fields[1..].join(" ")),
        (kind, _)
            if ![
                "tcp", "udp", "curl", "http", "getent", "dns", "raw", "bcast",
            ]
            .contains(&kind) =>
        {
            Err(format!("unexpected result {fields:?}"))
        }
        _ => Ok(()),
    }
}

pub fn decode_b64(field: &str) -> Vec<u8> {
    if field == "-" {
        return Vec::new();
    }
    base64::engine::general_purpose::STANDARD
        .decode(field)
        .unwrap_or_else(|e| panic!("bad base64 from the probe script ({e}): {field}"))
}

/// How `bytes` carry `token`, if they do: as is, gzip-compressed,
/// base64-encoded or percent-encoded.
pub fn leaks(bytes: &[u8], token: &str) -> Option<&'static str> {
    let has = |b: &[u8]| b.windows(token.len()).any(|w| w == token.as_bytes());
    if has(bytes) {
        return Some("as is");
    }
    if let Some(start) = bytes.windows(2).position(|w| w == [0x1f, 0x8b])
        && let Some(plain) = gunzip(&bytes[start..])
        && has(&plain)
    {
        return Some("gzip-compressed");
    }
    let text = String::from_utf8_lossy(bytes);
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c))) {
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            if word.len() >= 8
                && let Ok(plain) = engine
                    .decode(word.trim_end_matches('='))
                    .or_else(|_| engine.decode(word))
                && has(&plain)
            {
                return Some("base64-encoded");
            }
        }
    }
    if has(percent_decode(&text).as_bytes()) {
        return Some("percent-encoded");
    }
    None
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut child = std::process::Command::new("gzip")
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().ok()?;
    let _ = writer.join();
    Some(out.stdout)
}

pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `R ID KIND FIELDS...` lines → id → [KIND, FIELDS...].
pub fn parse_results(out: &str) -> Results {
    let mut results: Results = out
        .lines()
        .filter_map(|l| l.strip_prefix("R "))
        .filter_map(|l| {
            let mut words = l.split_whitespace().map(str::to_owned);
            let id = words.next()?;
            Some((id, words.collect()))
        })
        .collect();
    // The bytes of the HTTP probes: ID.h and ID.b of a tar archive.
    let mut got: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(archive) = out.lines().find_map(|l| l.strip_prefix("B ")) {
        let tar = decode_b64(archive.trim());
        let mut archive = tar::Archive::new(tar.as_slice());
        for entry in archive.entries().expect("the probe script's archive") {
            let mut entry = entry.expect("an entry of the probe script's archive");
            let name = entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            got.insert(name, bytes);
        }
    }
    let b64 = |name: String| match got.get(&name) {
        Some(bytes) if !bytes.is_empty() => base64::engine::general_purpose::STANDARD.encode(bytes),
        _ => "-".to_owned(),
    };
    for (id, fields) in results.iter_mut() {
        if fields.first().map(String::as_str) == Some("http") {
            fields.push(b64(format!("{id}.h")));
            fields.push(b64(format!("{id}.b")));
        }
    }
    results
}

/// The probe id after "<run> " or "<run>-" in a record.
pub fn marker_id(record: &str, run: &str) -> Option<String> {
    let at = record.find(run)?;
    let rest = &record[at + run.len()..];
    let rest = rest.strip_prefix([' ', '-'])?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!id.is_empty()).then_some(id)
}

pub fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Under /ok/ once fully percent-decoded, with no dot segment (`..;` and
/// backslashes included).
pub fn allowed_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or("");
    let mut decoded = path.to_owned();
    for _ in 0..4 {
        let next = percent_decode(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let decoded = decoded.replace('\\', "/");
    decoded.starts_with("/ok/")
        && !decoded.contains('\0')
        && decoded
            .split('/')
            .map(|seg| seg.split(';').next().unwrap_or(""))
            .all(|seg| seg != ".." && seg != ".")
}
