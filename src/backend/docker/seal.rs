//! The host's side of a bottle's internal network. Its bridge has no
//! address on the host (`inhibit_ipv4`), so nothing addressed to the host
//! can arrive; but a limited broadcast (255.255.255.255) is delivered to
//! the host's sockets on every interface, address or not. Strict
//! reverse-path filtering on the bridge drops it (the bottle's addresses
//! are not routed through the bridge on the host), and IPv6 is switched off
//! there. Both are settings of the bridge itself, so they go away with it.
//!
//! Writing them needs CAP_NET_ADMIN in the host's network namespace. When
//! bot-bottle runs as root beside the engine (the bridge is in its own
//! `/proc/sys`), it writes them itself; otherwise it asks the engine, with
//! a short-lived container of the sidecar image on the host network with
//! that one capability and a writable `/proc/sys` (`bot-bottle sidecar
//! seal-bridge`). Both write and read back the same settings (`seal_at`).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::backend::labels::{LABEL_HOME, LABEL_ROLE, LABEL_SLUG};
use crate::error::{Explain, UserError};
use crate::exec::{DOCKER, ExecError};

/// The bridge option that names the internal network's bridge.
pub const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";

/// The internal bridge's name: `bb-` and 12 hex digits of the identity's
/// digest (interface names have at most 15 characters).
pub fn bridge_name(slug: &str) -> String {
    let digest = Sha256::digest(slug.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("bb-{hex}")
}

/// What sealing a bridge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sealed {
    Yes,
    /// The settings are in place, but the host's `all` value overrides them.
    Loose {
        all: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("'{0}' is not a bot-bottle bridge")]
    Name(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A setting reads back other than what was written.
    #[error("{path}: reads {read} after writing {wrote}")]
    Unchanged {
        path: String,
        read: String,
        wrote: &'static str,
    },
    #[error("the bottle's internal bridge could not be sealed: {0}")]
    Helper(#[from] ExecError),
}

impl UserError for SealError {
    fn explain(&self) -> Explain<'_> {
        Explain::runtime(
            "bring-up runs a short container on the host network with NET_ADMIN and a writable /proc/sys (it sets the bottle's bridge to drop broadcasts): the engine must allow that",
        )
    }
}

/// Writes the settings under `proc_sys` (`/proc/sys` in the helper) for
/// `bridge`, and reads them back.
pub fn seal_at(proc_sys: &Path, bridge: &str) -> Result<Sealed, SealError> {
    let ok = bridge.len() == 15
        && bridge.starts_with("bb-")
        && bridge[3..].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(SealError::Name(bridge.to_owned()));
    }
    let ipv4 = proc_sys.join("net/ipv4/conf");
    let settings = [
        (ipv4.join(bridge).join("rp_filter"), "1"),
        (
            proc_sys
                .join("net/ipv6/conf")
                .join(bridge)
                .join("disable_ipv6"),
            "1",
        ),
    ];
    for (path, value) in settings {
        let io = |source| SealError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&path, value).map_err(io)?;
        let read = std::fs::read_to_string(&path).map_err(io)?;
        if read.trim() != value {
            return Err(SealError::Unchanged {
                path: path.display().to_string(),
                read: read.trim().to_owned(),
                wrote: value,
            });
        }
    }
    // The kernel uses the larger of `all` and the interface's value: loose
    // (2) lets a broadcast through whatever the bridge says.
    let all = std::fs::read_to_string(ipv4.join("all/rp_filter")).unwrap_or_default();
    match all.trim() {
        "0" | "1" => Ok(Sealed::Yes),
        other => Ok(Sealed::Loose {
            all: other.to_owned(),
        }),
    }
}

/// Exit code of the helper when the settings are in place but loose.
pub const LOOSE_EXIT: i32 = 3;

/// Seals the bottle's internal bridge: directly when this process may,
/// else from a helper container.
pub fn seal(slug: &str, home_id: &str, sidecar_image: &str) -> Result<Sealed, SealError> {
    let bridge = bridge_name(slug);
    let proc_sys = Path::new("/proc/sys");
    // SAFETY: geteuid cannot fail and touches no memory.
    let root = unsafe { libc::geteuid() } == 0;
    // The bridge is in this namespace only when the engine is on this host
    // (not a remote context, not from inside a container).
    if root
        && proc_sys.join("net/ipv4/conf").join(&bridge).is_dir()
        && let Ok(sealed) = seal_at(proc_sys, &bridge)
    {
        return Ok(sealed);
    }
    let run = [
        "run",
        "--rm",
        "--network",
        "host",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "systempaths=unconfined",
        "--security-opt",
        "no-new-privileges:true",
        "--read-only",
        "--runtime",
        "runc",
        "--pull",
        "never",
        "--label",
        &format!("{LABEL_SLUG}={slug}"),
        "--label",
        &format!("{LABEL_ROLE}=seal"),
        "--label",
        &format!("{LABEL_HOME}={home_id}"),
        sidecar_image,
    ];
    let mut cmd = DOCKER.command(
        run.map(String::from)
            .into_iter()
            .chain(crate::contract::command::seal_bridge(&bridge)),
    );
    match DOCKER.output(&mut cmd) {
        Ok(_) => Ok(Sealed::Yes),
        Err(ExecError::Failed { status, stderr, .. }) if status == format!("exit {LOOSE_EXIT}") => {
            Ok(Sealed::Loose { all: stderr })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_fit_an_interface_name() {
        let name = bridge_name("shell-k3x9q");
        assert_eq!(name.len(), 15);
        assert!(name.starts_with("bb-"));
        assert_ne!(name, bridge_name("shell-k3x9r"));
    }

    fn fake_proc(all: &str, bridge: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            format!("net/ipv4/conf/{bridge}"),
            "net/ipv4/conf/all".into(),
            format!("net/ipv6/conf/{bridge}"),
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("net/ipv4/conf/all/rp_filter"), all).unwrap();
        dir
    }

    #[test]
    fn the_bridge_gets_strict_filtering_and_no_ipv6() {
        let bridge = bridge_name("dev-aaaaa");
        for (all, want) in [
            ("0\n", Sealed::Yes),
            ("1\n", Sealed::Yes),
            ("2\n", Sealed::Loose { all: "2".into() }),
        ] {
            let proc = fake_proc(all, &bridge);
            assert_eq!(seal_at(proc.path(), &bridge).unwrap(), want, "all={all}");
            let read = |p: &str| std::fs::read_to_string(proc.path().join(p)).unwrap();
            assert_eq!(read(&format!("net/ipv4/conf/{bridge}/rp_filter")), "1");
            assert_eq!(read(&format!("net/ipv6/conf/{bridge}/disable_ipv6")), "1");
        }
        let proc = fake_proc("0", &bridge);
        assert!(matches!(
            seal_at(proc.path(), "eth0"),
            Err(SealError::Name(_))
        ));
        assert!(matches!(
            seal_at(proc.path(), "bb-../../../etc"),
            Err(SealError::Name(_))
        ));
        assert!(matches!(
            seal_at(proc.path(), &bridge_name("missing")),
            Err(SealError::Io { .. })
        ));
    }
}
