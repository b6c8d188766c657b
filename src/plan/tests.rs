use super::testing::*;
use super::*;
use crate::backend::docker::compose_file::{AgentPlace, INHIBIT_IPV4, Target, render};
use crate::backend::labels::{LABEL_AGENT, LABEL_HOME, LABEL_ROLE, LABEL_SLUG};
use crate::manifest::{Auth, Dockerfile, GitRemote, Limits, Origin, Skill};
use serde_json::json;

/// The plan as docker's compose document, before any subnet is chosen.
fn compose(plan: &BottlePlan) -> Value {
    render(plan, Target::test(AgentPlace::Container))
}

/// The plan of `bottle`, selected as `names`, with the host variables
/// `env` set.
fn plan_with_env(
    agent: &Agent,
    bottle: &Bottle,
    names: &[&str],
    env: &[&str],
) -> Result<BottlePlan, PlanError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let env: BTreeSet<String> = env.iter().map(|v| v.to_string()).collect();
    plan(&input(agent, bottle, &env, &names))
}

/// The plan of `bottle`, selected as `names`, with no host variable set.
fn plan_without_env(
    agent: &Agent,
    bottle: &Bottle,
    names: &[&str],
) -> Result<BottlePlan, PlanError> {
    plan_with_env(agent, bottle, names, &[])
}

/// The compose document of a shell agent in `bottle`, selected as
/// `name`, with no host variable set.
fn shell_compose(bottle: &Bottle, name: &str) -> Value {
    let plan = plan_without_env(&agent(Provider::Shell), bottle, &[name]).unwrap();
    compose(&plan)
}

mod gate;

#[test]
fn shell_in_default_bottle() {
    let agent = agent(Provider::Shell);
    let bottle = bottle();
    let plan = plan_without_env(&agent, &bottle, &["default"]).unwrap();
    insta::assert_snapshot!("shell_preflight", plan.preflight.render());
    insta::assert_json_snapshot!("shell_compose", compose(&plan));
}

#[test]
fn claude_with_routes_tokens_ssh_and_skills() {
    let mut agent = agent(Provider::Claude);
    agent.skills = vec![Skill {
        name: "review".into(),
        dir: "/home/u/.bot-bottle/skills/review".into(),
    }];
    agent.startup_args = vec!["--verbose".into()];
    let bottle = full_bottle();
    let env: BTreeSet<String> = ["CLAUDE_CODE_OAUTH_TOKEN".to_owned()].into();
    let names = vec!["claude".to_owned(), "gh".to_owned()];
    let mut inp = input(&agent, &bottle, &env, &names);
    inp.engine = &ENGINE_RUNSC;
    inp.copy_cwd = Some(Path::new("/home/u/proj"));
    let extra = vec!["fix it".to_owned()];
    inp.extra_args = &extra;
    let plan = plan(&inp).unwrap();
    insta::assert_snapshot!("claude_preflight", plan.preflight.render());
    insta::assert_json_snapshot!("claude_compose", compose(&plan));
    let listing: Vec<String> = plan
        .files
        .iter()
        .map(|f| format!("{:o} {} {:?}", f.mode, f.path.display(), f.content))
        .collect();
    insta::assert_snapshot!("claude_files", listing.join("\n"));
    assert_eq!(plan.session.args, ["--verbose", "fix it"]);
}

#[test]
fn a_dockerfile_asking_for_an_unknown_cli_is_refused_before_anything_runs() {
    let agent = agent(Provider::Claude);
    let mut bottle = bottle();
    if let Some(ImageSource::Dockerfile(d)) = &mut bottle.image {
        d.contents = format!("# bot-bottle-cli: gemini\n{}", d.contents);
    }
    let err = plan_without_env(&agent, &bottle, &["b"]).unwrap_err();
    assert!(
        matches!(&err, PlanError::UnknownCli { file, .. } if file == "<embedded defaults>/Dockerfile"),
        "{err}"
    );
}

