//! Where the sidecar listens: on loopback (its healthcheck probes
//! 127.0.0.1) and on the bottle's internal network, never on the outside
//! one, where another container or the host could use it as an open proxy
//! carrying the bottle's credentials.
//!
//! The egress container is on two networks: `internal` (no gateway) and
//! `outside`, which carries the default route. So it listens on the IPv4
//! addresses of every interface that does not carry a default route; with
//! no default route at all (egress on the internal network only), on every
//! non-loopback address.

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// The kernel's IPv4 routing table.
const ROUTE_TABLE: &str = "/proc/net/route";
/// RTF_UP: the route is usable.
const RTF_UP: u32 = 0x1;

/// Finding the address to listen on failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The kernel's route table could not be read.
    #[error("cannot read {ROUTE_TABLE}: {0}")]
    RouteTable(io::Error),
    /// The interfaces could not be listed.
    #[error("cannot list the network interfaces: {0}")]
    Interfaces(io::Error),
    #[error(
        "no address on an internal network to listen on (interfaces: {found}; default route via: {outside}); egress must be attached to the bottle's internal network"
    )]
    /// No interface is on an internal network.
    NoInternalAddress {
        /// The interfaces' addresses.
        found: String,
        /// The interfaces that carry the default route.
        outside: String,
    },
}

/// The interfaces that carry a default route, from the contents of
/// `/proc/net/route`.
pub(crate) fn default_route_interfaces(table: &str) -> BTreeSet<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (iface, destination, flags, mask) = (
                fields.first()?,
                fields.get(1)?,
                fields.get(3)?,
                fields.get(7)?,
            );
            let up = u32::from_str_radix(flags, 16).ok()? & RTF_UP != 0;
            let default = u32::from_str_radix(destination, 16).ok()? == 0
                && u32::from_str_radix(mask, 16).ok()? == 0;
            (up && default).then(|| (*iface).to_owned())
        })
        .collect()
}

/// The addresses to listen on, given the interfaces with a default route
/// and every (interface, IPv4 address): loopback first, then the internal
/// ones. An interface label such as `eth0:1` counts as `eth0`.
pub(crate) fn choose(
    outside: &BTreeSet<String>,
    addresses: &[(String, Ipv4Addr)],
) -> Result<Vec<IpAddr>, ListenError> {
    let internal: BTreeSet<Ipv4Addr> = addresses
        .iter()
        .filter(|(name, ip)| {
            let base = name.split(':').next().unwrap_or(name);
            !ip.is_loopback() && !ip.is_unspecified() && !outside.contains(base)
        })
        .map(|(_, ip)| *ip)
        .collect();
    if internal.is_empty() {
        let found = addresses
            .iter()
            .map(|(name, ip)| format!("{name} {ip}"))
            .collect::<Vec<_>>()
            .join(", ");
        let outside = outside.iter().cloned().collect::<Vec<_>>().join(", ");
        return Err(ListenError::NoInternalAddress {
            found: if found.is_empty() {
                "none".into()
            } else {
                found
            },
            outside: if outside.is_empty() {
                "none".into()
            } else {
                outside
            },
        });
    }
    let mut out = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    out.extend(internal.into_iter().map(IpAddr::V4));
    Ok(out)
}

/// The addresses the sidecar listens on, from this machine's interfaces
/// and routing table.
pub(crate) fn internal_addresses() -> Result<Vec<IpAddr>, ListenError> {
    let table = std::fs::read_to_string(ROUTE_TABLE).map_err(ListenError::RouteTable)?;
    let addresses = interface_addresses().map_err(ListenError::Interfaces)?;
    choose(&default_route_interfaces(&table), &addresses)
}

