//! The bottles' networks come from a subnet pool bot-bottle manages, not
//! from the engine's default pools (about 15 bottles' worth on a default
//! engine: each bottle has two networks). Each network is a /28 of the pool
//! (`BOT_BOTTLE_SUBNETS`, default 198.18.0.0/15: a range set aside for
//! benchmarks, outside the engine's pools and rarely on a LAN), so the
//! default pool holds 4096 bottles.
//!
//! Choosing is pure (`choose`); `assign` takes a lock in the home folder,
//! reads what the engine and the other bottles' compose files hold, and
//! writes this bottle's compose file, rendered with its choice: the lock
//! is held for that alone, never across a bring-up. Another home on the
//! same engine holds another lock and its own compose files: the search
//! starts at a random place in the pool, so two homes starting bottles at
//! once seldom reach for the same subnets (and when they do, the engine
//! refuses the second network: that bring-up fails, nothing is shared).

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::Value;

use crate::error::{Explain, UserError};
use crate::exec::{DOCKER, ExecError};
use crate::state::{BottleDir, Home, StateError, write_atomic};

pub const POOL_ENV: &str = "BOT_BOTTLE_SUBNETS";
pub const DEFAULT_POOL: &str = "198.18.0.0/15";
/// Each network's size: 14 addresses (a bottle's services and a gateway).
pub const PREFIX: u8 = 28;

/// An IPv4 network: its first address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Net {
    pub base: u32,
    pub prefix: u8,
}

impl Net {
    pub fn parse(text: &str) -> Option<Net> {
        let (addr, prefix) = text.trim().split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let base = u32::from(addr) & mask(prefix);
        Some(Net { base, prefix })
    }

    fn last(self) -> u32 {
        self.base | !mask(self.prefix)
    }

