//! Checking bottles' seals (the probes are `crate::verify`'s): at bring-up
//! before the session is handed over, on demand (`bot-bottle verify`, the
//! dashboard's `s`) and on the dashboard's schedule.
//!
//! ```text
//! check:  targets (the engine host's addresses and listening ports, the
//!         other bottles' sidecars, the outside) → the probes in the agent,
//!         as root → the report, kept in the bottle's folder → failed?
//!         the bottle is frozen (egress closed, the agent paused)
//! ```
//!
//! A check that cannot run (the engine does not answer) fails closed: its
//! report says so, and the bottle is frozen like any other failure.

use std::net::IpAddr;

use super::LaunchError;
use super::freeze::{self, FreezeError, Groups, Switch};
use super::service::backend_of;
use crate::backend::{Backend, BackendKind};
use crate::error::{Explain, UserError};
use crate::state::{self, Home};
use crate::verify::{self, Failure, Report, Targets, VerifyError, Window};

/// At most this many other bottles' sidecars are probed.
const MOST_NEIGHBOURS: usize = 9;

/// Why a bottle's seal was not checked, or failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error(transparent)]
    Freeze(#[from] FreezeError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("bottle '{slug}''s seal could not be checked: {}: {}", first_unchecked(.report).what, first_unchecked(.report).got)]
    Unchecked { slug: String, report: Box<Report> },
    #[error("bottle '{slug}' failed its seal check: {}: {}; it is frozen", first(.report).what, first(.report).got)]
    Unsealed { slug: String, report: Box<Report> },
    #[error("bottle '{slug}' failed its seal check: {}: {}; freezing it failed: {freeze}", first(.report).what, first(.report).got)]
    UnsealedNotFrozen {
        slug: String,
        report: Box<Report>,
        freeze: Box<FreezeError>,
    },
}

fn first(report: &Report) -> Failure {
    nothing_or(report.failed.first())
}

fn first_unchecked(report: &Report) -> Failure {
    nothing_or(report.unchecked.first())
}

fn nothing_or(failure: Option<&Failure>) -> Failure {
    failure.cloned().unwrap_or(Failure {
        what: "nothing".into(),
        got: "nothing".into(),
    })
}

impl UserError for CheckError {
    fn explain(&self) -> Explain<'_> {
        match self {
            CheckError::Launch(e) => Explain::By(e),
            CheckError::Freeze(e) => Explain::By(e),
            CheckError::Verify(e) => Explain::By(e),
            CheckError::Unchecked { slug, .. } => Explain::runtime(format!(
                "it is left as it is; is the engine overloaded? `bot-bottle verify {slug}` tries again"
            )),
            CheckError::Unsealed { slug, .. } | CheckError::UnsealedNotFrozen { slug, .. } => {
                Explain::runtime(format!(
                    "see `bot-bottle list active`; look into it with `bot-bottle thaw {slug}` at your own risk, or remove it: bot-bottle stop {slug}"
                ))
            }
        }
    }
}

/// Checks the seal of this home's running bottle `slug` (waking it if it
/// sleeps); a bottle that fails is frozen, and that is the error.
pub fn check(home: &Home, slug: &str) -> Result<Report, CheckError> {
    freeze::refuse_frozen(home, slug)?;
    freeze::wake(home, slug)?;
    let kind = backend_of(home, slug)?
        .filter(|k| k.backend().is_running(slug).unwrap_or(false))
        .ok_or_else(|| LaunchError::NotRunning(slug.to_owned()))?;
    check_on(home, kind, kind.backend(), slug, here()?, Window::Later)
}

/// What the probes aim at besides the other bottles: this machine's
/// addresses and listening ports (the engine is local), and the outside
/// (`verify::OUTSIDE_VAR` or its defaults).
pub(crate) fn here() -> Result<Targets, VerifyError> {
    Ok(Targets {
        host_addrs: host_addresses(),
        host_ports: host_ports(),
        neighbours: Vec::new(),
        outside: verify::outside(std::env::var(verify::OUTSIDE_VAR).ok().as_deref())?,
    })
}