#[test]
fn codex_gets_its_base_url_a_placeholder_key_and_a_trusted_workdir() {
    let agent = agent(Provider::Codex);
    let mut bottle = bottle();
    bottle.egress.routes = vec![Route {
        host: "api.openai.com".into(),
        auth: Some(Auth {
            scheme: Some(Scheme::Bearer),
            token_env: vec!["OPENAI_API_KEY".into()],
        }),
        role: Some(Role::OpenaiBaseUrl),
        ..Route::default()
    }];
    let plan = plan_with_env(&agent, &bottle, &["codex"], &["OPENAI_API_KEY"]).unwrap();
    let text = |path: &str| {
        let file = plan.files.iter().find(|f| f.path == Path::new(path));
        match file.map(|f| &f.content) {
            Some(FileContent::Text(t)) => t.clone(),
            other => panic!("{path}: {other:?}"),
        }
    };
    assert_eq!(
        text("agent/codex/config.toml"),
        "openai_base_url = \"http://egress:4002/v1\"\n\n[projects.\"/workspace\"]\ntrust_level = \"trusted\"\n"
    );
    let auth: Value = serde_json::from_str(&text("agent/codex/auth.json")).unwrap();
    assert_eq!(
        auth,
        json!({"auth_mode": "apikey", "OPENAI_API_KEY": "bot-bottle-placeholder-openai-api-key"})
    );
    assert!(
        text("agent/start.sh").contains("cp /etc/bot-bottle/codex/$f /home/agent/.codex/$f"),
        "{}",
        text("agent/start.sh")
    );
    let agent_env = &compose(&plan)["services"]["agent"]["environment"];
    assert_eq!(agent_env["OPENAI_BASE_URL"], "http://egress:4002/v1");
}

#[test]
fn no_secret_or_token_value_reaches_the_plan() {
    let agent = agent(Provider::Claude);
    let bottle = full_bottle();
    let plan = plan_with_env(
        &agent,
        &bottle,
        &["claude"],
        &["ANTHROPIC_API_KEY", "GH_TOKEN"],
    )
    .unwrap();
    let agent_env = &compose(&plan)["services"]["agent"]["environment"];
    assert_eq!(
        agent_env["ANTHROPIC_API_KEY"],
        "bot-bottle-placeholder-anthropic-api-key"
    );
    assert_eq!(agent_env["ANTHROPIC_BASE_URL"], "http://egress:4001");
    assert!(
        agent_env.get("GH_TOKEN").is_none(),
        "plain routes give the agent nothing"
    );
    let tokens = plan
        .files
        .iter()
        .find(|f| f.path == BottleDir::relative().egress_tokens())
        .unwrap();
    assert_eq!(
        tokens.content,
        FileContent::Tokens(vec![
            TokenSlot {
                slot: "t0".into(),
                host_env: "ANTHROPIC_API_KEY".into()
            },
            TokenSlot {
                slot: "t1".into(),
                host_env: "GH_TOKEN".into()
            },
        ])
    );
    let routes = plan
        .files
        .iter()
        .find(|f| f.path == BottleDir::relative().egress_routes())
        .unwrap();
    let FileContent::Text(text) = &routes.content else {
        panic!()
    };
    let config: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        config["routes"][0]["auth"],
        json!({"scheme": "header:x-api-key", "token": "t0"})
    );
}

#[test]
fn every_container_and_network_is_labelled_and_only_egress_goes_out() {
    let compose = shell_compose(&bottle(), "default");
    for section in ["services", "networks"] {
        for (name, item) in compose[section].as_object().unwrap() {
            assert_eq!(item["labels"][LABEL_SLUG], "dev-abcde", "{section}.{name}");
            assert_eq!(item["labels"][LABEL_AGENT], "dev", "{section}.{name}");
            assert_eq!(
                item["labels"][LABEL_HOME], "0123456789ab",
                "{section}.{name}"
            );
            assert!(item["labels"][LABEL_ROLE].is_string(), "{section}.{name}");
        }
    }
    assert_eq!(compose["networks"]["internal"]["internal"], true);
    assert_eq!(
        compose["networks"]["internal"]["driver_opts"][INHIBIT_IPV4], "true",
        "the host has no address the agent could reach"
    );
    for (name, service) in compose["services"].as_object().unwrap() {
        for key in [
            "mem_limit",
            "memswap_limit",
            "pids_limit",
            "cpus",
            "logging",
        ] {
            assert!(!service[key].is_null(), "{name} has no {key}");
        }
        let outside = service["networks"]
            .as_array()
            .unwrap()
            .contains(&json!("outside"));
        assert_eq!(outside, name == "egress", "{name}");
    }
}

