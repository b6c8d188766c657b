//! Stand-ins the tests put where bot-bottle runs another program: docker
//! (`BOT_BOTTLE_DOCKER`), smolvm, `$EDITOR`, `$PAGER`, a hook.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A stand-in docker that answers `docker info` with runc as the only
/// runtime, and nothing else.
pub const DOCKER_INFO_RUNC: &str = "#!/bin/sh\necho '{\"runc\":{\"path\":\"runc\"}}'\n";

/// Writes `script` (its `#!` line included) to `path`, executable.
pub fn script(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
