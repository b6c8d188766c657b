//! More bottles than the engine's default address pools hold (about 15:
//! each bottle has two networks): their networks come from bot-bottle's
//! own subnet pool, so 20 start at once and all come up.

mod support;

use support::docker::{Env, docker_ok};

const BOTTLES: usize = 20;
const AT_ONCE: usize = 4;

#[test]
#[cfg_attr(skip_docker, ignore = "BOT_BOTTLE_SKIP_DOCKER=1")]
fn twenty_bottles_start_at_once_on_a_default_engine() {
    let env = Env::new();
    let started = std::time::Instant::now();
    let slugs: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..AT_ONCE)
            .map(|w| {
                let env = &env;
                scope.spawn(move || {
                    (w..BOTTLES)
                        .step_by(AT_ONCE)
                        .map(|i| {
                            let label = format!("scale-{i}");
                            env.start_detached(&["shell", "--label", &label])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    eprintln!("{BOTTLES} bottles up in {:?}", started.elapsed());

    let (code, out, err) = env.run(&["list", "active"]);
    assert_eq!(code, 0, "{err}");
    for slug in &slugs {
        assert!(out.contains(slug.as_str()), "{slug} not listed:\n{out}");
    }
    // Every network of theirs is a /28 of the default pool.
    let pool = "198.18.0.0/15";
    let (base, _) = pool.split_once('/').unwrap();
    let first: u32 = base.parse::<std::net::Ipv4Addr>().unwrap().into();
    for slug in &slugs {
        for net in ["internal", "outside"] {
            let name = format!("bot-bottle-{slug}_{net}");
            let subnet = docker_ok(&[
                "network",
                "inspect",
                "--format",
                "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
                &name,
            ]);
            let (addr, prefix) = subnet.split_once('/').unwrap();
            let addr: u32 = addr.parse::<std::net::Ipv4Addr>().unwrap().into();
            assert_eq!(prefix, "28", "{name}: {subnet}");
            assert!(
                addr >= first && addr < first + (1 << 17),
                "{name}: {subnet} is outside {pool}"
            );
        }
    }
    // One bottle's agent still reaches its own egress and nothing else's.
    let (code, out) = env.sh(
        &slugs[BOTTLES - 1],
        "curl -s -o /dev/null -w '%{http_code}' http://denied.invalid/",
    );
    assert_eq!((code, out.trim()), (0, "403"));

    let (code, _, err) = env.run(&["cleanup", "--yes"]);
    assert_eq!(code, 0, "{err}");
    env.assert_no_state();
}