#[test]
fn dollars_are_escaped_for_compose() {
    let compose = shell_compose(&full_bottle(), "x");
    assert_eq!(compose["services"]["agent"]["environment"]["PRICE"], "$$5");
}

#[test]
fn bottle_env_cannot_redirect_the_agent() {
    let agent = agent(Provider::Shell);
    let mut bottle = full_bottle();
    bottle
        .env
        .insert("HTTPS_PROXY".into(), "http://elsewhere:1".into());
    let err = plan_without_env(&agent, &bottle, &["x"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bottles x: env.HTTPS_PROXY is set by bot-bottle itself"
    );
}

#[test]
fn bottle_limits_override_the_defaults_within_the_engine() {
    let agent = agent(Provider::Shell);
    let mut bottle = bottle();
    let env = BTreeSet::new();
    let names = vec!["big".to_owned()];
    let one_cpu = EngineFacts { cpus: 1, ..ENGINE };
    let plan_on_one_cpu = |bottle: &Bottle| {
        let mut inp = input(&agent, bottle, &env, &names);
        inp.engine = &one_cpu;
        plan(&inp)
    };
    let agent_service = |p: BottlePlan| compose(&p)["services"]["agent"].clone();
    let defaults = agent_service(plan_on_one_cpu(&bottle).unwrap());
    assert_eq!(
        (
            &defaults["mem_limit"],
            &defaults["pids_limit"],
            &defaults["cpus"]
        ),
        (&json!("4g"), &json!(1024), &json!(1.0)),
        "the default CPUs are capped at the engine's"
    );

    bottle.limits = Limits {
        spend: None,
        memory: Some(512 << 20),
        pids: None,
        cpus: Some(0.25),
        tokens: None,
    };
    let p = plan_on_one_cpu(&bottle).unwrap();
    assert!(
        p.preflight
            .render()
            .contains("agent 512m memory, 1024 processes, 0.25 CPUs")
    );
    let set = agent_service(p);
    assert_eq!(
        (
            &set["mem_limit"],
            &set["memswap_limit"],
            &set["pids_limit"],
            &set["cpus"]
        ),
        (&json!("512m"), &json!("512m"), &json!(1024), &json!(0.25))
    );

    bottle.limits.cpus = Some(3.0);
    let err = plan_on_one_cpu(&bottle).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bottles big: limits.cpus 3 is more than the docker engine's 1 CPUs"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("set limits.cpus to 1 or less in the bottle")
    );
}

#[test]
fn a_token_budget_reaches_egress_and_the_preflight() {
    let agent = agent(Provider::Shell);
    let mut bottle = bottle();
    bottle.limits.tokens = Some(2_000_000);
    let p = plan_without_env(&agent, &bottle, &["default"]).unwrap();
    let shown = p.preflight.render();
    assert!(
        shown.contains("model tokens 2000000 at most; past them egress refuses model calls"),
        "{shown}"
    );
    let routes = p
        .files
        .iter()
        .find(|f| f.path == BottleDir::relative().egress_routes())
        .map(|f| f.content.clone());
    let Some(FileContent::Text(routes)) = routes else {
        panic!("no routes.json");
    };
    let config: EgressConfig = serde_json::from_str(&routes).unwrap();
    assert_eq!(config.token_budget, Some(2_000_000));
}

