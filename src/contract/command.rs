//! The sidecars' command lines, `/bot-bottle sidecar …`, built here for
//! every backend. `bot-bottle sidecar` (`cli::sidecar`) reads them; its
//! defaults come from the same constants.

use super::paths::{
    AUDIT_MOUNT, BINARY, CLIENT_KEY_FILE, HOSTS_FILE, OPERATOR_MOUNT, SIDECAR_STATE_DIR,
};
use super::services::Sidecar;

/// The hidden subcommand that runs what a sidecar container runs.
pub const SIDECAR: &str = "sidecar";

/// The arguments, after the image's entrypoint (`BINARY`), that serve
/// `sidecar` of bottle `slug` from its state folder.
pub fn serve(sidecar: Sidecar, slug: &str) -> Vec<String> {
    let mut argv = strings([SIDECAR, sidecar.name(), "--state", SIDECAR_STATE_DIR]);
    match sidecar {
        Sidecar::Egress => {}
        Sidecar::Supervise => argv.extend(strings(["--slug", slug])),
        Sidecar::GitGate => argv.extend(strings([
            "--operator",
            OPERATOR_MOUNT,
            "--audit",
            AUDIT_MOUNT,
        ])),
    }
    argv
}

/// What `serve` gets when each client must present the bottle key (the
/// smolmachines backend): the key's file, and for egress its DNS answers.
pub fn keyed(sidecar: Sidecar) -> Vec<String> {
    let state = |file: &str| format!("{SIDECAR_STATE_DIR}/{file}");
    let mut argv = vec!["--client-key".to_owned(), state(CLIENT_KEY_FILE)];
    if sidecar == Sidecar::Egress {
        argv.extend(["--dns-hosts".to_owned(), state(HOSTS_FILE)]);
    }
    argv
}

/// The command, run in a sidecar's container, that exits 0 once something
/// accepts connections on `port` there; `wait` seconds it keeps trying.
pub fn probe(port: u16, wait: Option<u64>) -> Vec<String> {
    let mut argv = strings([BINARY, SIDECAR, "probe"]);
    if let Some(secs) = wait {
        argv.extend(["--wait".to_owned(), secs.to_string()]);
    }
    argv.push(format!("127.0.0.1:{port}"));
    argv
}

/// The command, run in the git gate's container, that decides proposal
/// `id`; the decision's flags follow it.
pub fn git_decide(id: &str) -> Vec<String> {
    strings([
        BINARY,
        SIDECAR,
        "git-decide",
        "--state",
        SIDECAR_STATE_DIR,
        "--id",
        id,
    ])
}

/// The arguments, after the sidecar image's entrypoint, that seal the
/// bridge named `bridge`.
pub fn seal_bridge(bridge: &str) -> Vec<String> {
    strings([SIDECAR, "seal-bridge", bridge])
}

fn strings<const N: usize>(args: [&str; N]) -> Vec<String> {
    args.map(String::from).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(
            serve(Sidecar::Supervise, "a-1"),
            ["sidecar", "supervise", "--state", "/state", "--slug", "a-1"]
        );
        assert_eq!(
            serve(Sidecar::GitGate, "a-1"),
            [
                "sidecar",
                "git-gate",
                "--state",
                "/state",
                "--operator",
                "/operator",
                "--audit",
                "/audit.jsonl"
            ]
        );
        assert_eq!(
            keyed(Sidecar::Egress),
            [
                "--client-key",
                "/state/client-key",
                "--dns-hosts",
                "/state/dns-hosts.json"
            ]
        );
        assert_eq!(
            keyed(Sidecar::Supervise),
            ["--client-key", "/state/client-key"]
        );
        assert_eq!(
            probe(8418, Some(30)),
            [
                "/bot-bottle",
                "sidecar",
                "probe",
                "--wait",
                "30",
                "127.0.0.1:8418"
            ]
        );
        assert_eq!(
            probe(3128, None),
            ["/bot-bottle", "sidecar", "probe", "127.0.0.1:3128"]
        );
    }
}