/// `check` on a given backend (a fake, in tests).
pub(crate) fn check_on(
    home: &Home,
    kind: BackendKind,
    backend: &dyn Backend,
    slug: &str,
    targets: Targets,
    window: Window,
) -> Result<Report, CheckError> {
    let report = {
        let _turn = Turn::take();
        probe(backend, slug, targets, window)
    };
    let bytes = serde_json::to_vec_pretty(&report).unwrap_or_default();
    let path = home.bottle(slug).seal_report();
    state::write_atomic(&path, &bytes, 0o644).map_err(LaunchError::from)?;
    if report.sealed() {
        return Ok(report);
    }
    if !report.broken() {
        return Err(CheckError::Unchecked {
            slug: slug.to_owned(),
            report: Box::new(report),
        });
    }
    let groups = Groups::from([(kind, vec![slug.to_owned()])]);
    match freeze::switch_on(home, &groups, Switch::Freeze, |_| backend) {
        Ok(()) => Err(CheckError::Unsealed {
            slug: slug.to_owned(),
            report: Box::new(report),
        }),
        Err(freeze) => Err(CheckError::UnsealedNotFrozen {
            slug: slug.to_owned(),
            report: Box::new(report),
            freeze: Box::new(freeze),
        }),
    }
}

/// At most this many checks run at once in this process (`verify --all`,
/// the dashboard's schedule): each forks a few dozen processes in its
/// agent, which under gVisor cost the engine dearly.
const AT_ONCE: usize = 3;

/// A turn to run probes, held while they run (see `AT_ONCE`).
struct Turn;

static RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static FREED: std::sync::Condvar = std::sync::Condvar::new();

impl Turn {
    fn take() -> Turn {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        while *running >= AT_ONCE {
            running = FREED.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        *running += 1;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        *running = running.saturating_sub(1);
        FREED.notify_one();
    }
}

/// Adds the other bottles' sidecars to `targets`, runs the probes, judges
/// them. What cannot be done leaves the report unchecked, not failed.
fn probe(backend: &dyn Backend, slug: &str, mut targets: Targets, window: Window) -> Report {
    let now = verify::now;
    let mut unchecked = Vec::new();
    targets.neighbours = backend
        .sidecars()
        .neighbours(slug, MOST_NEIGHBOURS)
        .unwrap_or_else(|e| {
            unchecked.push(Failure {
                what: "the other bottles' sidecars".into(),
                got: format!("could not be listed: {e}"),
            });
            Vec::new()
        });
    let probes = verify::probes(&targets);
    let mut report = match backend
        .agent()
        .probe(slug, &verify::script(&probes, window))
    {
        Ok(output) => verify::judge(&probes, &output, now()),
        Err(e) => Report {
            checked_at: now(),
            probes: 0,
            failed: Vec::new(),
            unchecked: vec![Failure {
                what: "the probes".into(),
                got: format!("could not run: {e}"),
            }],
        },
    };
    report.unchecked.extend(unchecked);
    report
}

/// The engine host's addresses (this machine's: the engine is local),
/// loopback and IPv6 link-local (which need a scope) left out; those of
/// docker's own networks' bridges (`br-…`, one per network: the other
/// bottles' among them) after the rest, since the probes take the first
/// few.
fn host_addresses() -> Vec<IpAddr> {
    let mut found: Vec<(bool, IpAddr)> = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list that is only read, then freed once.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return Vec::new();
        }
        let mut cur = ifap;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            let addr = match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::from(sin6.sin6_addr.s6_addr)
                }
                _ => continue,
            };
            let bridge = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_bytes()
                .starts_with(b"br-");
            found.push((bridge, addr));
        }
        libc::freeifaddrs(ifap);
    }
    found.sort_by_key(|(bridge, _)| *bridge);
    let mut out: Vec<IpAddr> = Vec::new();
    for (_, addr) in found {
        if !out.contains(&addr) && !addr.is_loopback() && !is_link_local_v6(&addr) {
            out.push(addr);
        }
    }
    out
}

fn is_link_local_v6(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// The TCP ports this machine listens on beyond loopback, from
/// `/proc/net/tcp` and `tcp6`, lowest first.
fn host_ports() -> Vec<u16> {
    let mut ports: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|f| listening(&std::fs::read_to_string(f).unwrap_or_default()))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The listening ports of a `/proc/net/tcp` table, loopback left out.
fn listening(table: &str) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = cols.get(1)?.split_once(':')?;
            if *cols.get(3)? != "0A" || is_loopback_hex(addr) {
                return None;
            }
            u16::from_str_radix(port, 16).ok().filter(|p| *p != 0)
        })
        .collect()
}