    pub fn overlaps(self, other: Net) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubnetError {
    #[error("{POOL_ENV}={0:?} is not an IPv4 network like {DEFAULT_POOL}")]
    BadPool(String),
    #[error("{POOL_ENV}={0}: smaller than one /{PREFIX} network")]
    PoolTooSmall(String),
    #[error("the subnet pool {pool} has no {wanted} free /{PREFIX} networks left")]
    Exhausted { pool: Net, wanted: usize },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: StateError,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl UserError for SubnetError {
    /// A pool that cannot work is the user's setting to fix.
    fn explain(&self) -> Explain<'_> {
        match self {
            SubnetError::BadPool(_) | SubnetError::PoolTooSmall(_) => Explain::usage(format!(
                "set {POOL_ENV} to a private IPv4 range no LAN of yours uses, /{} or larger",
                PREFIX - 1
            )),
            SubnetError::Exhausted { .. } => Explain::runtime(format!(
                "stop some bottles (`bot-bottle list active`), or set {POOL_ENV} to a larger range"
            )),
            SubnetError::Exec(e) => Explain::By(e),
            SubnetError::Io { .. } => Explain::runtime(None),
        }
    }
}

/// The pool: `BOT_BOTTLE_SUBNETS`, else the default.
pub fn pool(from_env: Option<&str>) -> Result<Net, SubnetError> {
    let text = from_env.filter(|v| !v.is_empty()).unwrap_or(DEFAULT_POOL);
    let net = Net::parse(text).ok_or_else(|| SubnetError::BadPool(text.to_owned()))?;
    if net.prefix > PREFIX {
        return Err(SubnetError::PoolTooSmall(text.to_owned()));
    }
    Ok(net)
}

/// `wanted` /28s of the pool that overlap nothing in `used`: the first
/// from the pool's `start`th /28 on, going round to its beginning. A
/// random start keeps homes that share an engine (and cannot see each
/// other's choices before their networks exist) off the same subnets.
pub fn choose(
    pool: Net,
    used: &[Net],
    wanted: usize,
    start: usize,
) -> Result<Vec<Net>, SubnetError> {
    let step = 1u64 << (32 - PREFIX);
    let from = u64::from(pool.base) + (start % capacity(pool)) as u64 * step;
    let end = u64::from(pool.last()) + 1;
    let mut out = free_in(from, end, used, wanted);
    let more = free_in(u64::from(pool.base), from, used, wanted - out.len());
    out.extend(more);
    if out.len() < wanted {
        return Err(SubnetError::Exhausted { pool, wanted });
    }
    Ok(out)
}

/// How many /28s the pool holds.
pub fn capacity(pool: Net) -> usize {
    1usize << (PREFIX.saturating_sub(pool.prefix))
}

/// Up to `wanted` /28s of the pool that overlap nothing in `used`, first first.
pub fn free(pool: Net, used: &[Net], wanted: usize) -> Vec<Net> {
    free_in(
        u64::from(pool.base),
        u64::from(pool.last()) + 1,
        used,
        wanted,
    )
}

/// Up to `wanted` free /28s from address `at` (a /28's start) to `end`.
fn free_in(mut at: u64, end: u64, used: &[Net], wanted: usize) -> Vec<Net> {
    let step = 1u64 << (32 - PREFIX);
    let mut out = Vec::new();
    while at < end && out.len() < wanted {
        let candidate = Net {
            base: at as u32,
            prefix: PREFIX,
        };
        match used.iter().find(|u| u.overlaps(candidate)) {
            // Skip past what is in the way.
            Some(u) => at = (u64::from(u.last()) + 1).div_ceil(step) * step,
            None => {
                out.push(candidate);
                at += step;
            }
        }
    }
    out
}

/// The subnets a compose document asks for.
pub fn in_compose(doc: &Value) -> Vec<Net> {
    doc["networks"]
        .as_object()
        .into_iter()
        .flat_map(|nets| nets.values())
        .filter_map(|n| n["ipam"]["config"].as_array())
        .flatten()
        .filter_map(|c| c["subnet"].as_str().and_then(Net::parse))
        .collect()
}

/// Every subnet the engine's networks use, with two docker calls (asked
/// again once when a network went away between them).
fn engine_subnets() -> Result<Vec<Net>, ExecError> {
    let mut last = None;
    for _ in 0..2 {
        let ids = DOCKER.output(&mut DOCKER.command(["network", "ls", "--quiet"]))?;
        let ids = String::from_utf8_lossy(&ids.stdout).into_owned();
        if ids.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = DOCKER.command([
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
        ]);
        cmd.args(ids.split_whitespace());
        match DOCKER.output(&mut cmd) {
            Ok(out) => return Ok(parse_subnets(&String::from_utf8_lossy(&out.stdout))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(ExecError::Spawn {
        program: "docker network inspect".into(),
        source: std::io::Error::other("no answer"),
    }))
}

fn parse_subnets(text: &str) -> Vec<Net> {
    text.split_whitespace().filter_map(Net::parse).collect()
}

/// Chooses this bottle's subnets (`wanted` of them) and writes the
/// compose document `render` makes with them to `file`, under a lock, so
/// bottles starting at once never pick the same ones. The engine is asked
/// before the lock is taken (bottles starting at once do not queue behind
/// each other's docker calls); what other bottles chose since is in their
/// compose files, read under the lock. Returns the document as written.
pub fn assign(
    home: &Home,
    dir: &BottleDir,
    wanted: usize,
    render: impl FnOnce(&[Net]) -> Value,
) -> Result<Value, SubnetError> {
    let pool = pool(std::env::var(POOL_ENV).ok().as_deref())?;
    let mut used = engine_subnets()?;
    let lock = home.subnets_lock();
    let _lock = crate::state::lock_file(&lock).map_err(|source| SubnetError::Io {
        path: lock.display().to_string(),
        source,
    })?;
    used.extend(chosen_in_state(home, Some(dir.root())));
    let start = rand::random::<u32>() as usize;
    let doc = render(&choose(pool, &used, wanted, start)?);
    let path = dir.compose_file();
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    write_atomic(&path, text.as_bytes(), 0o600).map_err(|source| SubnetError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(doc)
}

/// The subnets taken: the engine's networks', and those the bottles' compose
/// files chose and have not made yet (but `except`'s, the one choosing).
pub fn in_use(home: &Home, except: Option<&Path>) -> Result<Vec<Net>, SubnetError> {
    let mut used = engine_subnets()?;
    used.extend(chosen_in_state(home, except));
    Ok(used)
}

/// The subnets the bottles' compose files chose (but `except`'s).
fn chosen_in_state(home: &Home, except: Option<&Path>) -> Vec<Net> {
    let mut chosen = Vec::new();
    if let Ok(entries) = std::fs::read_dir(home.state_root()) {
        for entry in entries.flatten() {
            if except.is_some_and(|dir| entry.path() == dir) {
                continue;
            }
            let other = BottleDir::new(entry.path()).compose_file();
            if let Some(other) = read_json(&other) {
                chosen.extend(in_compose(&other));
            }
        }
    }
    chosen
}

/// The JSON document in `path`; None when it cannot be read as one.
fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Net {
        Net::parse(s).unwrap()
    }

    #[test]
    fn choosing_skips_what_is_in_use() {
        let pool = net("198.18.0.0/15");
        let cases: &[(&[&str], usize, &[&str])] = &[
            (&[], 2, &["198.18.0.0/28", "198.18.0.16/28"]),
            (
                &["198.18.0.0/28", "172.17.0.0/16"],
                2,
                &["198.18.0.16/28", "198.18.0.32/28"],
            ),
            // A wider network in the pool, and one that straddles its start.
            (&["198.18.0.0/24", "198.17.255.0/23"], 1, &["198.18.1.0/28"]),
            (&["198.18.0.8/29"], 1, &["198.18.0.16/28"]),
        ];
        for (used, wanted, want) in cases {
            let used: Vec<Net> = used.iter().map(|s| net(s)).collect();
            let got: Vec<String> = choose(pool, &used, *wanted, 0)
                .unwrap()
                .iter()
                .map(Net::to_string)
                .collect();
            assert_eq!(got, *want, "{used:?}");
        }
    }

    #[test]
    fn choosing_starts_where_asked_and_goes_round() {
        let pool = net("10.9.0.0/26");
        let cases: &[(usize, &[&str], usize, &[&str])] = &[
            (2, &[], 2, &["10.9.0.32/28", "10.9.0.48/28"]),
            (3, &[], 2, &["10.9.0.48/28", "10.9.0.0/28"]),
            // The start is taken modulo the pool's size.
            (7, &[], 1, &["10.9.0.48/28"]),
            (
                3,
                &["10.9.0.48/28", "10.9.0.0/28"],
                2,
                &["10.9.0.16/28", "10.9.0.32/28"],
            ),
            (1, &["10.9.0.0/27"], 2, &["10.9.0.32/28", "10.9.0.48/28"]),
        ];
        for (start, used, wanted, want) in cases {
            let used: Vec<Net> = used.iter().map(|s| net(s)).collect();
            let got: Vec<String> = choose(pool, &used, *wanted, *start)
                .unwrap()
                .iter()
                .map(Net::to_string)
                .collect();
            assert_eq!(got, *want, "start {start}, used {used:?}");
        }
        let full = [net("10.9.0.0/26")];
        assert!(choose(pool, &full, 1, 2).is_err());
    }

    #[test]
    fn free_counts_what_is_left() {
        let pool = net("10.9.0.0/26");
        assert_eq!(capacity(pool), 4);
        assert_eq!(capacity(net("198.18.0.0/15")), 8192);
        assert_eq!(free(pool, &[], usize::MAX).len(), 4);
        assert_eq!(free(pool, &[net("10.9.0.16/28")], usize::MAX).len(), 3);
        assert_eq!(free(pool, &[net("10.9.0.0/27")], usize::MAX).len(), 2);
        assert_eq!(free(pool, &[net("10.0.0.0/8")], usize::MAX).len(), 0);
    }

    #[test]
    fn a_full_pool_says_so() {
        let pool = net("10.9.0.0/27");
        assert_eq!(choose(pool, &[], 2, 1).unwrap().len(), 2);
        let err = choose(pool, &[net("10.9.0.16/28")], 2, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the subnet pool 10.9.0.0/27 has no 2 free /28 networks left"
        );
        assert!(err.hint().unwrap().contains("BOT_BOTTLE_SUBNETS"));
    }

    #[test]
    fn the_pool_comes_from_the_environment() {
        assert_eq!(pool(None).unwrap().to_string(), "198.18.0.0/15");
        assert_eq!(pool(Some("")).unwrap().to_string(), "198.18.0.0/15");
        assert_eq!(
            pool(Some("10.50.0.0/16")).unwrap().to_string(),
            "10.50.0.0/16"
        );
        assert_eq!(
            pool(Some("10.50.0.0")).unwrap_err().to_string(),
            "BOT_BOTTLE_SUBNETS=\"10.50.0.0\" is not an IPv4 network like 198.18.0.0/15"
        );
        assert!(matches!(
            pool(Some("10.0.0.0/30")),
            Err(SubnetError::PoolTooSmall(_))
        ));
    }

    #[test]
    fn a_compose_document_gets_one_subnet_per_network() {
        use crate::backend::docker::compose_file::{AgentPlace, Target, render};
        use crate::plan::testing::{agent, bottle, input};
        let (agent, bottle) = (agent(crate::provider::Provider::Shell), bottle());
        let (env, names) = (Default::default(), ["default".to_owned()]);
        let plan = crate::plan::plan(&input(&agent, &bottle, &env, &names)).unwrap();
        let nets = [net("198.18.0.0/28"), net("198.18.0.16/28")];
        let target = Target {
            subnets: &nets,
            ..Target::test(AgentPlace::Container)
        };
        let doc = render(&plan, target);
        assert_eq!(
            doc["networks"]["internal"]["ipam"],
            serde_json::json!({"config": [{"subnet": "198.18.0.0/28"}]})
        );
        assert_eq!(doc["networks"]["internal"]["internal"], true);
        assert_eq!(in_compose(&doc), nets);
    }
}
