//! The smolmachines backend against the real `smolvm`, end to end: start,
//! list, exec, the agent's egress, stop. smolvm cannot be installed on the
//! CI machines (it needs libkrun), so without it this test says it was
//! skipped; `tests/smolvm_contract.rs` drives the same code against a fake
//! that checks every argv.

mod support;

use std::process::Command;

use support::docker::Env;

fn real_smolvm() -> bool {
    let found = Command::new("smolvm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped smolvm_real: smolvm is not installed (it needs KVM and libkrun)");
    }
    found
}

/// Stops the machine even when the test fails.
struct Machine<'a>(&'a Env, String);

impl Drop for Machine<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["stop", &self.1]);
        let name = format!("bot-bottle-{}", self.1);
        let _ = Command::new("smolvm")
            .args(["machine", "delete", "--name", &name, "--force"])
            .output();
    }
}

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn a_shell_bottle_in_a_microvm() {
    if !real_smolvm() {
        return;
    }
    let env = Env::new();
    let slug = env.start_detached(&["shell", "--backend", "smolmachines"]);
    let _machine = Machine(&env, slug.clone());

    let row = env.row(&slug);
    assert_eq!(row["backend"], "smolmachines");

    let (code, out) = env.sh(&slug, "id -un; pwd");
    assert_eq!(code, 0);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["agent", "/workspace"]);

    // The proxy answers for a host no route allows: egress is reachable,
    // and it refuses.
    let (_, out) = env.sh(
        &slug,
        "curl -s -o /dev/null -w '%{http_code}' http://denied.invalid/",
    );
    assert_eq!(out.trim(), "403", "egress did not answer the microVM");

    // Its DNS is egress's resolver: the sidecars' names, nothing else.
    let (code, _) = env.sh(&slug, "getent -s dns hosts egress >/dev/null");
    assert_eq!(code, 0, "egress's resolver does not answer the microVM");
    let (code, _) = env.sh(
        &slug,
        "getent hosts bot-bottle-check.example.com >/dev/null",
    );
    assert_ne!(code, 0, "a name outside the bottle resolved in the microVM");

    let (code, _, err) = env.run(&["stop", &slug]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = env.run(&["list", "active"]);
    assert!(!out.contains(&slug), "{out}");
    env.assert_no_state();
}
