//! The upstreams docker tests put behind a bottle: the image their
//! containers run, and the certificates they serve.

use std::path::Path;
use std::process::{Command, Stdio};

use super::docker::{Env, docker, docker_ok};

/// The image of the tests' upstream containers: python3 on the base image;
/// built once, then cached.
pub const UPSTREAM_IMAGE: &str = "bot-bottle-test-upstream:1";

pub fn upstream_image() {
    if docker(&["image", "inspect", UPSTREAM_IMAGE])
        .status
        .success()
    {
        return;
    }
    let dockerfile = "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*\n";
    let mut child = Command::new("docker")
        .args(["build", "-t", UPSTREAM_IMAGE, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "building the test upstream image failed"
    );
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A test CA and a certificate it signed for `names`: writes `cert.pem` and
/// `key.pem` into `dir` (for an upstream to serve) and returns the CA's
/// certificate (for a bottle's `trust_upstream_ca`).
pub fn upstream_certs(dir: &Path, names: &[&str]) -> String {
    use bot_bottle::egress::ca::{Signer, new_ca};
    let (ca_pem, ca_key) = new_ca().unwrap();
    let leaf = Signer::from_key_pem(&ca_key)
        .unwrap()
        .leaf_for(names)
        .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &leaf.chain[0])).unwrap();
    std::fs::write(
        dir.join("key.pem"),
        pem("PRIVATE KEY", leaf.key.secret_der()),
    )
    .unwrap();
    ca_pem
}

/// Starts an upstream container `name` on `network`: `run_args` (its
/// volumes, user, environment), then `command` on the upstream image.
/// `env` removes it at the end.
pub fn run_upstream(env: &Env, name: &str, network: &str, run_args: &[&str], command: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(run_args);
    args.push(UPSTREAM_IMAGE);
    args.extend_from_slice(command);
    docker_ok(&args);
    env.track_container(name);
}
