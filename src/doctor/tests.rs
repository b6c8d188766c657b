use super::*;

fn pool_use(free: usize) -> PoolUse {
    PoolUse {
        pool: Net::parse("198.18.0.0/15").unwrap(),
        free,
        total: 8192,
    }
}

fn problem(what: &str, fix: Option<&str>) -> Problem {
    Problem::new(what, fix.map(str::to_owned))
}

/// A machine with everything.
fn good() -> Facts {
    Facts {
        engine: Ok("20.10.24".into()),
        compose: Ok("2.26.1".into()),
        tmux: Ok("tmux 3.3a".into()),
        base_image: Ok(true),
        runsc: Some("/usr/bin/runsc".into()),
        runsc_registered: Ok(true),
        smolvm: Ok("/usr/local/bin/smolvm".into()),
        pool: Ok(pool_use(8190)),
        binary: Ok("/usr/local/bin/bot-bottle".into()),
    }
}

#[test]
fn a_good_machine_is_all_ok() {
    let lines = check(&good());
    assert!(healthy(&lines));
    assert_eq!(
        lines.iter().map(|l| l.check).collect::<Vec<_>>(),
        [
            "docker",
            "compose",
            "tmux",
            "base image",
            "runsc",
            "smolvm",
            "subnets",
            "binary"
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.status == Status::Ok && l.fix.is_none())
    );
    insta::assert_snapshot!(render(&lines, false));
}

type Case = (
    &'static str,
    fn(&mut Facts),
    &'static str,
    Status,
    &'static str,
    Option<&'static str>,
);

#[test]
fn each_failure_says_what_and_how_to_fix_it() {
    // (what, change, check, status, found contains, fix contains)
    let cases: Vec<Case> = vec![
        (
            "no engine",
            |f| {
                f.engine = Err(problem(
                    "`docker version` failed (exit 1): Cannot connect to the Docker daemon",
                    None,
                ))
            },
            "docker",
            Status::Missing,
            "Cannot connect",
            Some("systemctl start docker"),
        ),
        (
            "no docker at all",
            |f| {
                f.engine = Err(problem(
                    "docker was not found",
                    Some("install Docker Engine (Debian: apt install docker.io)"),
                ))
            },
            "docker",
            Status::Missing,
            "docker was not found",
            Some("apt install docker.io"),
        ),
        (
            "compose v1",
            |f| {
                f.compose = Err(problem(
                    "Docker Compose v2 (`docker compose`) is missing: found version 1.29.2, which is v1",
                    Some("run scripts/setup"),
                ))
            },
            "compose",
            Status::Missing,
            "which is v1",
            Some("scripts/setup"),
        ),
        (
            "no tmux",
            |f| {
                f.tmux = Err(problem(
                    "tmux was not found",
                    Some("install tmux (apt-get install tmux; scripts/setup does)"),
                ))
            },
            "tmux",
            Status::Missing,
            "tmux was not found",
            Some("apt-get install tmux"),
        ),
        (
            "no base image",
            |f| f.base_image = Ok(false),
            "base image",
            Status::Missing,
            "debian:bookworm-slim is not in the engine",
            Some("bot-bottle image bootstrap"),
        ),
        (
            "base image not asked",
            |f| f.base_image = Err(problem("the docker engine does not answer", None)),
            "base image",
            Status::Missing,
            "not checked: the docker engine does not answer",
            None,
        ),
        (
            "runsc not registered",
            |f| f.runsc_registered = Ok(false),
            "runsc",
            Status::Warn,
            "/usr/bin/runsc is installed but not registered",
            Some("BOT_BOTTLE_GVISOR=1 scripts/setup"),
        ),
        (
            "no runsc",
            |f| {
                f.runsc = None;
                f.runsc_registered = Ok(false);
            },
            "runsc",
            Status::Warn,
            "not installed: agents run under runc",
            Some("BOT_BOTTLE_GVISOR=1 scripts/setup"),
        ),
        (
            "runsc, engine not asked",
            |f| f.runsc_registered = Err(problem("the docker engine does not answer", None)),
            "runsc",
            Status::Warn,
            "/usr/bin/runsc is installed; the engine was not asked",
            None,
        ),
        (
            "no smolvm",
            |f| {
                f.smolvm = Err(problem(
                    "smolvm is not installed ('smolvm' is not on PATH; BOT_BOTTLE_SMOLVM can name it)",
                    Some("install smolvm: curl -sSL https://smolmachines.com/install.sh | bash"),
                ))
            },
            "smolvm",
            Status::Warn,
            "smolvm is not installed",
            Some("install smolvm"),
        ),
        (
            "a nearly full pool",
            |f| f.pool = Ok(pool_use(1)),
            "subnets",
            Status::Warn,
            "1 of 8192 /28 networks free in 198.18.0.0/15 (room for 0 bottles)",
            Some("BOT_BOTTLE_SUBNETS"),
        ),
        (
            "a bad pool",
            |f| {
                f.pool = Err(problem(
                    "BOT_BOTTLE_SUBNETS=\"x\" is not an IPv4 network like 198.18.0.0/15",
                    Some("set BOT_BOTTLE_SUBNETS to a private IPv4 range"),
                ))
            },
            "subnets",
            Status::Warn,
            "is not an IPv4 network",
            Some("set BOT_BOTTLE_SUBNETS"),
        ),
        (
            "a dynamic binary",
            |f| {
                f.binary = Err(problem(
                    "target/debug/bot-bottle is linked dynamically: the sidecar image needs a static bot-bottle",
                    Some("build one with scripts/build"),
                ))
            },
            "binary",
            Status::Warn,
            "linked dynamically",
            Some("scripts/build"),
        ),
    ];
    for (what, change, check_name, status, found, fix) in cases {
        let mut facts = good();
        change(&mut facts);
        let lines = check(&facts);
        let bad: Vec<&Line> = lines.iter().filter(|l| l.status != Status::Ok).collect();
        assert_eq!(bad.len(), 1, "{what}: only the one check fails: {lines:?}");
        let l = bad[0];
        assert_eq!((l.check, l.status), (check_name, status), "{what}");
        assert!(l.found.contains(found), "{what}: {:?}", l.found);
        match fix {
            Some(fix) => assert!(
                l.fix.as_deref().is_some_and(|f| f.contains(fix)),
                "{what}: {:?}",
                l.fix
            ),
            None => assert_eq!(l.fix, None, "{what}"),
        }
        assert_eq!(healthy(&lines), status != Status::Missing, "{what}");
    }
}

#[test]
fn the_report_has_one_line_per_check_with_its_fix() {
    let mut facts = good();
    facts.base_image = Ok(false);
    facts.runsc_registered = Ok(false);
    let lines = check(&facts);
    let text = render(&lines, false);
    assert_eq!(text.lines().count(), lines.len());
    assert!(!text.contains('\x1b'));
    insta::assert_snapshot!(text);
    let coloured = render(&lines, true);
    assert!(coloured.contains("\x1b[31mmissing\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[33mwarn   \x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[32mok     \x1b[0m"), "{coloured}");
}
