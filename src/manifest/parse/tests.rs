use super::*;
use crate::manifest::Scheme;

fn src() -> Source {
    Source {
        origin: Origin::File("m.json".into()),
        base_dir: Some("/proj".into()),
        home: Some("/home/u".into()),
    }
}

#[test]
fn hosts() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("api.github.com", Ok("api.github.com")),
        ("API.GitHub.com", Ok("api.github.com")),
        ("localhost", Ok("localhost")),
        ("upstream-1", Ok("upstream-1")),
        ("", Err("is empty")),
        (
            "https://api.github.com",
            Err("has a scheme: routes name a bare hostname"),
        ),
        (
            "api.github.com/v1",
            Err("has a path: routes name a bare hostname (use path_allowlist for paths)"),
        ),
        (
            "api.github.com:443",
            Err("has a port: routes name a bare hostname"),
        ),
        ("10.0.0.1", Err("is an IP address: routes name hosts")),
        ("::1", Err("is an IP address: routes name hosts")),
        ("[::1]", Err("is an IP address: routes name hosts")),
        ("*.github.com", Err("is not a valid hostname")),
        ("-bad.com", Err("is not a valid hostname")),
        ("a..b", Err("is not a valid hostname")),
        ("a b", Err("is not a valid hostname")),
    ];
    for (input, want) in cases {
        assert_eq!(
            validate_host(input).as_deref().map_err(|e| *e),
            *want,
            "{input}"
        );
    }
}

#[test]
fn schemes() {
    assert_eq!(parse_scheme("bearer"), Some(Scheme::Bearer));
    assert_eq!(parse_scheme("Basic"), Some(Scheme::Basic));
    assert_eq!(
        parse_scheme("header:X-Api-Key"),
        Some(Scheme::Header("X-Api-Key".into()))
    );
    assert_eq!(parse_scheme("header:"), None);
    assert_eq!(parse_scheme("header:a b"), None);
    assert_eq!(parse_scheme("token"), None);
}

#[test]
fn frontmatter_split() {
    assert_eq!(split_frontmatter("hello"), Some((None, "hello")));
    assert_eq!(
        split_frontmatter("---\na: 1\n---\nbody\n"),
        Some((Some("a: 1\n"), "body\n"))
    );
    assert_eq!(
        split_frontmatter("---\r\na: 1\r\n---\r\nbody"),
        Some((Some("a: 1\r\n"), "body"))
    );
    assert_eq!(split_frontmatter("---\n---\n"), Some((Some(""), "")));
    assert_eq!(split_frontmatter("---\na: 1\n"), None);
    assert_eq!(split_frontmatter(""), Some((None, "")));
}

#[test]
fn json_with_everything() {
    let text = r#"{
          "agents": {"dev": {"provider": "codex", "prompt": "hi", "bottle": ["base", "gh"],
                             "skills": "review", "startup_args": ["-m", "x"], "color": "cyan"}},
          "bottles": {"gh": {"extends": "base", "env": {"A": "1"},
             "egress": {"routes": [{"host": "API.github.com", "path_allowlist": ["/repos/"],
                                    "auth": {"scheme": "bearer", "token_env": "GH_TOKEN"}}],
                        "trust_upstream_ca": ["ca.pem"]},
             "ssh": [{"host": "github.com", "identity_file": "~/.ssh/id"}]},
             "base": {"dockerfile": "docker/Dockerfile"}}
        }"#;
    let (agents, bottles) = parse_json(text, &src()).unwrap();
    let dev = &agents[0];
    assert_eq!(dev.agent.provider, Provider::Codex);
    assert_eq!(dev.agent.bottles, ["base", "gh"]);
    assert_eq!(dev.skills, ["review"]);
    let gh = bottles.iter().find(|b| b.name == "gh").unwrap();
    assert_eq!(gh.routes[0].host, "api.github.com");
    assert_eq!(gh.trust_upstream_ca, [PathBuf::from("/proj/ca.pem")]);
    assert_eq!(
        gh.ssh,
        [("github.com".to_owned(), PathBuf::from("/home/u/.ssh/id"))]
    );
    let base = bottles.iter().find(|b| b.name == "base").unwrap();
    assert_eq!(
        base.image,
        Some(RawImage::Dockerfile("/proj/docker/Dockerfile".into()))
    );
}

