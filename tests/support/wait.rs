//! Waiting for something another process does.

use std::time::{Duration, Instant};

/// Checks `ok` every 100 ms until it holds; fails the test ("timed out
/// waiting for `what`") once `limit` has passed.
pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
