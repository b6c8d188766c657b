//! Which upstream addresses are public, pure. A route's host must resolve
//! to a public unicast address unless the route has
//! `allow_private_addresses`: an approved name that points at loopback, a
//! private network or the cloud metadata service must not turn the proxy
//! into a way into them.
//!
//! IPv6 is checked by allowlist (global unicast 2000::/3, minus its special
//! blocks), and the forms that carry an IPv4 address (mapped, compatible,
//! NAT64, 6to4) are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a public one, or None when it is.
pub(crate) fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

/// (network, prefix length, what it is), most specific first where they
/// overlap.
const V4_BLOCKS: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "this-network (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    (
        [169, 254, 0, 0],
        16,
        "link-local (169.254.0.0/16, cloud metadata)",
    ),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([255, 255, 255, 255], 32, "broadcast (255.255.255.255)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
];

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_BLOCKS.iter().find_map(|(net, len, what)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
        (bits & mask == u32::from(Ipv4Addr::from(*net)) & mask).then_some(*what)
    })
}

/// Blocks inside 2000::/3 that are not public unicast.
const V6_SPECIAL: &[(u128, u8, &str)] = &[
    (0x2001_0000 << 96, 32, "Teredo (2001::/32)"),
    (0x2001_0002 << 96, 48, "benchmarking (2001:2::/48)"),
    (0x2001_0010 << 96, 28, "ORCHID (2001:10::/28)"),
    (0x2001_0020 << 96, 28, "ORCHIDv2 (2001:20::/28)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0x3fff_0000 << 96, 20, "documentation (3fff::/20)"),
];

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let in_block = |net: u128, len: u8| {
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        bits & mask == net & mask
    };
    if bits == 0 {
        return Some("unspecified (::)");
    }
    if bits == 1 {
        return Some("loopback (::1)");
    }
    // Forms that carry an IPv4 address: judged by it.
    let embedded = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_block(0xffff << 32, 96) {
        return non_public_v4(embedded);
    }
    if in_block(0xffff << 48, 96) {
        return Some("IPv4-translated (::ffff:0:0:0/96)");
    }
    if in_block(0, 96) {
        // IPv4-compatible (deprecated): never a real upstream.
        return Some("IPv4-compatible (::/96)");
    }
    if in_block(0x0064_ff9b << 96, 96) {
        return non_public_v4(embedded);
    }
    if in_block(0x0064_ff9b_0001 << 80, 48) {
        return Some("local-use NAT64 (64:ff9b:1::/48)");
    }
    if in_block(0x2002 << 112, 16) {
        let six_to_four = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return non_public_v4(six_to_four).map(|_| "6to4 (2002::/16) of a non-public IPv4");
    }
    if !in_block(0x2 << 124, 3) {
        return Some(if in_block(0xfc << 120, 7) {
            "unique local (fc00::/7)"
        } else if in_block(0xfe80 << 112, 10) {
            "link-local (fe80::/10)"
        } else if in_block(0xfec0 << 112, 10) {
            "site-local (fec0::/10)"
        } else if in_block(0xff << 120, 8) {
            "multicast (ff00::/8)"
        } else {
            "not global unicast (outside 2000::/3)"
        });
    }
    V6_SPECIAL
        .iter()
        .find(|(net, len, _)| in_block(*net, *len))
        .map(|(_, _, what)| *what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        // (address, Some(substring of the reason) or None when public)
        let cases: &[(&str, Option<&str>)] = &[
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("140.82.112.3", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("192.169.0.1", None),
            ("223.255.255.255", None),
            ("0.0.0.0", Some("this-network")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("metadata")),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("100.127.255.255", Some("carrier-grade NAT")),
            ("192.0.0.170", Some("IETF")),
            ("192.0.2.1", Some("documentation")),
            ("198.18.0.1", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4007:80e::200e", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:169.254.169.254", Some("metadata")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("::ffff:0:808:808", Some("IPv4-translated")),
            ("::127.0.0.1", Some("IPv4-compatible")),
            ("::8.8.8.8", Some("IPv4-compatible")),
            ("64:ff9b::7f00:1", Some("loopback")),
            ("64:ff9b::a9fe:a9fe", Some("metadata")),
            ("64:ff9b::808:808", None),
            ("64:ff9b:1::1", Some("local-use NAT64")),
            ("2002:7f00:0001::1", Some("6to4")),
            ("2002:a9fe:a9fe::1", Some("6to4")),
            ("2002:0808:0808::1", None),
            ("fc00::1", Some("unique local")),
            ("fd12:3456::1", Some("unique local")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("ff02::1", Some("multicast")),
            ("100::1", Some("not global unicast")),
            ("2001::1", Some("Teredo")),
            ("2001:db8::1", Some("documentation")),
            ("2001:10::1", Some("ORCHID")),
            ("2001:2::1", Some("benchmarking")),
            ("3fff::1", Some("documentation")),
        ];
        for (addr, want) in cases {
            let ip: IpAddr = addr.parse().unwrap();
            let got = non_public(ip);
            match want {
                None => assert_eq!(got, None, "{addr}"),
                Some(part) => assert!(
                    got.is_some_and(|g| g.contains(part)),
                    "{addr}: {got:?}, want {part}"
                ),
            }
        }
    }
}