#[test]
fn limits_and_route_switches() {
    let text = r#"{"bottles": {"b": {"image": "x", "limits": {"memory": "1.5g", "pids": 200, "cpus": 0.5, "tokens": 2000000, "spend": 2.5},
             "egress": {"routes": [{"host": "db.internal", "allow_private_addresses": true,
                                    "block_server_tools": false}]}}}}"#;
    let (_, bottles) = parse_json(text, &src()).unwrap();
    let b = &bottles[0];
    assert_eq!(
        b.limits,
        Limits {
            memory: Some(1536 << 20),
            pids: Some(200),
            cpus: Some(0.5),
            tokens: Some(2_000_000),
            spend: crate::egress::usage::price::Usd::from_dollars(2.5),
        }
    );
    assert_eq!(b.routes[0].allow_private_addresses, Some(true));
    assert_eq!(b.routes[0].block_server_tools, Some(false));

    let bad = |limits: &str| {
        let text = format!(r#"{{"bottles": {{"b": {{"image": "x", "limits": {limits}}}}}}}"#);
        parse_json(&text, &src()).unwrap_err().to_string()
    };
    let cases = [
        (
            r#"{"memory": "lots"}"#,
            "limits.memory",
            "is not an amount of memory",
        ),
        (r#"{"memory": "12m"}"#, "limits.memory", "is less than 64m"),
        (
            r#"{"memory": true}"#,
            "limits.memory",
            "is not an amount of memory",
        ),
        (r#"{"pids": 4}"#, "limits.pids", "is not a process count"),
        (r#"{"pids": -1}"#, "limits.pids", "is not a process count"),
        (r#"{"cpus": 0}"#, "limits.cpus", "is not a number of CPUs"),
        (r#"{"cpus": "2"}"#, "limits.cpus", "is not a number of CPUs"),
        (r#"{"swap": "1g"}"#, "limits.swap", "unknown key"),
        (
            r#"{"spend": 0}"#,
            "limits.spend",
            "is not a budget in US dollars",
        ),
        (
            r#"{"spend": -5}"#,
            "limits.spend",
            "is not a budget in US dollars",
        ),
        (
            r#"{"spend": "5"}"#,
            "limits.spend",
            "is not a budget in US dollars",
        ),
        (
            r#"{"spend": 1.005}"#,
            "limits.spend",
            "is not a budget in US dollars",
        ),
        (r#"{"spend": 1e300}"#, "limits.spend", "is not a budget"),
    ];
    for (limits, key, want) in cases {
        let err = bad(limits);
        assert!(err.contains(key) && err.contains(want), "{limits}: {err}");
    }
    let text = r#"{"bottles": {"b": {"image": "x", "egress": {"routes": [{"host": "a.com", "allow_private_addresses": "yes"}]}}}}"#;
    let err = parse_json(text, &src()).unwrap_err().to_string();
    assert!(
        err.contains("allow_private_addresses") && err.contains("expected true or false"),
        "{err}"
    );
}

#[test]
fn markdown_agent() {
    let text = "---\nname: reviewer\ndescription: reviews\ntools: Read, Grep\nmodel: opus\nbottle: default\n---\n\nYou review code.\n";
    let a = parse_agent_md(text, "reviewer", &src()).unwrap();
    assert_eq!(a.agent.provider, Provider::Claude);
    assert_eq!(a.agent.prompt, "You review code.");
    assert_eq!(a.agent.model.as_deref(), Some("opus"));
    assert_eq!(a.agent.bottles, ["default"]);
}

#[test]
fn yaml_error_line_is_in_the_file() {
    let text = "---\nprovider: shell\nbottle: [a\n---\n";
    match parse_agent_md(text, "x", &src()) {
        Err(ManifestError::Syntax { line, .. }) => assert!(line >= 3, "line {line}"),
        other => panic!("{other:?}"),
    }
}