#[test]
fn a_spend_budget_reaches_egress_with_the_home_prices_and_the_preflight() {
    use crate::egress::usage::price::{Price, Usd};
    let agent = agent(Provider::Shell);
    let mut bottle = bottle();
    bottle.limits.spend = Usd::from_dollars(2.5);
    let price = Price {
        input: 3.0,
        output: 15.0,
        cache_read: 0.3,
        cache_write: 3.75,
    };
    let prices = Prices {
        by_prefix: [("claude-sonnet-4".to_owned(), price)].into(),
    };
    let (env, names) = (BTreeSet::new(), ["default".to_owned()]);
    let routes_of = |p: &BottlePlan| -> EgressConfig {
        let routes = p
            .files
            .iter()
            .find(|f| f.path == BottleDir::relative().egress_routes())
            .map(|f| f.content.clone());
        let Some(FileContent::Text(routes)) = routes else {
            panic!("no routes.json");
        };
        serde_json::from_str(&routes).unwrap()
    };
    let p = plan(&PlanInput {
        prices: &prices,
        ..input(&agent, &bottle, &env, &names)
    })
    .unwrap();
    let shown = p.preflight.render();
    assert!(
        shown.contains("model spend $2.50 at most, estimated at the home's price table (1 row); a model it does not price counts as $0; past it egress refuses model calls"),
        "{shown}"
    );
    let spend = routes_of(&p).spend.unwrap();
    assert_eq!(
        (spend.budget, spend.prices),
        (Usd::from_dollars(2.5).unwrap(), prices.clone())
    );

    // No price at all: said, since nothing would count.
    let p = plan_without_env(&agent, &bottle, &["default"]).unwrap();
    assert!(
        p.preflight
            .render()
            .contains("model spend $2.50 at most, no model has a price"),
        "{}",
        p.preflight.render()
    );
    // No budget: no table either.
    bottle.limits.spend = None;
    let p = plan(&PlanInput {
        prices: &prices,
        ..input(&agent, &bottle, &env, &names)
    })
    .unwrap();
    assert_eq!(routes_of(&p).spend, None);
    assert!(!p.preflight.render().contains("model spend"));
}

#[test]
fn a_resumed_bottle_keeps_the_routes_it_lived_with() {
    let agent = agent(Provider::Shell);
    let bottle = full_bottle();
    let env: BTreeSet<String> = ["GH_TOKEN".to_owned()].into();
    let names = vec!["x".to_owned()];
    let fresh = plan(&input(&agent, &bottle, &env, &names)).unwrap();
    let rel = BottleDir::relative();
    let written = |p: &BottlePlan, path: PathBuf| {
        p.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.content.clone())
            .unwrap()
    };
    // At launch, the host's record is what egress gets.
    let FileContent::Text(record) = written(&fresh, rel.live_routes()) else {
        panic!("the record is text");
    };
    let mut live: LiveRoutes = serde_json::from_str(&record).unwrap();
    assert_eq!(
        live.token_env.get("t0").map(String::as_str),
        Some("GH_TOKEN")
    );

    // Approved during its life: a route with a credential of its own.
    live.config.routes.push(RouteConfig {
        host: "api.example.com".into(),
        path_allowlist: vec!["/v2/".into()],
        auth: Some(AuthConfig {
            scheme: "bearer".into(),
            token: "t1".into(),
        }),
        ..Default::default()
    });
    live.token_env.insert("t1".into(), "EXAMPLE_TOKEN".into());
    let mut inp = input(&agent, &bottle, &env, &names);
    inp.live_routes = Some(&live);
    let resumed = plan(&inp).unwrap();
    let FileContent::Text(routes) = written(&resumed, rel.egress_routes()) else {
        panic!("routes are text");
    };
    assert_eq!(
        serde_json::from_str::<EgressConfig>(&routes).unwrap(),
        live.config
    );
    assert_eq!(
        written(&resumed, rel.egress_tokens()),
        FileContent::Tokens(vec![
            TokenSlot {
                slot: "t0".into(),
                host_env: "GH_TOKEN".into()
            },
            TokenSlot {
                slot: "t1".into(),
                host_env: "EXAMPLE_TOKEN".into()
            },
        ])
    );
    let shown = resumed.preflight.render();
    assert!(
        shown.contains("api.example.com /v2/ [token from $EXAMPLE_TOKEN]")
            && shown.contains("kept from its last run"),
        "{shown}"
    );
}

