//! The three probe sets: in the other bottle's agent, in the test's probe
//! container, and the battery proper in the agent of bottle A.

use bot_bottle::backend::names;
use std::collections::BTreeSet;
use std::net::IpAddr;

use base64::Engine as _;

use super::host::{host_addresses, hostname};
use super::probes::{Expect, Probes, q, url_host};
use crate::support::docker::container_ips;
use crate::{
    CATCH_PORT, MCP_PORT, METADATA_IP, PROXY_PORT, Runtime, UPSTREAM_CATCH, World, broadcast_of,
    random_alnum,
};

/// In the other bottle's agent: a listener of its own (which the battery
/// must not reach), and proof that it listens.
pub fn bottle_b_probes() -> Probes {
    let mut p = Probes::default();
    p.line(format!("p_listen {CATCH_PORT} /tmp/bbcatch.log; sleep 1"));
    p.tcp(
        "teeth-b-tcp",
        "127.0.0.1",
        CATCH_PORT,
        Expect::Reached,
        "the listener, from its own agent",
    );
    p.udp(
        "teeth-b-udp",
        "127.0.0.1",
        CATCH_PORT,
        "the listener, from its own agent",
    );
    p
}

/// In the test's probe container, where every target is reachable: the
/// probes get through. And the egress proxy does not answer on the outside
/// network.
pub fn teeth_probes(world: &World) -> Probes {
    let mut p = Probes::default();
    let (teeth_net, teeth_subnet, gateway) = world.network("bbtest-iso-teeth").clone();
    let gateway = gateway.unwrap_or_else(|| panic!("{teeth_net} has no gateway"));
    let run = &world.run;
    let port = world.port;
    p.tcp(
        "teeth-host-tcp",
        &gateway,
        port,
        Expect::Reached,
        "the host, from a normal network",
    );
    p.udp(
        "teeth-host-udp",
        &gateway,
        port,
        "the host, from a normal network",
    );
    p.curl(
        "teeth-host-curl",
        &format!("http://{gateway}:{port}/bbprobe-{run}-teeth-host-curl"),
        false,
        &[],
        Expect::Reached,
        "the host, from a normal network",
    );
    p.bcast(
        "teeth-host-bcast",
        port,
        &[&broadcast_of(&teeth_subnet)],
        "the host, from a normal network",
    );
    p.curl(
        "teeth-meta",
        &format!("http://{METADATA_IP}/bbprobe-{run}-teeth-meta"),
        false,
        &[],
        Expect::Reached,
        "the metadata server, from its network",
    );
    let outside = names::network(&world.a, "outside");
    let up_ip = world.ip_on(&world.upstream, &outside);
    p.tcp(
        "teeth-up-tcp",
        &up_ip,
        UPSTREAM_CATCH,
        Expect::Reached,
        "the upstream, from the bottle's outside network",
    );
    p.udp(
        "teeth-up-udp",
        &up_ip,
        UPSTREAM_CATCH,
        "the upstream, from the bottle's outside network",
    );
    // gVisor refuses raw sockets to all (unless started with --net-raw).
    if world.runtime == Runtime::Runc {
        p.raw("teeth-raw", Expect::Raw);
    }

    // The egress proxy answers the agent only: not on the outside network.
    let egress_out = world.ip_on(&names::container(&world.a, "egress"), &outside);
    p.tcp(
        "egress-outside-tcp",
        &egress_out,
        PROXY_PORT,
        Expect::Blocked,
        "the egress proxy at its outside address, from the outside network",
    );
    p.curl(
        "egress-outside-proxy",
        &format!("https://open.test/?m={run}-egress-outside-proxy"),
        true,
        &["-x", &format!("http://{egress_out}:{PROXY_PORT}")],
        Expect::Blocked,
        "the egress as a proxy from the outside network",
    );
    p
}