/// Whether a `/proc/net/tcp[6]` address (hex words in host order) is
/// loopback: 127/8, ::1, or ::ffff:127/104.
fn is_loopback_hex(hex: &str) -> bool {
    let word = |i: usize| {
        hex.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    match hex.len() {
        8 => word(0).is_some_and(|b| b[0] == 127),
        32 => {
            let words: Option<Vec<[u8; 4]>> = (0..4).map(word).collect();
            let Some(w) = words else { return false };
            let zero = |b: [u8; 4]| b == [0; 4];
            zero(w[0])
                && zero(w[1])
                && (w[2] == [0, 0, 0, 0] && w[3] == [0, 0, 0, 1]
                    || w[2] == [0, 0, 0xff, 0xff] && w[3][0] == 127)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitKind;
    use crate::launch::testing::Fake;

    #[test]
    fn listening_ports_beyond_loopback() {
        // 0.0.0.0:22 and 127.0.0.1:631 listening, 10.0.0.5:8080 listening,
        // an established connection; ::1:5432 and :::80 listening.
        let v4 = "  sl  local_address rem_address   st\n\
           0: 00000000:0016 00000000:0000 0A\n\
           1: 0100007F:0277 00000000:0000 0A\n\
           2: 0500000A:1F90 00000000:0000 0A\n\
           3: 0500000A:9C40 0600000A:0016 01\n";
        let v6 = "  sl  local_address rem_address st\n\
           0: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A\n\
           1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A\n\
           2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A\n";
        assert_eq!(listening(v4), [22, 8080]);
        assert_eq!(listening(v6), [80]);
    }

    #[test]
    fn the_host_has_addresses_and_none_is_loopback() {
        let addrs = host_addresses();
        assert!(
            addrs
                .iter()
                .all(|a| !a.is_loopback() && !is_link_local_v6(a))
        );
    }

    fn sealed_output() -> String {
        let probes = verify::probes(&Targets::default());
        let mut out = String::from("N gw 0\n");
        for p in &probes {
            out.push_str(&format!("S {}\n", p.id));
        }
        out.push_str("R egress status 403\nDONE\n");
        out
    }

    #[test]
    fn a_failed_check_freezes_the_bottle_and_a_sealed_one_does_not() {
        let (_dir, home) = Home::temp();
        let slug = "dev-aaaaa";
        std::fs::create_dir_all(home.bottle(slug).egress_dir()).unwrap();
        // (what the probes print, probe fails to run, frozen after, error)
        let cases: [(String, &'static str, bool, Option<&str>); 4] = [
            (sealed_output(), "", false, None),
            (
                sealed_output().replace("DONE", "R dns resolved example.com\nDONE"),
                "",
                true,
                Some(
                    "bottle 'dev-aaaaa' failed its seal check: the name example.com, through the agent's resolver: resolved example.com; it is frozen",
                ),
            ),
            // A check that could not tell leaves the bottle as it is.
            (
                String::new(),
                "probe dev-aaaaa",
                false,
                Some(
                    "bottle 'dev-aaaaa''s seal could not be checked: the probes: could not run: could not run fake: probe dev-aaaaa failed",
                ),
            ),
            (
                sealed_output().replace("DONE\n", ""),
                "",
                false,
                Some("bottle 'dev-aaaaa''s seal could not be checked: the probes: did not finish"),
            ),
        ];
        for (output, fail, frozen, error) in cases {
            let _ = std::fs::remove_file(home.bottle(slug).egress_frozen());
            let fake = Fake::new(fail);
            *fake.probe_output.lock().unwrap() = output.clone();
            let result = check_on(
                &home,
                BackendKind::Docker,
                &fake,
                slug,
                Targets::default(),
                Window::BringUp,
            );
            assert_eq!(home.bottle(slug).is_frozen(), frozen, "{output} {result:?}");
            let kept: Report =
                serde_json::from_slice(&std::fs::read(home.bottle(slug).seal_report()).unwrap())
                    .unwrap();
            assert_eq!(kept.sealed(), error.is_none());
            assert_eq!(kept.broken(), frozen);
            match error {
                None => assert!(result.unwrap().sealed()),
                Some(want) => {
                    let e = result.unwrap_err();
                    assert_eq!(e.to_string(), want);
                    assert_eq!(e.kind(), ExitKind::Runtime);
                    let paused = fake.calls().contains(&format!("set_paused true {slug}"));
                    assert_eq!(paused, frozen, "{want}");
                }
            }
        }
    }
}
