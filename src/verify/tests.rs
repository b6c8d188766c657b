use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};

use super::*;

fn ids(probes: &[Probe]) -> Vec<&str> {
    let mut out: Vec<&str> = probes.iter().map(|p| p.id.as_str()).collect();
    out.dedup();
    out
}

#[test]
fn outside_addresses_default_or_from_the_variable() {
    let defaults = outside(None).unwrap();
    assert_eq!(defaults.len(), OUTSIDE.len());
    assert!(defaults[1].0.is_ipv6());
    let cases: [(&str, Result<Vec<&str>, &str>); 4] = [
        ("127.0.0.1:9", Ok(vec!["127.0.0.1:9"])),
        (
            "10.0.0.2:80, [::1]:443,",
            Ok(vec!["10.0.0.2:80", "[::1]:443"]),
        ),
        ("10.0.0.2", Err("'10.0.0.2' is not ADDRESS:PORT")),
        (
            "example.com:80",
            Err("'example.com:80' is not ADDRESS:PORT"),
        ),
    ];
    for (value, want) in cases {
        let got = outside(Some(value));
        match (got, want) {
            (Ok(got), Ok(want)) => {
                let got: Vec<String> = got.iter().map(|(a, _)| a.to_string()).collect();
                assert_eq!(got, want, "{value}");
            }
            (Err(e), Err(want)) => {
                let text = e.to_string();
                assert!(text.contains(want) && text.contains(OUTSIDE_VAR), "{text}");
            }
            (got, _) => panic!("{value}: {got:?}"),
        }
    }
}

#[test]
fn every_target_is_probed_and_the_lists_are_bounded() {
    let targets = Targets {
        host_addrs: (1..=20)
            .map(|i| IpAddr::from(Ipv4Addr::new(10, 0, 0, i)))
            .collect(),
        host_ports: (8000..8020).collect(),
        neighbours: (0..20)
            .map(|i| Neighbour {
                slug: format!("b{i}"),
                service: "egress".into(),
                addr: IpAddr::from(Ipv4Addr::new(10, 1, 0, i)),
                port: 3128,
            })
            .collect(),
        outside: outside(None).unwrap(),
    };
    let probes = probes(&targets);
    let ids = ids(&probes);
    assert_eq!(ids.first(), Some(&"gw"));
    assert_eq!(&ids[ids.len() - 2..], ["dns", "egress"]);
    assert_eq!(
        ids.iter().filter(|i| i.starts_with("host")).count(),
        MOST_HOST_ADDRS
    );
    assert_eq!(
        ids.iter().filter(|i| i.starts_with("nb")).count(),
        MOST_NEIGHBOURS
    );
    assert_eq!(ids.iter().filter(|i| i.starts_with("out")).count(), 3);
    // Each host address on the fixed ports and the first listening ones.
    let host0: Vec<&str> = probes
        .iter()
        .filter(|p| p.id == "host0")
        .map(|p| p.line.as_str())
        .collect();
    assert_eq!(host0.len(), HOST_PORTS.len() + MOST_HOST_PORTS);
    assert_eq!(host0[0], "tcp host0 10.0.0.1 22");
    assert_eq!(host0[3], "tcp host0 10.0.0.1 8000");
    let script = script(&probes, Window::BringUp);
    assert!(script.ends_with(&format!("egress egress {PROBE_HOST}\nfinish 1.5\n")));
    assert!(script.contains("gateways gw 22 80 443 8000 "), "{script}");
}

/// Every probe's start line, and the gateways' count (`gw` ran `gw_n`).
fn started(probes: &[Probe], gw_n: usize) -> String {
    let mut out = format!("N gw {gw_n}\n");
    for p in probes {
        match p.id.as_str() {
            "gw" => {}
            id => out.push_str(&format!("S {id}\n")),
        }
    }
    out.push_str(&"S gw\n".repeat(gw_n));
    out
}