/// The battery, from the agent of bottle A.
pub fn agent_probes(world: &World) -> Probes {
    let mut p = Probes::default();
    let run = &world.run;
    let port = world.port;
    let (a, b) = (&world.a, &world.b);
    let internal = names::network(a, "internal");
    let outside = names::network(a, "outside");

    // Its sidecars answer (by name and by address).
    p.tcp(
        "own-egress",
        "egress",
        PROXY_PORT,
        Expect::Reached,
        "its own egress",
    );
    p.tcp(
        "own-supervise",
        "supervise",
        MCP_PORT,
        Expect::Reached,
        "its own supervise",
    );
    for role in ["egress", "supervise"] {
        let ip = world.ip_on(&names::container(a, role), &internal);
        let port = if role == "egress" {
            PROXY_PORT
        } else {
            MCP_PORT
        };
        p.tcp(
            &format!("own-{role}-ip"),
            &ip,
            port,
            Expect::Reached,
            &format!("its own {role}"),
        );
    }
    p.getent("own-getent", "egress", Expect::Resolved, "its own egress");
    p.dns("own-dns", "egress", Expect::Resolved, "its own egress");

    // The host, at every one of its addresses, and by the names a
    // container might know it by.
    let mut hosts: Vec<(String, String)> = Vec::new();
    for (iface, ip) in host_addresses() {
        if ip.is_loopback() {
            continue;
        }
        let addr = match ip {
            IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => format!("{v6}%@IF@"),
            other => other.to_string(),
        };
        hosts.push((addr, format!("the host's {iface}")));
    }
    for (net, _, gateway) in &world.networks {
        if let Some(gw) = gateway {
            hosts.push((gw.clone(), format!("gateway of {net}")));
        }
    }
    hosts.push(("127.0.0.1".into(), "the agent's own loopback".into()));
    hosts.push(("::1".into(), "the agent's own loopback".into()));
    for name in ["host.docker.internal", "gateway.docker.internal"] {
        hosts.push((name.into(), "the host, by name".into()));
    }
    hosts.push((hostname(), "the host's own hostname".into()));
    let mut seen = BTreeSet::new();
    hosts.retain(|(addr, _)| seen.insert(addr.clone()));
    for (i, (addr, what)) in hosts.iter().enumerate() {
        let id = format!("host{i}");
        let h = url_host(addr);
        p.tcp(&format!("{id}-tcp"), addr, port, Expect::Blocked, what);
        p.udp(&format!("{id}-udp"), addr, port, what);
        p.curl(
            &format!("{id}-curl"),
            &format!("http://{h}:{port}/bbprobe-{run}-{id}-curl"),
            false,
            &[],
            Expect::Blocked,
            what,
        );
        p.http(
            &format!("{id}-proxy"),
            &[&format!("http://{h}:{port}/bbprobe-{run}-{id}-proxy")],
            Expect::Blocked,
            what,
        );
        p.http(
            &format!("{id}-proxys"),
            &[
                "-k",
                &format!("https://{h}:{port}/bbprobe-{run}-{id}-proxys"),
            ],
            Expect::Blocked,
            what,
        );
    }
    let a_broadcast = broadcast_of(&world.network(&internal).1);
    p.bcast(
        "bcast-all",
        port,
        &["255.255.255.255"],
        "the host, by broadcast",
    );
    p.bcast(
        "bcast-subnet",
        port,
        &[&a_broadcast],
        "the host, by the internal network's broadcast",
    );
    p.udp(
        "mcast4",
        "224.0.0.1",
        port,
        "every IPv4 host on the link (multicast)",
    );
    p.udp(
        "mcast6",
        "ff02::1%@IF@",
        port,
        "every IPv6 node on the link",
    );

    // The other bottle: every address of each of its containers.
    for role in ["agent", "egress", "supervise"] {
        let container = names::container(b, role);
        for (j, (net, ip)) in container_ips(&container).into_iter().enumerate() {
            let what = format!("the other bottle's {role} on {net}");
            let id = format!("b-{role}{j}");
            p.tcp_blocked(&id, &ip, &[CATCH_PORT, PROXY_PORT, MCP_PORT], &what);
            p.udp(&format!("{id}-udp"), &ip, CATCH_PORT, &what);
            for port in [CATCH_PORT, PROXY_PORT, MCP_PORT] {
                p.curl(
                    &format!("{id}-curl{port}"),
                    &format!("http://{ip}:{port}/bbprobe-{run}-{id}-curl{port}"),
                    false,
                    &[],
                    Expect::Blocked,
                    &what,
                );
            }
        }
        p.tcp(
            &format!("b-{role}-name"),
            &container,
            CATCH_PORT,
            Expect::Blocked,
            "the other bottle, by container name",
        );
    }

    // The outside: the upstream at each of its addresses, and by name.
    for (j, (net, ip)) in container_ips(&world.upstream).into_iter().enumerate() {
        let what = format!("the upstream on {net}");
        let id = format!("up{j}");
        p.tcp_blocked(&id, &ip, &[443, 80, UPSTREAM_CATCH], &what);
        p.udp(&format!("{id}-udp"), &ip, UPSTREAM_CATCH, &what);
        p.curl(
            &format!("{id}-curl"),
            &format!("https://{ip}/?m={run}-{id}-curl"),
            false,
            &[],
            Expect::Blocked,
            &what,
        );
        p.curl(
            &format!("{id}-noenv"),
            &format!("http://{ip}/?m={run}-{id}-noenv"),
            true,
            &[],
            Expect::Blocked,
            &what,
        );
        p.http(
            &format!("{id}-proxy"),
            &["-k", &format!("https://{ip}/?m={run}-{id}-proxy")],
            Expect::Blocked,
            &format!("{what}, by address"),
        );
    }
    for (j, name) in ["cred.test", "open.test"].iter().enumerate() {
        let what = "the upstream, by name, around the proxy";
        p.curl(
            &format!("upname{j}-curl"),
            &format!("https://{name}/ok/quiet?m={run}-upname{j}-curl"),
            false,
            &[],
            Expect::Blocked,
            what,
        );
        p.curl(
            &format!("upname{j}-noenv"),
            &format!("https://{name}/ok/quiet?m={run}-upname{j}-noenv"),
            true,
            &[],
            Expect::Blocked,
            what,
        );
        p.curl(
            &format!("upname{j}-noenv80"),
            &format!("http://{name}/ok/quiet?m={run}-upname{j}-noenv80"),
            true,
            &[],
            Expect::Blocked,
            what,
        );
        p.tcp(&format!("upname{j}-tcp"), name, 443, Expect::Blocked, what);
    }

    // Metadata: directly, and through a route whose host resolves there.
    let what = "the metadata server";
    for port in [80, 443, UPSTREAM_CATCH] {
        p.tcp(
            &format!("meta-tcp{port}"),
            METADATA_IP,
            port,
            Expect::Blocked,
            what,
        );
    }
    p.udp("meta-udp", METADATA_IP, UPSTREAM_CATCH, what);
    p.curl(
        "meta-curl",
        &format!("http://{METADATA_IP}/latest/meta-data/?m={run}-meta-curl"),
        false,
        &[],
        Expect::Blocked,
        what,
    );
    p.curl(
        "meta-noenv",
        &format!("http://{METADATA_IP}/latest/meta-data/?m={run}-meta-noenv"),
        true,
        &[],
        Expect::Blocked,
        what,
    );
    p.http(
        "meta-proxy-ip",
        &[&format!(
            "http://{METADATA_IP}/latest/meta-data/?m={run}-meta-proxy-ip"
        )],
        Expect::Blocked,
        "the metadata server by address",
    );
    p.http(
        "meta-route",
        &[&format!(
            "https://meta.test/latest/meta-data/?m={run}-meta-route"
        )],
        Expect::Blocked,
        "a route whose host resolves to 169.254.169.254",
    );
    p.http(
        "meta-route-http",
        &[&format!(
            "http://meta.test/latest/meta-data/?m={run}-meta-route-http"
        )],
        Expect::Blocked,
        "a route whose host resolves to 169.254.169.254, plain HTTP",
    );

    // Its own egress at its outside address.
    let egress_out = world.ip_on(&names::container(a, "egress"), &outside);
    p.tcp(
        "own-egress-outside",
        &egress_out,
        PROXY_PORT,
        Expect::Blocked,
        "its own egress at its outside address",
    );

    // The proxy asked for what is no route: another port of a route's
    // host, the sidecars themselves, the proxy's own loopback.
    let aims: &[(&str, String)] = &[
        (
            "port-route",
            format!("https://open.test:{UPSTREAM_CATCH}/?m={run}-port-route"),
        ),
        (
            "port-route-http",
            format!("http://open.test:{UPSTREAM_CATCH}/?m={run}-port-route-http"),
        ),
        (
            "proxy-supervise",
            format!("http://supervise:{MCP_PORT}/mcp?m={run}-proxy-supervise"),
        ),
        (
            "proxy-egress",
            format!("http://egress:{PROXY_PORT}/?m={run}-proxy-egress"),
        ),
        (
            "proxy-localhost",
            format!("http://localhost:{PROXY_PORT}/?m={run}-proxy-localhost"),
        ),
    ];
    for (id, url) in aims {
        p.http(
            id,
            &["-k", url],
            Expect::Blocked,
            "no route, through the proxy",
        );
    }

    // DNS: names only the outside knows.
    let mut names: Vec<String> = vec![
        "cred.test".into(),
        "open.test".into(),
        "meta.test".into(),
        world.upstream.clone(),
        world.teeth.clone(),
        "host.docker.internal".into(),
        "gateway.docker.internal".into(),
        hostname(),
        b.clone(),
    ];
    for role in ["agent", "egress", "supervise"] {
        names.push(names::container(b, role));
    }
    for (i, name) in names.iter().enumerate() {
        p.getent(
            &format!("name{i}-getent"),
            name,
            Expect::Unresolved,
            "a name only the outside knows",
        );
        p.dns(
            &format!("name{i}-dns"),
            name,
            Expect::Unresolved,
            "a name only the outside knows",
        );
    }

    p.raw("raw", Expect::NoRaw);

    credential_probes(&mut p, run, &world.canary);
    dlp_probes(&mut p, run, &world.key);
    p
}

