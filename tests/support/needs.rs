//! What a test needs from the machine: the docker engine, tmux. A test
//! that needs one carries the matching attribute, so that the caller's
//! opt-out (see build.rs) reports it as ignored:
//!
//! ```text
//! #[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
//! #[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
//! ```
//!
//! A test that needs both puts the second behind the first, so that only
//! one `ignore` applies:
//!
//! ```text
//! #[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
//! #[cfg_attr(all(skip_tmux, not(skip_docker)), ignore = "BOT_BOTTLE_SKIP_TMUX=1")]
//! ```
//!
//! Without the opt-out, a missing engine or tmux fails the test here
//! (`docker::Env::new` asks for the engine itself).

use std::process::Command;

/// Fails the test unless the docker engine answers. A test that calls it
/// carries `#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]`:
/// the opt-out marks it ignored (see build.rs); without it, a missing
/// engine is a failure.
pub fn require_docker() {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the docker engine does not answer; start it, or set BOT_BOTTLE_SKIP_DOCKER=1 to skip"
    );
}

/// Fails the test unless tmux runs. A test that calls it carries
/// `#[cfg_attr(skip_tmux, ignore = "BOT_BOTTLE_SKIP_TMUX=1")]`: the
/// opt-out marks it ignored (see build.rs); without it, a missing tmux is
/// a failure.
pub fn require_tmux() {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tmux is missing; install it (scripts/setup does), or set BOT_BOTTLE_SKIP_TMUX=1 to skip"
    );
}