/// Every (interface, IPv4 address) of this machine.
pub(crate) fn interface_addresses() -> io::Result<Vec<(String, Ipv4Addr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list that is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut node = head;
    while !node.is_null() {
        // SAFETY: `node` is an element of the list getifaddrs returned,
        // which stays valid until freeifaddrs.
        let ifa = unsafe { &*node };
        // SAFETY: a non-null ifa_addr points at a sockaddr whose family
        // says its real type; AF_INET means a sockaddr_in.
        if !ifa.ifa_addr.is_null()
            && i32::from(unsafe { (*ifa.ifa_addr).sa_family }) == libc::AF_INET
            && !ifa.ifa_name.is_null()
        {
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
                .to_string_lossy()
                .into_owned();
            out.push((name, ip));
        }
        node = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";

    /// An egress container on `outside` (eth1, default route) and
    /// `internal` (eth0).
    const TWO_NETWORKS: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t010013AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth1\t000013AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
";

    fn addrs(list: &[(&str, &str)]) -> Vec<(String, Ipv4Addr)> {
        list.iter()
            .map(|(n, ip)| (n.to_string(), ip.parse().unwrap()))
            .collect()
    }

    #[test]
    fn route_tables() {
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        let cases: &[(String, BTreeSet<String>)] = &[
            (TWO_NETWORKS.to_owned(), set(&["eth1"])),
            // Internal network only: no default route.
            (
                format!("{HEADER}\neth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"),
                set(&[]),
            ),
            // A default route that is down does not count.
            (
                format!("{HEADER}\neth1\t00000000\t010013AC\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"),
                set(&[]),
            ),
            // A host route to 0.0.0.0/32 is not a default route.
            (
                format!("{HEADER}\neth2\t00000000\t00000000\t0001\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n"),
                set(&[]),
            ),
            // Two default routes (two outside networks).
            (
                format!(
                    "{HEADER}\neth1\t00000000\t010013AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth2\t00000000\t010014AC\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                ),
                set(&["eth1", "eth2"]),
            ),
            (String::new(), set(&[])),
            ("garbage\nnot a table at all\n".to_owned(), set(&[])),
        ];
        for (table, want) in cases {
            assert_eq!(&default_route_interfaces(table), want, "{table}");
        }
    }

    #[test]
    fn choices() {
        let outside = default_route_interfaces(TWO_NETWORKS);
        let all = addrs(&[
            ("lo", "127.0.0.1"),
            ("eth0", "172.18.0.3"),
            ("eth1", "172.19.0.2"),
        ]);
        let ips =
            |list: &[&str]| -> Vec<IpAddr> { list.iter().map(|s| s.parse().unwrap()).collect() };
        assert_eq!(
            choose(&outside, &all).unwrap(),
            ips(&["127.0.0.1", "172.18.0.3"])
        );
        // Aliases of the outside interface stay outside.
        let aliased = addrs(&[
            ("eth0", "172.18.0.3"),
            ("eth1", "172.19.0.2"),
            ("eth1:0", "172.19.0.9"),
        ]);
        assert_eq!(
            choose(&outside, &aliased).unwrap(),
            ips(&["127.0.0.1", "172.18.0.3"])
        );
        // No default route: every non-loopback address.
        assert_eq!(
            choose(&BTreeSet::new(), &all).unwrap(),
            ips(&["127.0.0.1", "172.18.0.3", "172.19.0.2"])
        );
        // Only the outside network, or nothing: an error that says so.
        let only_outside = addrs(&[("lo", "127.0.0.1"), ("eth1", "172.19.0.2")]);
        let err = choose(&outside, &only_outside).unwrap_err().to_string();
        assert!(
            err.contains("eth1 172.19.0.2") && err.contains("internal network"),
            "{err}"
        );
        let err = choose(&BTreeSet::new(), &addrs(&[("lo", "127.0.0.1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no address"), "{err}");
    }

    #[test]
    fn this_machine_has_loopback() {
        let found = interface_addresses().unwrap();
        assert!(
            found.iter().any(|(_, ip)| *ip == Ipv4Addr::LOCALHOST),
            "{found:?}"
        );
    }
}