/// Through the proxy, on the credentialed route: the token goes upstream,
/// never back to the agent; nothing outside its path allowlist goes out.
fn credential_probes(p: &mut Probes, run: &str, canary: &str) {
    // What the agent sends itself comes back, by each way the upstream
    // reflects: the search below for the token finds what is there.
    let header = format!("X-Canary: {canary}");
    for (id, path) in [
        ("teeth-echo", "/ok/echo"),
        ("teeth-echo-gzip", "/ok/gzip"),
        ("teeth-echo-b64", "/ok/b64"),
        ("teeth-echo-redirect", "/ok/redirect"),
        ("teeth-echo-header", "/ok/header"),
    ] {
        let url = format!("https://open.test{path}?m={run}-{id}");
        p.http(
            id,
            &["-H", &header, &url],
            Expect::Echoes,
            "the open route reflects the request",
        );
    }
    let url = |path: &str, id: &str| format!("https://cred.test{path}?m={run}-{id}");
    p.http(
        "cred-ok",
        &[&url("/ok/quiet", "cred-ok")],
        Expect::Reached,
        "the route works, token added",
    );
    let echoes: &[(&str, &[&str], &str)] = &[
        ("cred-echo", &[], "/ok/echo"),
        ("cred-gzip", &["-H", "Accept-Encoding: gzip"], "/ok/gzip"),
        ("cred-gzip-dec", &["--compressed"], "/ok/gzip"),
        ("cred-redirect", &[], "/ok/redirect"),
        ("cred-follow", &["-L"], "/ok/redirect"),
        ("cred-header", &[], "/ok/header"),
        ("cred-b64", &[], "/ok/b64"),
        ("cred-trace", &["-X", "TRACE"], "/ok/echo"),
        ("cred-trace-root", &["-X", "TRACE"], "/"),
        (
            "cred-post-echo",
            &["-X", "POST", "--data", "x=1"],
            "/ok/echo",
        ),
    ];
    for (id, args, path) in echoes {
        let mut all: Vec<&str> = args.to_vec();
        let u = url(path, id);
        all.push(&u);
        p.http(
            id,
            &all,
            Expect::NoToken,
            "an upstream that reflects the request",
        );
    }
    p.http(
        "cred-plain",
        &[&format!("http://cred.test/ok/quiet?m={run}-cred-plain")],
        Expect::Blocked,
        "plain HTTP to a credentialed route",
    );
    let tricks = [
        "/ok/..;/nope/",
        "/ok/../nope/",
        "/ok/%2e%2e/nope/",
        "/ok/%2E%2E/nope/",
        "/ok/.%2e/nope/",
        "/ok/%2e./nope/",
        "/ok/..%2fnope/",
        "/ok/%2e%2e%2fnope/",
        "/ok%2f..%2fnope/",
        "/ok/..%5cnope/",
        "/ok/..\\nope/",
        "/ok/%252e%252e/nope/",
        "/ok/;/../nope/",
        "/ok/.;/../nope/",
        "/ok/%00/../nope/",
        "/ok/%2e%2e;/nope/",
        "/ok/x/..%252f..%252fnope/",
    ];
    for (i, path) in tricks.iter().enumerate() {
        let id = format!("path{i}");
        p.http(
            &id,
            &[&url(path, &id)],
            Expect::Blocked,
            "a path outside the allowlist, disguised",
        );
    }
    // The request line says something else than the URL the proxy was given.
    p.http(
        "target-origin",
        &[
            "--request-target",
            &format!("/nope/?m={run}-target-origin"),
            &url("/ok/quiet", "target-origin-url"),
        ],
        Expect::Blocked,
        "a request target outside the allowlist",
    );
    p.http(
        "target-absolute",
        &[
            "--request-target",
            &format!("https://cred.test/nope/?m={run}-target-absolute"),
            &url("/ok/quiet", "target-absolute-url"),
        ],
        Expect::Blocked,
        "an absolute request target outside the allowlist",
    );
    // A Host header that names the other route: judged by what the upstream saw.
    p.http(
        "host-swap",
        &[
            "-H",
            "Host: cred.test",
            &format!("https://open.test/nope/?m={run}-host-swap"),
        ],
        Expect::Upstream,
        "Host: cred.test on the open route",
    );
    p.http(
        "host-swap-cred",
        &["-H", "Host: open.test", &url("/ok/quiet", "host-swap-cred")],
        Expect::Upstream,
        "Host: open.test on the credentialed route",
    );
}

