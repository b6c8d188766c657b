//! Proof that a bottle is sealed: probes run from inside its agent, each
//! with the refusal it must meet. Pure: `probes` turns what the host knows
//! (its addresses, the ports it listens on, the other bottles' sidecars)
//! into probes, `script` into the bash that runs them (`verify/probe.sh`),
//! and `judge` reads what they printed into a `Report`. The driver
//! (`launch::verify`) gathers the targets, runs the script and acts on the
//! report.
//!
//! Every probe expects a refusal: no TCP connection to the engine host (at
//! each of its addresses, and at the first address and gateway of every
//! network the agent is on), to the outside (a public address, IPv6, the
//! link-local metadata address) or to another bottle's sidecars; no answer
//! for a name outside the bottle; and egress's 403 for a host no route
//! allows. Anything else is a failure, and so is a run that did not finish.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::contract::services::PROBE_HOST;
use crate::text::shell_quote;

const PROBE_SH: &str = include_str!("verify/probe.sh");

/// How often the dashboard checks a running bottle again.
pub const EVERY: Duration = Duration::from_secs(300);

/// The variable that replaces the outside addresses probed (tests aim them
/// at containers of their own): `ADDR:PORT[,ADDR:PORT…]`.
pub const OUTSIDE_VAR: &str = "BOT_BOTTLE_VERIFY_OUTSIDE";

/// Set to `1`, bring-up does not check the seal (it says so): for a stand-in
/// backend known to be less sealed than the real one (the tests' fake
/// smolvm), never for a bottle an agent works in.
pub const SKIP_VAR: &str = "BOT_BOTTLE_SKIP_SEAL_CHECK";

/// The outside addresses probed unless `OUTSIDE_VAR` says otherwise: a
/// public address, a public IPv6 address, the link-local metadata address.
pub const OUTSIDE: [(&str, &str); 3] = [
    ("1.1.1.1:443", "a public address"),
    ("[2606:4700:4700::1111]:443", "a public IPv6 address"),
    ("169.254.169.254:80", "the link-local metadata address"),
];

/// The name outside the bottle that must not resolve.
pub const OUTSIDE_NAME: &str = "example.com";

/// At most this many of the engine host's listening ports are probed (at
/// each of its addresses), besides `HOST_PORTS`.
const MOST_HOST_PORTS: usize = 4;
/// Probed at each host address whether or not the host listens there.
const HOST_PORTS: [u16; 3] = [22, 80, 443];
/// At most this many of the engine host's addresses are probed.
const MOST_HOST_ADDRS: usize = 4;
/// At most this many of the other bottles' sidecars are probed.
const MOST_NEIGHBOURS: usize = 9;

/// Another bottle's sidecar, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub slug: String,
    pub service: String,
    pub addr: IpAddr,
    pub port: u16,
}

/// What the probes aim at, gathered by the driver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// The engine host's addresses (loopback and link-local excluded).
    pub host_addrs: Vec<IpAddr>,
    /// The TCP ports the engine host listens on, beyond loopback.
    pub host_ports: Vec<u16>,
    /// The other bottles' sidecars on the same engine.
    pub neighbours: Vec<Neighbour>,
    /// Outside addresses, with what each is.
    pub outside: Vec<(SocketAddr, String)>,
}

/// What a probe must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Nothing: any result line is a failure.
    Nothing,
    /// egress's 403.
    Refusal,
}

/// One probe: its id in the script's output, what it tries, its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub(crate) id: String,
    what: String,
    line: String,
    expect: Expect,
}

/// The outside addresses: `OUTSIDE`, or the value of `OUTSIDE_VAR`.
pub fn outside(var: Option<&str>) -> Result<Vec<(SocketAddr, String)>, VerifyError> {
    let Some(value) = var else {
        return Ok(OUTSIDE
            .iter()
            .filter_map(|(a, what)| Some((a.parse().ok()?, (*what).to_owned())))
            .collect());
    };
    value
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let addr = s.trim().parse().map_err(|_| VerifyError::Outside {
                value: s.trim().to_owned(),
            })?;
            Ok((addr, format!("{OUTSIDE_VAR} {addr}")))
        })
        .collect()
}

