//! Helpers shared by the integration tests, one file per concern:
//!
//! - `needs`: the docker engine or tmux a test needs, and the opt-outs
//!   that report such a test as ignored;
//! - `docker`: a test's own bot-bottle home against the real engine, and
//!   cleanup of what it made;
//! - `upstream`: the image and certificates of the upstream containers
//!   docker tests put behind a bottle;
//! - `tmux`: a tmux server of the test's own;
//! - `cli`: a test folder for running bot-bottle without an engine;
//! - `fake`: stand-ins for docker, an editor, a pager, a hook;
//! - `http`: reading raw HTTP/1.1;
//! - `proposals`: requests for a bottle's proposal queue;
//! - `wait`: waiting for what another process does;
//!
//! and, here, the few that every kind of test uses.
//!
//! Each test file is its own crate and uses part of this module.

#![allow(dead_code)]

pub mod cli;
pub mod docker;
pub mod fake;
pub mod http;
pub mod needs;
pub mod proposals;
pub mod tmux;
pub mod upstream;
pub mod wait;

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

/// A fixed pseudo-random sequence (xorshift64 from `seed`): bytes taken
/// from it do not compress, and are the same on every run.
pub fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    })
}
