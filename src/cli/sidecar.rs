//! `bot-bottle sidecar …`: what runs inside the sidecar containers. Hidden
//! from help; the compose file calls it.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::Failure;
use crate::egress;

#[derive(Debug, Subcommand)]
pub enum SidecarCommand {
    /// The egress proxy: routes, credentials, DLP.
    Egress {
        /// The sidecar's state folder (routes.json, tokens.json, the CA).
        #[arg(long)]
        state: PathBuf,
    },
    /// Exit 0 when something accepts TCP connections at ADDR (healthchecks).
    Probe { addr: String },
}

pub fn run(cmd: SidecarCommand) -> Result<ExitCode, Failure> {
    match cmd {
        SidecarCommand::Egress { state } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}"), None))?;
            runtime
                .block_on(egress::proxy::run(state))
                .map_err(|e| Failure::runtime(format!("egress: {e}"), None))?;
            Ok(ExitCode::SUCCESS)
        }
        SidecarCommand::Probe { addr } => {
            let up = addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|a| {
                    std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok()
                });
            Ok(if up {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
