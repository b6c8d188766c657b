//! Plans of bottles with a git gate: the gate's service and files, when
//! it goes out, and the preflight's marks on what a project contributed.

use std::collections::BTreeMap;

use super::*;

fn gate_bottle() -> Bottle {
    let mut b = full_bottle();
    if let Some(ImageSource::Dockerfile(d)) = &mut b.image {
        d.shown_as = "/home/u/proj/docker/Dockerfile".into();
        d.context = Some("/home/u/proj/docker".into());
    }
    b.origin = Origin::File("bot-bottle.json".into());
    b.git.remotes = vec![
        GitRemote {
            name: "up".into(),
            url: "https://git.example.test/o/r.git".into(),
            host: "git.example.test".into(),
            ssh: false,
            branches: vec!["agent/*".into()],
            auth: Some(Auth {
                scheme: Some(Scheme::Basic),
                token_env: vec!["UP_TOKEN".into()],
            }),
        },
        GitRemote {
            name: "gh".into(),
            url: "git@github.com:o/r.git".into(),
            host: "github.com".into(),
            ssh: true,
            branches: vec![],
            auth: None,
        },
    ];
    b.git.protected_paths = Some(vec![".github".into(), "docs/legal/**".into()]);
    b.git.allow_tags = Some(true);
    b
}

/// The plan of `bottle` started with `--cwd cwd` inside the operator's
/// repository (`operator_repo`).
fn gated_plan(
    agent: &Agent,
    bottle: &Bottle,
    env: &BTreeSet<String>,
    names: &[String],
    cwd: &str,
    known_hosts: Option<&Path>,
) -> BottlePlan {
    let repo = operator_repo();
    let audit = PathBuf::from("/home/u/.bot-bottle/audit/dev-abcde.jsonl");
    let mut inp = input(agent, bottle, env, names);
    inp.copy_cwd = Some(Path::new(cwd));
    // A checkout after a build: its sources, and the build's outputs.
    let work_tree = WorkTree::NotIgnored {
        files: vec!["README.md".into(), "src/main.rs".into()],
        bytes: 3_300_000,
        ignored: 6 << 30,
        by: IgnoredBy::Git,
    };
    inp.git_gate = Some(GateInput {
        repo: &repo,
        audit_log: &audit,
        known_hosts,
        work_tree: &work_tree,
    });
    plan(&inp).unwrap()
}
#[test]
fn claude_with_a_git_gate_and_remotes() {
    let agent = agent(Provider::Claude);
    let bottle = gate_bottle();
    let env: BTreeSet<String> = ["GH_TOKEN".to_owned(), "UP_TOKEN".to_owned()].into();
    let names = vec!["claude".to_owned(), "gh".to_owned()];
    let plan = gated_plan(
        &agent,
        &bottle,
        &env,
        &names,
        "/home/u/proj/src",
        Some(Path::new("/home/u/.ssh/known_hosts")),
    );
    insta::assert_snapshot!("gate_preflight", plan.preflight.render());
    insta::assert_json_snapshot!(
        "gate_compose_service",
        compose(&plan)["services"]["git-gate"]
    );
    let listing: Vec<String> = plan
        .files
        .iter()
        .filter(|f| f.path.starts_with("git-gate") || f.path.ends_with("git-policy.md"))
        .map(|f| format!("{:o} {} {:?}", f.mode, f.path.display(), f.content))
        .collect();
    insta::assert_snapshot!("gate_files", listing.join("\n"));

    let agent_service = &compose(&plan)["services"]["agent"];
    assert_eq!(
        agent_service["depends_on"]["git-gate"]["condition"],
        "service_started"
    );
    assert_eq!(plan.copy_cwd, None, "the gate's clone replaces the copy");
    let gate = plan.git_gate.as_ref().unwrap();
    assert_eq!(gate.repo_top, Path::new("/home/u/proj"));
    assert_eq!(gate.image, "bot-bottle-git-gate:test");
    assert_eq!(gate.user_email, "dev-abcde@bot-bottle.invalid");
    let prompt = plan.session.prompt.as_deref().unwrap();
    assert!(
        prompt.starts_with("Be careful.\n\nYour /workspace is a git clone")
            && prompt.contains("`git-push-policy`"),
        "{prompt}"
    );
    assert!(
        plan.files.iter().all(|f| !f
            .path
            .starts_with(BottleDir::relative().agent_dir().join("ssh"))),
        "no key reaches the agent"
    );
    let config = plan
        .files
        .iter()
        .find(|f| f.path == BottleDir::relative().gate_config())
        .map(|f| match &f.content {
            FileContent::Text(t) => serde_json::from_str::<crate::gitgate::GateConfig>(t).unwrap(),
            other => panic!("{other:?}"),
        })
        .unwrap();
    assert_eq!(
        config.protected_paths,
        [
            ".github",
            "docs/legal/**",
            "docker/Dockerfile",
            "src/bot-bottle.json"
        ]
        .map(String::from),
        "the bottle's own Dockerfile and manifest, relative to the top"
    );
}