/// The probes for `targets`, in the order they run.
pub fn probes(targets: &Targets) -> Vec<Probe> {
    let mut out = Vec::new();
    let mut ports: Vec<u16> = HOST_PORTS.to_vec();
    for &p in targets.host_ports.iter().take(MOST_HOST_PORTS) {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let port_list: Vec<String> = ports.iter().map(u16::to_string).collect();
    out.push(Probe {
        id: "gw".into(),
        what: format!(
            "the engine host at the agent's gateways, ports {}",
            port_list.join(", ")
        ),
        line: format!("gateways gw {}", port_list.join(" ")),
        expect: Expect::Nothing,
    });
    for (i, addr) in targets.host_addrs.iter().take(MOST_HOST_ADDRS).enumerate() {
        let id = format!("host{i}");
        for port in &ports {
            out.push(Probe {
                id: id.clone(),
                what: format!("the engine host at {addr}"),
                line: format!("tcp {id} {} {port}", shell_quote(&addr.to_string())),
                expect: Expect::Nothing,
            });
        }
    }
    for (i, (addr, what)) in targets.outside.iter().enumerate() {
        let id = format!("out{i}");
        out.push(Probe {
            id: id.clone(),
            what: format!("{what} ({addr})"),
            line: format!(
                "tcp {id} {} {}",
                shell_quote(&addr.ip().to_string()),
                addr.port()
            ),
            expect: Expect::Nothing,
        });
    }
    for (i, n) in targets.neighbours.iter().take(MOST_NEIGHBOURS).enumerate() {
        let id = format!("nb{i}");
        out.push(Probe {
            id: id.clone(),
            what: format!("bottle {}'s {} sidecar", n.slug, n.service),
            line: format!("tcp {id} {} {}", shell_quote(&n.addr.to_string()), n.port),
            expect: Expect::Nothing,
        });
    }
    out.push(Probe {
        id: "dns".into(),
        what: format!("the name {OUTSIDE_NAME}, through the agent's resolver"),
        line: format!("resolves dns {OUTSIDE_NAME}"),
        expect: Expect::Nothing,
    });
    out.push(Probe {
        id: "egress".into(),
        what: "a host no route allows, through egress".into(),
        line: format!("egress egress {PROBE_HOST}"),
        expect: Expect::Refusal,
    });
    out
}

/// How long the probes have to get through. A target that is there
/// answers a connection in milliseconds; one that is not is never
/// answered (a sealed agent's packets go nowhere), so the window only
/// bounds the wait. Bring-up, which the operator waits on, takes the
/// short one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// 1.5 seconds.
    BringUp,
    /// 3 seconds.
    Later,
}

impl Window {
    fn seconds(self) -> &'static str {
        match self {
            Window::BringUp => "1.5",
            Window::Later => "3",
        }
    }
}

/// The bash that runs `probes` (on stdin of `bash -s`).
pub fn script(probes: &[Probe], window: Window) -> String {
    let mut out = String::from(PROBE_SH);
    for p in probes {
        out.push_str(&p.line);
        out.push('\n');
    }
    out.push_str(&format!("finish {}\n", window.seconds()));
    out
}

/// What a check of a bottle's seal found; kept in its state folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// When (seconds since the epoch).
    pub checked_at: u64,
    /// How many probes ran.
    pub probes: usize,
    /// The probes that got through: the seal is broken.
    pub failed: Vec<Failure>,
    /// The probes that could not tell (one that never started, a run that
    /// did not finish or could not run): the seal is not proven, nor
    /// shown broken.
    #[serde(default)]
    pub unchecked: Vec<Failure>,
}

/// A probe that did not meet its refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What it tried.
    pub what: String,
    /// What it got.
    pub got: String,
}

/// Seconds since the epoch, as reports count time.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Report {
    /// Whether every probe ran and met its refusal.
    pub fn sealed(&self) -> bool {
        self.failed.is_empty() && self.unchecked.is_empty()
    }

    /// Whether a probe got through.
    pub fn broken(&self) -> bool {
        !self.failed.is_empty()
    }

    /// One line, its age at `now`: `sealed ✓ 2m`, `NOT SEALED 2m: …` (a
    /// probe got through) or `seal unknown 2m: …` (the check could not
    /// tell).
    pub fn summary(&self, now: u64) -> String {
        let age = crate::text::age(Duration::from_secs(now.saturating_sub(self.checked_at)));
        match (self.failed.first(), self.unchecked.first()) {
            (Some(f), _) => format!("NOT SEALED {age}: {} ({})", f.what, f.got),
            (None, Some(f)) => format!("seal unknown {age}: {} ({})", f.what, f.got),
            (None, None) => format!("sealed ✓ {age}"),
        }
    }
}

