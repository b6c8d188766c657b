//! Reading a file another process may have written (a sidecar, the agent
//! through one): bounded, and never through a link planted in its place.
//! Below every module that reads such files, the sidecars' own included.

/// Reads at most `max` bytes of a file a sidecar may have written, without
/// following a symbolic link; a longer file is an error, not a long read.
pub(crate) fn read_bounded(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "larger than {max} bytes; not read"
        )));
    }
    Ok(bytes)
}