#[test]
fn the_gate_goes_out_only_with_remotes_and_remotes_need_a_gate() {
    let agent = agent(Provider::Shell);
    let mut bottle = gate_bottle();
    bottle.git.remotes.clear();
    let env = BTreeSet::new();
    let names = vec!["x".to_owned()];
    let p = gated_plan(&agent, &bottle, &env, &names, "/home/u/proj", None);
    assert_eq!(
        compose(&p)["services"]["git-gate"]["networks"],
        json!(["internal"])
    );
    assert_eq!(
        p.session.prompt.as_deref(),
        Some("Be careful."),
        "a shell reads no prompt"
    );

    let bottle = gate_bottle();
    let mut inp = input(&agent, &bottle, &env, &names);
    inp.copy_cwd = Some(Path::new("/tmp/not-a-repo"));
    let p = plan(&inp).unwrap();
    assert!(compose(&p)["services"].get("git-gate").is_none());
    assert_eq!(p.copy_cwd.as_deref(), Some(Path::new("/tmp/not-a-repo")));
    let shown = p.preflight.render();
    assert!(
        shown.contains(
            "git       no gate (--cwd is not inside a git repository): the bottles' remotes up, gh are unused"
        ),
        "{shown}"
    );
}

/// Every line a project's manifest contributed ends with its mark; the
/// operator's own lines do not.
#[test]
fn the_preflight_marks_what_a_project_contributed() {
    use crate::manifest::Provenance;
    let agent = agent(Provider::Claude);
    let mut bottle = gate_bottle();
    bottle.origin = Origin::File("/home/u/.bot-bottle/bot-bottle.json".into());
    bottle.provenance = Provenance::of(&bottle);
    // A project's bottle composed on top that sets PRICE, the remote `up`
    // and adds to the route to api.github.com.
    let mut theirs = gate_bottle();
    theirs.origin = Origin::Project("bot-bottle.json".into());
    theirs.image = None;
    theirs.env = BTreeMap::from([("PRICE".to_owned(), "$5".to_owned())]);
    theirs.egress.routes.retain(|r| r.host == "api.github.com");
    theirs.egress.trust_upstream_ca.clear();
    theirs.ssh.clear();
    theirs.git.remotes.retain(|r| r.name == "up");
    bottle.provenance = Provenance::merge(&bottle.provenance, &Provenance::of(&theirs));
    let env: BTreeSet<String> = ["GH_TOKEN".to_owned(), "UP_TOKEN".to_owned()].into();
    let names = vec!["claude".to_owned()];
    let shown = gated_plan(&agent, &bottle, &env, &names, "/home/u/proj", None)
        .preflight
        .render();
    const MARK: &str = " (from ./bot-bottle.json)";
    // (a line's distinctive start, marked?)
    let cases: &[(&str, bool)] = &[
        ("api.github.com /repos/", true),
        ("api.anthropic.com", false),
        ("pypi.org", false),
        ("upstream up ", true),
        ("upstream gh ", false),
        ("github.com key", false),
        ("/etc/corp-ca.pem", false),
        ("bot-bottle-agent:", false),
    ];
    for (start, marked) in cases {
        let line = shown
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .contains(start)
            })
            .unwrap_or_else(|| panic!("no line with {start:?}: {shown}"));
        assert_eq!(line.ends_with(MARK), *marked, "{line}");
    }
    let env_line = shown.lines().find(|l| l.starts_with("  env ")).unwrap();
    assert!(env_line.contains(&format!("PRICE{MARK}")), "{env_line}");
    assert!(env_line.contains("EDITOR PRICE"), "{env_line}");
}