/// What one probe came to.
enum Verdict<'a> {
    /// It met its refusal.
    Met,
    /// It got through: what it got.
    Through(String),
    /// It could not tell: why.
    Unknown(&'a str),
}

/// Reads the script's output against `probes`. Fails closed: a probe
/// that did not start (its fork refused, say, with the agent's processes
/// at their limit) or a run that did not finish is a failure.
pub fn judge(probes: &[Probe], output: &str, checked_at: u64) -> Report {
    let mut started: Vec<&str> = Vec::new();
    let mut planned: Vec<(&str, usize)> = Vec::new();
    let mut got: Vec<(&str, &str)> = Vec::new();
    let mut done = false;
    for line in output.lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (id, value) = rest.split_once(' ').unwrap_or((rest, ""));
        match tag {
            "DONE" => done = true,
            "S" => started.push(id),
            "N" => planned.push((id, value.parse().unwrap_or(usize::MAX))),
            "R" => got.push((id, value)),
            _ => {}
        }
    }
    let (mut failed, mut unchecked) = (Vec::new(), Vec::new());
    let mut seen: Vec<&str> = Vec::new();
    for p in probes {
        if seen.contains(&p.id.as_str()) {
            continue;
        }
        seen.push(&p.id);
        let started = started.iter().filter(|id| **id == p.id).count();
        let expected = match p.line.starts_with("gateways ") {
            true => planned
                .iter()
                .find(|(id, _)| *id == p.id)
                .map_or(usize::MAX, |(_, n)| *n),
            false => probes.iter().filter(|q| q.id == p.id).count(),
        };
        let results: Vec<&str> = got
            .iter()
            .filter(|(id, _)| *id == p.id)
            .map(|(_, r)| *r)
            .collect();
        let verdict = match (p.expect, results.first().copied()) {
            (Expect::Nothing, Some(_)) => Verdict::Through(results.join("; ")),
            (Expect::Refusal, Some("status 403")) => Verdict::Met,
            // Egress answered, and not with its refusal.
            (Expect::Refusal, Some(r)) if r.len() > "status ".len() && r.starts_with("status ") => {
                Verdict::Through(r.to_owned())
            }
            // Egress closed, unreachable or silent; a probe never started.
            (Expect::Refusal, Some("status ")) => {
                Verdict::Unknown("egress closed the connection without an answer")
            }
            (Expect::Refusal, Some(r)) => Verdict::Unknown(r),
            (Expect::Refusal, None) if started > 0 => Verdict::Unknown("no answer from egress"),
            _ if started < expected => Verdict::Unknown("did not run"),
            (Expect::Nothing, None) => Verdict::Met,
            (Expect::Refusal, None) => Verdict::Unknown("did not run"),
        };
        match verdict {
            Verdict::Met => {}
            Verdict::Through(got) => failed.push(Failure {
                what: p.what.clone(),
                got,
            }),
            Verdict::Unknown(got) => unchecked.push(Failure {
                what: p.what.clone(),
                got: got.to_owned(),
            }),
        }
    }
    if !done {
        unchecked.push(Failure {
            what: "the probes".into(),
            got: "did not finish".into(),
        });
    }
    Report {
        checked_at,
        probes: seen.len(),
        failed,
        unchecked,
    }
}

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{OUTSIDE_VAR}: '{value}' is not ADDRESS:PORT")]
    Outside { value: String },
}

impl crate::error::UserError for VerifyError {
    fn explain(&self) -> crate::error::Explain<'_> {
        crate::error::Explain::usage(format!(
            "set {OUTSIDE_VAR} to addresses with ports, comma-separated (1.1.1.1:443,[::1]:80), or unset it"
        ))
    }
}

#[cfg(test)]
mod tests;