#[test]
fn byte_amounts_in_docker_units() {
    for (bytes, want) in [
        (4u64 << 30, "4g"),
        (1536 << 20, "1536m"),
        (64 << 10, "64k"),
        (1000, "1000b"),
    ] {
        assert_eq!(format_bytes(bytes), want);
    }
}

#[test]
fn a_role_twice_is_refused() {
    let agent = agent(Provider::Claude);
    let mut bottle = full_bottle();
    bottle.egress.routes[1].role = Some(Role::AnthropicBaseUrl);
    let err = plan_without_env(&agent, &bottle, &["a", "b"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("two routes have role 'anthropic-base-url'"),
        "{err}"
    );
}

#[test]
fn a_capability_block_may_read_the_bottles_own_images_and_the_listed_ones() {
    use crate::dockerfile::images::Allowed;
    let dockerfile = |contents: &str, from_agent: bool| {
        ImageSource::Dockerfile(Dockerfile {
            shown_as: "Dockerfile".into(),
            contents: contents.into(),
            context: None,
            from_agent,
        })
    };
    let pin = format!("bot-bottle-base:{}", "a".repeat(64));
    let cases: Vec<(ImageSource, Vec<String>, Vec<&str>)> = vec![
        // The image it runs, and what its Dockerfile reads (stages aside).
        (
            dockerfile(
                "FROM node:20 AS t\nFROM debian:bookworm-slim\nCOPY --from=t /a /a\nCOPY --from=busybox:1 /b /b\n",
                false,
            ),
            vec![],
            vec!["node:20", "debian:bookworm-slim", "busybox:1"],
        ),
        // An `image:` bottle runs that image.
        (
            ImageSource::Image("ghcr.io/acme/agent:3".into()),
            vec!["node:20".into()],
            vec![],
        ),
        // What an ARG names cannot be followed: not the bottle's own.
        (dockerfile("ARG B=x\nFROM $B\n", false), vec![], vec![]),
        // An approved Dockerfile reads its pins.
        (
            dockerfile(&format!("FROM {pin}\nRUN true\n"), true),
            vec![],
            vec![pin.as_str()],
        ),
    ];
    for (image, listed, reads) in cases {
        let agent = agent(Provider::Shell);
        let mut bottle = bottle();
        bottle.image = Some(image);
        let env = BTreeSet::new();
        let names = vec!["default".to_owned()];
        let mut input = input(&agent, &bottle, &env, &names);
        input.base_images = &listed;
        let plan = plan(&input).unwrap();
        let file = |path: PathBuf| -> Allowed {
            let found = plan.files.iter().find(|f| f.path == path).unwrap();
            match &found.content {
                FileContent::Text(text) => serde_json::from_str(text).unwrap(),
                other => panic!("{other:?}"),
            }
        };
        let rel = BottleDir::relative();
        let allowed = file(rel.base_images());
        assert_eq!(allowed, file(rel.supervise_base_images()));
        let mut own = vec![plan.agent.image.tag.clone()];
        own.extend(reads.iter().map(|s| s.to_string()));
        assert_eq!(
            allowed,
            Allowed {
                own,
                listed: listed.clone()
            }
        );
        let build = plan.agent.image.build.as_ref();
        assert_eq!(
            build.is_some_and(|b| b.pinned),
            build.is_some_and(|b| !b.network),
            "an agent's Dockerfile reads only pinned images"
        );
    }
}

#[test]
fn the_session_tells_an_agent_but_not_a_shell_of_the_git_gate() {
    let para = git_gate::prompt_paragraph();
    let both = format!("Be careful.\n\n{para}");
    let cases = [
        (Provider::Claude, "Be careful.", false, Some("Be careful.")),
        (Provider::Claude, "Be careful.", true, Some(both.as_str())),
        (Provider::Codex, "", true, Some(para.as_str())),
        (Provider::Claude, "", false, None),
        (Provider::Shell, "", true, None),
        (Provider::Shell, "Be careful.", true, Some("Be careful.")),
    ];
    let (repo, audit) = (operator_repo(), PathBuf::from("/a.jsonl"));
    let bottle = bottle();
    let env = BTreeSet::new();
    for (provider, prompt, gated, want) in cases {
        let mut agent = agent(provider);
        agent.prompt = prompt.into();
        let mut inp = input(&agent, &bottle, &env, &[]);
        if gated {
            inp.git_gate = Some(gate(&repo, &audit));
        }
        let spec = session(&inp, "http://s/mcp");
        assert_eq!(
            spec.prompt.as_deref(),
            want,
            "{provider:?} {prompt:?} {gated}"
        );
        assert_eq!(spec.mcp_url.as_deref(), Some("http://s/mcp"));
    }
}

#[test]
fn the_session_runs_the_agent_s_model_and_arguments_then_the_args() {
    let mut agent = agent(Provider::Claude);
    agent.model = Some("opus".into());
    agent.startup_args = vec!["--verbose".into()];
    let bottle = bottle();
    let env = BTreeSet::new();
    let extra = vec!["fix it".to_owned()];
    let cases: [(&[String], &[&str]); 2] =
        [(&[], &["--verbose"]), (&extra, &["--verbose", "fix it"])];
    for (extra_args, want) in cases {
        let mut inp = input(&agent, &bottle, &env, &[]);
        inp.extra_args = extra_args;
        let spec = session(&inp, "http://s/mcp");
        assert_eq!(spec.args, want);
        assert_eq!(spec.model.as_deref(), Some("opus"));
    }
}

#[test]
fn live_routes_are_the_kept_ones_or_the_bottles_with_the_tokens_set() {
    let agent = agent(Provider::Shell);
    let bottle = full_bottle();
    let names = vec!["x".to_owned()];
    let cases = [
        (vec![], vec![]),
        (vec!["GH_TOKEN"], vec![("t0", "GH_TOKEN")]),
        (
            vec!["ANTHROPIC_API_KEY", "GH_TOKEN"],
            vec![("t0", "ANTHROPIC_API_KEY"), ("t1", "GH_TOKEN")],
        ),
    ];
    for (set, want) in cases {
        let env: BTreeSet<String> = set.iter().map(|s| s.to_string()).collect();
        let inp = input(&agent, &bottle, &env, &names);
        let live = live_routes(&inp, &RoutePlan::new(&inp).unwrap());
        let tokens: Vec<(&str, &str)> = live
            .token_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(tokens, want, "{set:?}");
        let hosts: Vec<&str> = live.config.routes.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, ["api.anthropic.com", "api.github.com", "pypi.org"]);
        assert_eq!(live.config.trust_upstream_ca.len(), 1);
    }

    let kept = LiveRoutes {
        config: EgressConfig {
            listen: 1,
            routes: vec![],
            trust_upstream_ca: vec![],
            token_budget: None,
            spend: None,
        },
        token_env: [("t3".to_owned(), "OLD".to_owned())].into(),
    };
    let env = BTreeSet::new();
    let mut inp = input(&agent, &bottle, &env, &names);
    inp.live_routes = Some(&kept);
    let live = live_routes(&inp, &RoutePlan::new(&inp).unwrap());
    assert_eq!(live, kept, "a resumed bottle's routes replace its bottles'");
}

#[test]
fn sidecars_are_egress_and_supervise_then_the_gate() {
    let (repo, audit) = (operator_repo(), PathBuf::from("/a.jsonl"));
    let agent = agent(Provider::Shell);
    let bottle = bottle();
    let env = BTreeSet::new();
    for gated in [false, true] {
        let mut inp = input(&agent, &bottle, &env, &[]);
        if gated {
            inp.git_gate = Some(gate(&repo, &audit));
        }
        let which: Vec<Sidecar> = sidecars(&inp).iter().map(|s| s.sidecar).collect();
        let mut want = vec![Sidecar::Egress, Sidecar::Supervise];
        if gated {
            want.push(Sidecar::GitGate);
        }
        assert_eq!(which, want);
    }
}
