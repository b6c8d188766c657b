//! `bot-bottle sidecar …`: what runs inside the sidecar containers. Hidden
//! from help; the compose file calls it.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::Failure;
use crate::contract::services::{EGRESS, GATE_PORT, GIT_GATE, MCP_PORT, SUPERVISE, listen_any};
use crate::state::Slug;
use crate::{egress, gitgate, supervise};

/// A sidecar runs on one thread. Its container is limited to one CPU or
/// less, so more worker threads would only spend the quota sooner and be
/// throttled for the rest of each period (a latency spike for every
/// connection); one thread also keeps each connection's turn fair and the
/// sidecar small. Blocking work still goes to tokio's blocking pool.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}"), None))
}

#[derive(Debug, Subcommand)]
pub(super) enum SidecarCommand {
    /// The egress proxy: routes, credentials, DLP.
    Egress {
        /// The sidecar's state folder (routes.json, tokens.json, the CA).
        #[arg(long)]
        state: PathBuf,
        /// Listen on this address (repeatable) instead of loopback and the
        /// internal network's addresses.
        #[arg(long = "bind")]
        bind: Vec<std::net::IpAddr>,
        /// Serve only clients that present the bottle key in this file.
        #[arg(long)]
        client_key: Option<PathBuf>,
        /// Also answer DNS on port 53 of the same addresses, for the names
        /// in this file only (a smolmachines bottle's resolver).
        #[arg(long)]
        dns_hosts: Option<PathBuf>,
    },
    /// The supervise MCP server: the agent's tools to ask for capability.
    Supervise {
        /// The sidecar's state folder (the proposal queue, the routes view).
        #[arg(long)]
        state: PathBuf,
        /// The bottle's identity, recorded in its proposals.
        #[arg(long, value_parser = Slug::parse_arg, add = super::completions::running())]
        slug: Slug,
        #[arg(long, default_value_t = listen_any(MCP_PORT))]
        listen: std::net::SocketAddr,
        /// Seconds a tool call waits for the operator before saying it is pending.
        #[arg(long, default_value_t = 50)]
        wait_secs: u64,
        /// Serve only clients that present the bottle key in this file.
        #[arg(long)]
        client_key: Option<PathBuf>,
    },
    /// The git gate: serves the bottle's repository over smart HTTP, checks
    /// pushes, lands them. Reads STATE/gate.json.
    GitGate {
        /// The gate's state folder (gate.json, tokens.json, repo.git, …).
        #[arg(long)]
        state: PathBuf,
        /// The operator's git directory, when mounted.
        #[arg(long)]
        operator: Option<PathBuf>,
        /// The bottle's audit log, when mounted.
        #[arg(long)]
        audit: Option<PathBuf>,
        #[arg(long, default_value_t = listen_any(GATE_PORT))]
        listen: std::net::SocketAddr,
        /// Serve only clients that present the bottle key in this file.
        #[arg(long)]
        client_key: Option<PathBuf>,
    },
    /// Seals a bottle's internal bridge on the host (run privileged, on the
    /// host network, by bring-up): strict reverse-path filtering, no IPv6.
    SealBridge { bridge: String },
    /// A hook of the git gate's repository (its scripts call this).
    GitHook {
        /// pre-receive, update or post-receive.
        name: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Applies the operator's decision on a git-push proposal (the host
    /// runs it in the gate with `docker exec`). Approving names what the
    /// operator was shown; the gate refuses if its proposal is not that.
    GitDecide {
        /// The gate's state folder.
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(
            long,
            required_unless_present = "reject",
            conflicts_with = "reject",
            requires_all = ["git_ref", "old", "new"]
        )]
        approve: bool,
        #[arg(long)]
        reject: bool,
        /// The ref shown (approve).
        #[arg(long = "ref", value_name = "REF")]
        git_ref: Option<String>,
        /// Its value before the push, as shown (approve).
        #[arg(long)]
        old: Option<String>,
        /// The commit shown (approve): the one landed or forwarded.
        #[arg(long)]
        new: Option<String>,
        /// The push was shown as landing (approve).
        #[arg(long)]
        land: bool,
        /// A remote it was shown going to (approve; repeatable).
        #[arg(long, value_name = "NAME")]
        forward: Vec<String>,
    },
    /// Exit 0 when something accepts TCP connections at ADDR (healthchecks).
    Probe {
        addr: String,
        /// Keep trying for this many seconds.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
}

pub(super) fn run(cmd: SidecarCommand) -> Result<ExitCode, Failure> {
    match cmd {
        SidecarCommand::Egress {
            state,
            bind,
            client_key,
            dns_hosts,
        } => egress(state, bind, client_key, dns_hosts),
        SidecarCommand::Supervise {
            state,
            slug,
            listen,
            wait_secs,
            client_key,
        } => {
            let key = read_key(client_key.as_deref(), SUPERVISE)?;
            runtime()?
                .block_on(supervise::server::run(
                    state,
                    slug.into_string(),
                    listen,
                    Duration::from_secs(wait_secs),
                    key,
                ))
                .map_err(|e| Failure::runtime(format!("supervise: {e}"), None))?;
            Ok(ExitCode::SUCCESS)
        }
        SidecarCommand::GitGate {
            state,
            operator,
            audit,
            listen,
            client_key,
        } => {
            let key = read_key(client_key.as_deref(), GIT_GATE)?;
            runtime()?
                .block_on(gitgate::server::run(state, operator, audit, listen, key))
                .map_err(|e| Failure::runtime(format!("git-gate: {e}"), None))?;
            Ok(ExitCode::SUCCESS)
        }
        SidecarCommand::SealBridge { bridge } => seal_bridge(&bridge),
        SidecarCommand::GitHook { name, args } => git_hook(&name, &args),
        SidecarCommand::GitDecide {
            state,
            id,
            approve,
            reject: _,
            git_ref,
            old,
            new,
            land,
            forward,
        } => {
            let shown = shown(approve, git_ref, old, new, land, forward)?;
            git_decide(state, &id, shown.as_ref())
        }
        SidecarCommand::Probe { addr, wait } => Ok(probe(&addr, Duration::from_secs(wait))),
    }
}

/// The egress proxy, and its DNS resolver when it has names to answer.
fn egress(
    state: PathBuf,
    bind: Vec<IpAddr>,
    client_key: Option<PathBuf>,
    dns_hosts: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    let key = read_key(client_key.as_deref(), EGRESS)?;
    runtime()?
        .block_on(async move {
            let bind = if binds_internal(dns_hosts.is_some(), &bind) {
                egress::listen::internal_addresses().map_err(|e| e.to_string())?
            } else {
                bind
            };
            if let Some(hosts) = dns_hosts {
                let addrs = dns_addresses(&bind);
                let resolver = egress::resolver::Resolver::bind(&addrs, hosts)
                    .await
                    .map_err(|e| format!("cannot answer DNS on {addrs:?}: {e}"))?;
                tokio::spawn(resolver.serve());
            }
            egress::proxy::run(state, bind, key)
                .await
                .map_err(|e| e.to_string())
        })
        .map_err(|e| Failure::runtime(format!("egress: {e}"), None))?;
    Ok(ExitCode::SUCCESS)
}

/// Whether egress listens on the internal network's addresses, looked up
/// here: when it answers DNS and was given none. Otherwise it listens on
/// what it was given (none: the proxy's own choice).
fn binds_internal(dns: bool, bind: &[IpAddr]) -> bool {
    dns && bind.is_empty()
}

/// Where the resolver answers: the DNS port of each address egress
/// listens on.
fn dns_addresses(bind: &[IpAddr]) -> Vec<SocketAddr> {
    bind.iter()
        .map(|ip| (*ip, egress::resolver::DNS_PORT).into())
        .collect()
}

/// Seals the bridge; a seal the host's `all` setting overrides says so on
/// stderr and exits with its own status.
fn seal_bridge(bridge: &str) -> Result<ExitCode, Failure> {
    use crate::backend::docker::seal::{LOOSE_EXIT, Sealed, seal_at};
    match seal_at(std::path::Path::new("/proc/sys"), bridge) {
        Ok(Sealed::Yes) => Ok(ExitCode::SUCCESS),
        Ok(Sealed::Loose { all }) => {
            eprint!("{all}");
            Ok(ExitCode::from(LOOSE_EXIT as u8))
        }
        Err(e) => Err(Failure::runtime(format!("seal-bridge: {e}"), None)),
    }
}

/// What the operator was shown, from git-decide's flags: approving needs
/// the ref, its old value and the new commit; rejecting names nothing.
fn shown(
    approve: bool,
    git_ref: Option<String>,
    old: Option<String>,
    new: Option<String>,
    land: bool,
    forward: Vec<String>,
) -> Result<Option<gitgate::Shown>, Failure> {
    match (approve, git_ref, old, new) {
        (true, Some(git_ref), Some(old), Some(new)) => Ok(Some(gitgate::Shown {
            git_ref,
            old,
            new,
            land,
            forward,
        })),
        (true, ..) => Err(Failure::usage(
            "git-decide --approve needs --ref, --old and --new: what the operator was shown",
            None,
        )),
        (false, ..) => Ok(None),
    }
}

/// Success once something accepts TCP connections at `addr`, trying every
/// 25 ms until `wait` has passed (at least once); failure after that.
fn probe(addr: &str, wait: Duration) -> ExitCode {
    let deadline = std::time::Instant::now() + wait;
    let up = || {
        addr.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|a| {
                std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok()
            })
    };
    loop {
        if up() {
            return ExitCode::SUCCESS;
        }
        if std::time::Instant::now() >= deadline {
            return ExitCode::FAILURE;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The bottle key a sidecar is told to require: a sidecar told to require
/// one and unable to read it does not start.
fn read_key(
    path: Option<&std::path::Path>,
    sidecar: &str,
) -> Result<Option<egress::client_key::ClientKey>, Failure> {
    path.map(egress::client_key::ClientKey::read)
        .transpose()
        .map_err(|e| Failure::runtime(format!("{sidecar}: {e}"), None))
}

/// A hook's answer is its exit status; what it says goes to the agent.
fn git_hook(name: &str, args: &[String]) -> Result<ExitCode, Failure> {
    let mut stderr = std::io::stderr();
    match crate::gitgate::run_hook(name, args, &mut std::io::stdin(), &mut stderr) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::FAILURE),
        Err(e) => {
            // Refused (for pre-receive and update) with the reason: a gate
            // that cannot check a push does not let it through.
            eprintln!("bot-bottle git gate: {name}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn git_decide(
    state: PathBuf,
    id: &str,
    shown: Option<&gitgate::Shown>,
) -> Result<ExitCode, Failure> {
    use crate::contract::gate::{AUDIT_VAR, OPERATOR_VAR};
    use crate::contract::paths::{AUDIT_MOUNT, OPERATOR_MOUNT};
    use crate::gitgate::GateEnv;
    // The variables (as the server sets them for its hooks), else the
    // mounts, when they exist.
    let pick = |var: &str, mount: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(PathBuf::from(mount)).filter(|p| p.exists()))
    };
    let env = GateEnv {
        state,
        operator: pick(OPERATOR_VAR, OPERATOR_MOUNT),
        audit: pick(AUDIT_VAR, AUDIT_MOUNT),
    };
    crate::gitgate::decide_in(&env, id, shown, &mut std::io::stdout())
        .map_err(|e| Failure::runtime(format!("git-decide: {e}"), None))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_looks_up_internal_addresses_only_for_dns_without_binds() {
        let given = ["10.0.0.2".parse::<IpAddr>().unwrap()];
        let cases: [(bool, &[IpAddr], bool); 4] = [
            (true, &[], true),
            (true, &given, false),
            (false, &[], false),
            (false, &given, false),
        ];
        for (dns, bind, want) in cases {
            assert_eq!(binds_internal(dns, bind), want, "dns {dns}, bind {bind:?}");
        }
    }

    #[test]
    fn the_resolver_answers_on_each_bound_address() {
        let bind: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "::1".parse().unwrap()];
        let want: Vec<SocketAddr> = vec![
            format!("10.0.0.2:{}", egress::resolver::DNS_PORT)
                .parse()
                .unwrap(),
            format!("[::1]:{}", egress::resolver::DNS_PORT)
                .parse()
                .unwrap(),
        ];
        assert_eq!(dns_addresses(&bind), want);
        assert!(dns_addresses(&[]).is_empty());
    }

    #[test]
    fn git_decide_flags_name_what_was_shown() {
        let s = |v: &str| Some(v.to_owned());
        let full = gitgate::Shown {
            git_ref: "refs/heads/main".into(),
            old: "a".into(),
            new: "b".into(),
            land: true,
            forward: vec!["origin".into()],
        };
        // (approve, ref, old, new): what comes out, or the usage code.
        type Case = (bool, Option<String>, Option<String>, Option<String>);
        let cases: [(Case, Result<Option<&gitgate::Shown>, u8>); 6] = [
            (
                (true, s("refs/heads/main"), s("a"), s("b")),
                Ok(Some(&full)),
            ),
            ((true, None, s("a"), s("b")), Err(2)),
            ((true, s("refs/heads/main"), None, s("b")), Err(2)),
            ((true, s("refs/heads/main"), s("a"), None), Err(2)),
            ((false, None, None, None), Ok(None)),
            ((false, s("refs/heads/main"), s("a"), s("b")), Ok(None)),
        ];
        for ((approve, git_ref, old, new), want) in cases {
            let got = shown(approve, git_ref, old, new, true, vec!["origin".into()]);
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got.as_ref(), want),
                (Err(f), Err(code)) => {
                    assert_eq!(f.code, code);
                    assert!(
                        f.message.contains("--ref, --old and --new"),
                        "{}",
                        f.message
                    );
                }
                (got, want) => panic!("approve {approve}: got {got:?}, want {want:?}"),
            }
        }
    }
}