#[test]
fn the_report_fails_on_anything_but_the_expected_refusals() {
    let targets = Targets {
        host_addrs: vec![IpAddr::from(Ipv4Addr::new(172, 17, 0, 1))],
        outside: vec![("10.9.9.9:80".parse().unwrap(), "outside".into())],
        ..Targets::default()
    };
    let probes = probes(&targets);
    let all = started(&probes, 3);
    let sealed = format!("{all}R egress status 403\nDONE\n");
    let no_gw: String = all
        .lines()
        .filter(|l| *l != "S gw")
        .map(|l| format!("{l}\n"))
        .collect();
    let one_host: String = all.replacen("S host0\n", "", 1);
    let gw_what = "the engine host at the agent's gateways, ports 22, 80, 443";
    let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
        (sealed.clone(), vec![]),
        (
            format!("{all}R host0 connected to 172.17.0.1 port 22\nR egress status 403\nDONE\n"),
            vec![(
                "the engine host at 172.17.0.1",
                "connected to 172.17.0.1 port 22",
            )],
        ),
        (
            format!(
                "{all}R gw connected to 10.5.0.1 port 80\nR gw connected to 10.5.0.1 port 443\nR egress status 403\nDONE\n"
            ),
            vec![(
                gw_what,
                "connected to 10.5.0.1 port 80; connected to 10.5.0.1 port 443",
            )],
        ),
        (
            format!(
                "{all}R dns resolved example.com\nR out0 connected to 10.9.9.9 port 80\nR egress status 403\nDONE\n"
            ),
            vec![
                ("outside (10.9.9.9:80)", "connected to 10.9.9.9 port 80"),
                (
                    "the name example.com, through the agent's resolver",
                    "resolved example.com",
                ),
            ],
        ),
        (
            format!("{all}R egress status 502\nDONE\n"),
            vec![("a host no route allows, through egress", "status 502")],
        ),
        (
            format!("{all}R egress status \nDONE\n"),
            vec![(
                "a host no route allows, through egress",
                "?egress closed the connection without an answer",
            )],
        ),
        (
            format!("{all}R egress proxy unreachable\nDONE\n"),
            vec![(
                "a host no route allows, through egress",
                "?proxy unreachable",
            )],
        ),
        (
            format!("{all}DONE\n"),
            vec![(
                "a host no route allows, through egress",
                "?no answer from egress",
            )],
        ),
        (
            format!("{all}R egress status 403\n"),
            vec![("the probes", "?did not finish")],
        ),
        // Forks refused: a probe that never started is no refusal.
        (
            format!("{no_gw}R egress status 403\nDONE\n"),
            vec![(gw_what, "?did not run")],
        ),
        (
            format!("{one_host}R egress status 403\nDONE\n"),
            vec![("the engine host at 172.17.0.1", "?did not run")],
        ),
        (
            "N gw 0\nDONE\n".to_owned(),
            vec![
                ("the engine host at 172.17.0.1", "?did not run"),
                ("outside (10.9.9.9:80)", "?did not run"),
                (
                    "the name example.com, through the agent's resolver",
                    "?did not run",
                ),
                ("a host no route allows, through egress", "?did not run"),
            ],
        ),
        (
            "DONE\n".to_owned(),
            vec![
                (gw_what, "?did not run"),
                ("the engine host at 172.17.0.1", "?did not run"),
                ("outside (10.9.9.9:80)", "?did not run"),
                (
                    "the name example.com, through the agent's resolver",
                    "?did not run",
                ),
                ("a host no route allows, through egress", "?did not run"),
            ],
        ),
    ];
    for (output, want) in &cases {
        let report = judge(&probes, output, 1000);
        // What could not tell is marked `?`.
        let unknown: Vec<String> = report
            .unchecked
            .iter()
            .map(|f| format!("?{}", f.got))
            .collect();
        let got: Vec<(&str, &str)> = report
            .failed
            .iter()
            .map(|f| (f.what.as_str(), f.got.as_str()))
            .chain(
                report
                    .unchecked
                    .iter()
                    .zip(&unknown)
                    .map(|(f, g)| (f.what.as_str(), g.as_str())),
            )
            .collect();
        assert_eq!(&got, want, "{output}");
        assert_eq!(report.sealed(), want.is_empty());
        assert_eq!(
            report.broken(),
            want.iter().any(|(_, g)| !g.starts_with('?'))
        );
        assert_eq!(report.probes, 5);
    }
    let report = judge(&probes, &sealed, 1000);
    assert_eq!(report.summary(1130), "sealed ✓ 2m");
    let broken = judge(
        &probes,
        &format!("{all}R dns resolved example.com\nR egress status 403\nDONE\n"),
        1000,
    );
    assert_eq!(
        broken.summary(1000),
        "NOT SEALED 0s: the name example.com, through the agent's resolver (resolved example.com)"
    );
}

/// A proxy of the test's own that answers one request with `status`.
fn proxy(status: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let _ = conn.write_all(format!("HTTP/1.1 {status}\r\n\r\n").as_bytes());
        String::from_utf8_lossy(&got).into_owned()
    });
    (port, thread)
}

/// Runs the script with bash here, the proxy variable set to `proxy_url`.
fn run_here(probes: &[Probe], proxy_url: &str) -> Report {
    let mut child = std::process::Command::new("bash")
        .arg("-s")
        .env("http_proxy", proxy_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script(probes, Window::Later).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    judge(probes, &String::from_utf8_lossy(&out.stdout), 0)
}

#[test]
fn the_script_has_teeth_a_listener_it_reaches_is_a_failure() {
    let open = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let (proxy_port, seen) = proxy("403 Forbidden");
    let targets = Targets {
        outside: vec![
            (
                format!("127.0.0.1:{open_port}").parse().unwrap(),
                "reachable".into(),
            ),
            (
                format!("127.0.0.1:{closed_port}").parse().unwrap(),
                "closed".into(),
            ),
        ],
        ..Targets::default()
    };
    let probes: Vec<Probe> = probes(&targets)
        .into_iter()
        .filter(|p| p.id != "gw" && p.id != "dns")
        .collect();
    let report = run_here(&probes, &format!("http://bb:s3cret@127.0.0.1:{proxy_port}"));
    let request = seen.join().unwrap();
    assert!(
        request.starts_with(&format!("GET http://{PROBE_HOST}/ HTTP/1.1\r\n")),
        "{request}"
    );
    // bb:s3cret, as the proxy's basic credentials.
    assert!(
        request.contains("Proxy-Authorization: Basic YmI6czNjcmV0\r\n"),
        "{request}"
    );
    let failed: Vec<&str> = report.failed.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(failed, [format!("reachable (127.0.0.1:{open_port})")]);
    assert_eq!(
        report.failed[0].got,
        format!("connected to 127.0.0.1 port {open_port}")
    );

    let (proxy_port, _seen) = proxy("200 OK");
    let egress_only: Vec<Probe> = probes.into_iter().filter(|p| p.id == "egress").collect();
    let report = run_here(&egress_only, &format!("http://127.0.0.1:{proxy_port}"));
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].got, "status 200");
}
