//! Helpers shared by the integration tests, one file per concern:
//!
//! - `needs`: the docker engine or tmux a test needs, and the opt-outs
//!   that report such a test as ignored;
//! - `docker`: a test's own bot-bottle home against the real engine, and
//!   cleanup of what it made;
//! - `upstream`: the image and certificates of the upstream containers
//!   docker tests put behind a bottle;
//! - `tmux`: a tmux server of the test's own;
//!
//! and, here, the two that every kind of test uses.
//!
//! Each test file is its own crate and uses part of this module.

#![allow(dead_code)]

pub mod docker;
pub mod needs;
pub mod tmux;
pub mod upstream;

use std::process::Command;

/// Runs `cmd`, which must succeed; returns its stdout.
pub fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A name no other test of this run uses: `prefix-PID-N`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