/// Through the proxy, on the open route: a well-known key shape in
/// disguise is refused, and never seen upstream.
fn dlp_probes(p: &mut Probes, run: &str, key: &str) {
    let url = |id: &str| format!("https://open.test/dlp/?m={run}-{id}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("k={key}"));
    let pct: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let dashes_pct = key.replace('-', "%2D");
    let double_pct = key.replace('-', "%252D");
    let json_escaped = key.replace('-', "\\u002d");
    let github = format!("ghp_{}", random_alnum(36));
    p.line(format!(
        "printf '{{\"note\":\"%s\"}}' {} | gzip -c > /tmp/bbprobe-dlp.gz",
        q(key)
    ));
    p.http(
        "dlp-clean",
        &["-H", "X-Data: nothing to see", &url("dlp-clean")],
        Expect::Reached,
        "the open route works",
    );
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "dlp-plain",
            vec!["-H".into(), format!("X-Data: {key}")],
            "the key as is, in a header",
        ),
        (
            "dlp-letter",
            vec!["-H".into(), format!("X-Data: x{key}")],
            "the key after a letter, in a header",
        ),
        (
            "dlp-trailing",
            vec!["-H".into(), format!("X-Data: {github}xyz")],
            "a GitHub token followed by letters, in a header",
        ),
        (
            "dlp-json",
            vec![
                "-H".into(),
                "Content-Type: application/json".into(),
                "--data".into(),
                format!("{{\"note\":\"{json_escaped}\"}}"),
            ],
            "the key JSON-escaped (\\u002d) in a JSON body",
        ),
        (
            "dlp-b64-body",
            vec!["--data".into(), b64.clone()],
            "the key base64-encoded, in the body",
        ),
        (
            "dlp-b64-header",
            vec!["-H".into(), format!("X-Data: {b64}")],
            "the key base64-encoded, in a header",
        ),
        (
            "dlp-b64url",
            vec!["--data".into(), b64url],
            "the key base64url-encoded, in the body",
        ),
        (
            "dlp-pct-query",
            vec![format!(
                "https://open.test/dlp/?m={run}-dlp-pct-query&q={pct}"
            )],
            "the key percent-encoded, in the query",
        ),
        (
            "dlp-pct-dashes",
            vec![format!(
                "https://open.test/dlp/?m={run}-dlp-pct-dashes&q={dashes_pct}"
            )],
            "the key's dashes percent-encoded, in the query",
        ),
        (
            "dlp-pct-double",
            vec![format!(
                "https://open.test/dlp/?m={run}-dlp-pct-double&q={double_pct}"
            )],
            "the key double-percent-encoded, in the query",
        ),
        (
            "dlp-pct-path",
            vec![format!("https://open.test/dlp/{pct}/?m={run}-dlp-pct-path")],
            "the key percent-encoded, in the path",
        ),
        (
            "dlp-gzip",
            vec![
                "-H".into(),
                "Content-Encoding: gzip".into(),
                "-H".into(),
                "Content-Type: application/json".into(),
                "--data-binary".into(),
                "@/tmp/bbprobe-dlp.gz".into(),
            ],
            "the key in a gzip-compressed body",
        ),
        (
            "dlp-form",
            vec!["--data-urlencode".into(), format!("note={key}")],
            "the key in a form body",
        ),
    ];
    for (id, mut args, what) in cases {
        if !args.iter().any(|a| a.starts_with("https://")) {
            args.push(url(id));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        p.http(id, &args, Expect::Blocked, what);
    }
}
