//! The preflight: what a launch will do, shown before anything happens
//! (and by `--dry-run`). Pure. Every line a project's manifest contributed
//! (a route, a variable, the image, a key, a CA, a remote, the agent's
//! prompt, skills and arguments) ends with `(from ./bot-bottle.json)`, so
//! the operator tells a repository's wishes from their own.

use std::fmt::Write as _;

use super::resources::{EGRESS_RESOURCES, GATE_RESOURCES, Resources, SUPERVISE_RESOURCES};
use super::{AgentImage, EngineFacts, GateInput, PlanInput, PlannedRoute, RoutePlan, STANDARD_ENV};
use crate::contract::paths::{AGENT_CONFIG_DIR, WORKDIR};
use crate::manifest::{Agent, Auth, Bottle, Part, Provenance};
use crate::provider::SessionSpec;
use crate::state::LiveRoutes;
use crate::text::shell_join;

/// The summary shown before launch, as (label, value) rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    pub rows: Vec<(String, String)>,
}

impl Preflight {
    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (label, value) in &self.rows {
            let _ = writeln!(out, "  {label:width$}  {value}");
        }
        out
    }
}

/// The preflight of a plan: who the agent is, where and how it runs, what
/// it may reach, what it is given and what it starts with, in that order.
pub(super) fn preflight(
    input: &PlanInput,
    image: &AgentImage,
    routes: &RoutePlan,
    live: &LiveRoutes,
    env: &[(String, String)],
    session: &SessionSpec,
    limits: &Resources,
) -> Preflight {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_owned(), v));
    let agent = input.agent;
    let from = &input.bottle.provenance;
    // The agent's own parts (prompt, skills, arguments) are its file's.
    let agent_mark = agent.origin.mark();
    let gate = input.git_gate.as_ref();
    row("agent", agent_line(agent));
    row("identity", input.slug.to_owned());
    row("bottles", input.bottle_names.join(" + "));
    row("backend", input.backend.to_owned());
    row("runtime", input.engine.runtime_line());
    row("network", network_line(gate.is_some()).into());
    row(
        "seal",
        "checked from inside the agent before the session starts; a bottle that fails is frozen"
            .into(),
    );
    row(
        "limits",
        format!("agent {}", limits.describe_agent(input.engine.runtime)),
    );
    row("", sidecar_limits(input.engine, gate.is_some()));
    if let Some(tokens) = input.bottle.limits.tokens {
        row(
            "",
            format!("model tokens {tokens} at most; past them egress refuses model calls"),
        );
    }
    if let Some(spend) = &live.config.spend {
        row("", spend_line(spend));
    }
    row("image", image_line(image, from));
    if let Some(pin) = image.build.as_ref().and_then(|b| b.cli) {
        row("cli", format!("{} ({})", pin.describe(), pin.sources()));
    }
    let egress = match input.live_routes {
        Some(_) => kept_route_lines(live),
        None => route_lines(routes, from),
    };
    for (label, line) in labelled("egress", or_none(egress)) {
        row(label, line);
    }
    row("env", env_line(env, from));
    for (label, line) in labelled("ssh", ssh_lines(input.bottle)) {
        row(label, line);
    }
    for (label, line) in labelled("CAs", ca_lines(input.bottle)) {
        row(label, line);
    }
    let git = super::git_gate::preflight_rows(input, gate)
        .into_iter()
        .map(|line| marked_remote(line, input));
    for (label, line) in labelled("git", git) {
        row(label, line);
    }
    let skills = agent
        .skills
        .iter()
        .map(|skill| format!("{} ({}){agent_mark}", skill.name, skill.dir.display()));
    for (label, line) in labelled("skills", skills) {
        row(label, line);
    }
    for (label, line) in workspace_rows(input, gate) {
        row(label, line);
    }
    row("command", command_line(agent, session));
    Preflight { rows }
}

/// `lines` as rows, the first labelled `label` and the rest blank, so
/// they read as one group.
fn labelled(
    label: &str,
    lines: impl IntoIterator<Item = String>,
) -> impl Iterator<Item = (&str, String)> {
    lines
        .into_iter()
        .enumerate()
        .map(move |(i, line)| (if i == 0 { label } else { "" }, line))
}

/// The agent's name, provider and description.
fn agent_line(agent: &Agent) -> String {
    let mut line = format!("{} ({})", agent.name, agent.provider.name());
    if let Some(d) = &agent.description {
        let _ = write!(line, " — {d}");
    }
    line
}

/// What the agent's network reaches: its sidecars, never the host.
fn network_line(gated: bool) -> &'static str {
    match gated {
        true => "internal only: the agent reaches egress, supervise and git-gate, not the host",
        false => "internal only: the agent reaches egress and supervise, not the host",
    }
}

/// The sidecars' limits, within what the engine has.
fn sidecar_limits(engine: &EngineFacts, gated: bool) -> String {
    let mut line = format!(
        "egress {}; supervise {}",
        EGRESS_RESOURCES.within(engine).describe(),
        SUPERVISE_RESOURCES.within(engine).describe()
    );
    if gated {
        let _ = write!(
            line,
            "; git-gate {}",
            GATE_RESOURCES.within(engine).describe()
        );
    }
    line
}

/// The image's tag and what it is built from; an agent's Dockerfile says
/// it is built without network or context.
fn image_line(image: &AgentImage, from: &Provenance) -> String {
    match &image.build {
        Some(b) if !b.network => format!(
            "{} (built from {}, an approved capability-block: no network, no build context)",
            image.tag, b.shown_as
        ),
        Some(b) => format!(
            "{} (built from {}){}",
            image.tag,
            b.shown_as,
            from.mark(&Part::Image)
        ),
        None => format!("{}{}", image.tag, from.mark(&Part::Image)),
    }
}

/// `lines`, or the one line saying the agent reaches no host.
fn or_none(lines: Vec<String>) -> Vec<String> {
    match lines.is_empty() {
        true => vec!["none: the agent reaches no host".into()],
        false => lines,
    }
}

/// The bottles' variables by name (after the standard ones), then the
/// standard ones in a word.
fn env_line(env: &[(String, String)], from: &Provenance) -> String {
    let names: Vec<String> = env
        .iter()
        .skip(STANDARD_ENV.len())
        .map(|(k, _)| format!("{k}{}", from.mark(&Part::Env(k.clone()))))
        .collect();
    let standard = "+ proxy, CA and BOT_BOTTLE_* variables";
    if names.is_empty() {
        standard.to_owned()
    } else {
        format!("{} {standard}", names.join(" "))
    }
}

/// One line per ssh key: its host and file, which the git gate holds.
fn ssh_lines(bottle: &Bottle) -> Vec<String> {
    let from = &bottle.provenance;
    bottle
        .ssh
        .iter()
        .map(|e| {
            let part = Part::Ssh(e.host.clone(), e.identity_file.clone());
            format!(
                "{} key {} (the git gate's, never the agent's){}",
                e.host,
                e.identity_file.display(),
                from.mark(&part)
            )
        })
        .collect()
}

/// One line per CA egress trusts upstream.
fn ca_lines(bottle: &Bottle) -> Vec<String> {
    let from = &bottle.provenance;
    bottle
        .egress
        .trust_upstream_ca
        .iter()
        .map(|ca| {
            format!(
                "{} (egress trusts it to vouch for every upstream host){}",
                ca.display(),
                from.mark(&Part::Ca(ca.clone()))
            )
        })
        .collect()
}

/// The agent's config folder, the repository the gate holds (with a git
/// gate), and what the workdir starts as: a clone through the gate, a
/// copy of `--cwd`, or empty.
fn workspace_rows(input: &PlanInput, gate: Option<&GateInput>) -> Vec<(&'static str, String)> {
    let agent = input.agent;
    let agent_dir = crate::state::BottleDir::new(input.state_dir.to_path_buf()).agent_dir();
    let prompt_mark = match agent.origin.is_project() {
        true => format!(" (the prompt and skills from {})", agent.origin),
        false => String::new(),
    };
    let mut rows = vec![(
        "mounts",
        format!(
            "{} -> {AGENT_CONFIG_DIR} (ro){prompt_mark}",
            agent_dir.display()
        ),
    )];
    if let Some(gate) = gate {
        rows.push((
            "",
            format!(
                "{} -> git-gate {} (objects and refs writable)",
                gate.repo.common_dir.display(),
                crate::contract::paths::OPERATOR_MOUNT
            ),
        ));
        rows.push((
            "workdir",
            format!(
                "{WORKDIR} (a clone of {} through the git gate, with its uncommitted changes)",
                gate.repo.top.display()
            ),
        ));
        rows.push(("", gate.work_tree.summary()));
    } else if let Some(cwd) = input.copy_cwd {
        rows.push((
            "workdir",
            format!("{WORKDIR} (a copy of {})", cwd.display()),
        ));
        if let Some(tree) = input.cwd_tree {
            rows.push(("", tree.summary()));
        }
    } else {
        rows.push((
            "workdir",
            format!("{WORKDIR} (empty; --cwd copies this directory in)"),
        ));
    }
    rows
}

/// The agent's first command, its prompt named rather than printed (it is
/// long), marked when a project's agent file set it.
fn command_line(agent: &Agent, session: &SessionSpec) -> String {
    let shown = SessionSpec {
        prompt: session.prompt.as_ref().map(|_| "<prompt>".to_owned()),
        ..session.clone()
    };
    shell_join(&agent.provider.fresh_argv(&shown)) + &agent.origin.mark()
}

/// A git row with the mark of the remote it is about, when a project set it.
fn marked_remote(line: String, input: &PlanInput) -> String {
    let remote = input
        .bottle
        .git
        .remotes
        .iter()
        .find(|r| line.starts_with(&format!("upstream {} ", r.name)));
    match remote {
        Some(r) => {
            let mark = input.bottle.provenance.mark(&Part::Remote(r.name.clone()));
            line + &mark
        }
        None => line,
    }
}

/// One line per route of the bottles: host, paths, where its token comes
/// from (or which variables are unset), its role and switches, and the
/// mark of a project that set or added to it.
fn route_lines(routes: &RoutePlan, from: &Provenance) -> Vec<String> {
    let mut lines = Vec::new();
    for r in &routes.routes {
        let mut line = r.route.host.clone();
        if !r.route.path_allowlist.is_empty() {
            let _ = write!(line, " {}", r.route.path_allowlist.join(" "));
        }
        match (&r.route.auth, &r.token) {
            (_, Some(t)) => {
                let _ = write!(line, " [token from ${}]", t.host_env);
            }
            (Some(auth), None) => {
                let _ = write!(line, " {}", no_token(auth));
            }
            (None, None) => {}
        }
        if let Some(role) = r.route.role {
            let _ = write!(line, " [{}]", role.base_url_env());
        }
        line += &switches(&live_switches(r));
        lines.push(line + &from.mark(&Part::Route(r.route.host.clone())));
    }
    lines
}

/// `[no token: $A, $B unset]`: none of the variables `auth` reads is set.
pub(super) fn no_token(auth: &Auth) -> String {
    let names: Vec<String> = auth.token_env.iter().map(|n| format!("${n}")).collect();
    format!("[no token: {} unset]", names.join(", "))
}

fn live_switches(r: &PlannedRoute) -> (bool, bool) {
    (
        r.route.block_server_tools == Some(true),
        r.route.allow_private_addresses == Some(true),
    )
}

fn switches(&(block_server_tools, allow_private): &(bool, bool)) -> String {
    let mut text = String::new();
    if block_server_tools {
        text.push_str(" [no server-side fetch tools]");
    }
    if allow_private {
        text.push_str(" [may be a private address]");
    }
    text
}

/// The routes a resumed bottle keeps, approvals and edits included.
fn kept_route_lines(live: &LiveRoutes) -> Vec<String> {
    let mut lines: Vec<String> = live
        .config
        .routes
        .iter()
        .map(|r| {
            let mut line = r.host.clone();
            if !r.path_allowlist.is_empty() {
                let _ = write!(line, " {}", r.path_allowlist.join(" "));
            }
            if let Some(env) = r.auth.as_ref().and_then(|a| live.token_env.get(&a.token)) {
                let _ = write!(line, " [token from ${env}]");
            }
            if let Some(role) = &r.role {
                let _ = write!(line, " [{}]", role.name);
            }
            line + &switches(&(r.block_server_tools, r.allow_private_addresses))
        })
        .collect();
    if !lines.is_empty() {
        lines.push("(kept from its last run, approvals and edits included)".into());
    }
    lines
}

/// The spend budget's row: the budget, and what it is counted at.
fn spend_line(spend: &crate::egress::config::SpendConfig) -> String {
    let rows = spend.prices.by_prefix.len();
    let counted = match rows {
        0 => "no model has a price (prices in $BOT_BOTTLE_HOME/bot-bottle.json), so nothing counts against it".to_owned(),
        1 => "estimated at the home's price table (1 row); a model it does not price counts as $0".to_owned(),
        n => format!("estimated at the home's price table ({n} rows); a model it does not price counts as $0"),
    };
    format!(
        "model spend {} at most, {counted}; past it egress refuses model calls",
        spend.budget
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::manifest::Origin;
    use crate::plan::ImageBuild;
    use crate::plan::testing::{ENGINE, agent, bottle, full_bottle, input};
    use crate::provider::Provider;

    /// `bottle` as a project's manifest defined it: every part marked.
    fn projects(mut b: Bottle) -> Bottle {
        b.origin = Origin::Project("bot-bottle.json".into());
        b.provenance = Provenance::of(&b);
        b
    }

    const MARK: &str = " (from ./bot-bottle.json)";

    #[test]
    fn a_group_labels_its_first_line_only() {
        let cases = [
            (vec![], vec![]),
            (vec!["a"], vec![("ssh", "a")]),
            (
                vec!["a", "b", "c"],
                vec![("ssh", "a"), ("", "b"), ("", "c")],
            ),
        ];
        for (lines, want) in cases {
            let got: Vec<(&str, String)> =
                labelled("ssh", lines.iter().map(|l| l.to_string())).collect();
            let want: Vec<(&str, String)> = want.iter().map(|(l, v)| (*l, v.to_string())).collect();
            assert_eq!(got, want, "{lines:?}");
        }
        assert_eq!(or_none(vec![]), ["none: the agent reaches no host"]);
        assert_eq!(or_none(vec!["a".into()]), ["a"]);
    }

    #[test]
    fn the_agent_line_has_its_description_when_it_has_one() {
        let mut a = agent(Provider::Claude);
        assert_eq!(agent_line(&a), "dev (claude) — a test agent");
        a.description = None;
        assert_eq!(agent_line(&a), "dev (claude)");
    }

    #[test]
    fn a_git_gate_is_named_among_what_the_agent_reaches_and_its_limits() {
        for gated in [false, true] {
            assert_eq!(network_line(gated).contains("git-gate"), gated);
            let limits = sidecar_limits(&ENGINE, gated);
            assert!(limits.starts_with("egress "), "{limits}");
            assert!(limits.contains("; supervise "), "{limits}");
            assert_eq!(limits.contains("; git-gate "), gated, "{limits}");
        }
    }

    #[test]
    fn the_image_line_says_how_it_is_built_and_who_asked() {
        let build = |network| ImageBuild {
            dockerfile: "FROM x\n".into(),
            context: None,
            shown_as: "./Dockerfile".into(),
            network,
            cli: None,
            pinned: !network,
        };
        let image = |build| AgentImage {
            tag: "t:1".into(),
            build,
        };
        let ours = bottle().provenance;
        let theirs = projects(bottle()).provenance;
        let cases = [
            (image(None), &ours, "t:1".to_owned()),
            (image(None), &theirs, format!("t:1{MARK}")),
            (
                image(Some(build(true))),
                &theirs,
                format!("t:1 (built from ./Dockerfile){MARK}"),
            ),
            (
                image(Some(build(false))),
                &theirs,
                "t:1 (built from ./Dockerfile, an approved capability-block: no network, no build context)".to_owned(),
            ),
        ];
        for (image, from, want) in cases {
            assert_eq!(image_line(&image, from), want);
        }
    }

    #[test]
    fn the_env_line_names_the_bottles_variables_before_the_standard_ones() {
        let standard: Vec<(String, String)> = STANDARD_ENV
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
        let with = |names: &[&str]| {
            let mut env = standard.clone();
            env.extend(names.iter().map(|n| (n.to_string(), "v".to_owned())));
            env
        };
        let b = projects(full_bottle());
        let cases = [
            (
                with(&[]),
                "+ proxy, CA and BOT_BOTTLE_* variables".to_owned(),
            ),
            (
                with(&["EDITOR", "OTHER"]),
                format!("EDITOR{MARK} OTHER + proxy, CA and BOT_BOTTLE_* variables"),
            ),
        ];
        for (env, want) in cases {
            assert_eq!(env_line(&env, &b.provenance), want);
        }
    }

    #[test]
    fn ssh_keys_and_cas_are_one_line_each_marked_when_a_project_set_them() {
        assert!(ssh_lines(&bottle()).is_empty());
        assert!(ca_lines(&bottle()).is_empty());
        for (b, mark) in [(full_bottle(), ""), (projects(full_bottle()), MARK)] {
            assert_eq!(
                ssh_lines(&b),
                [format!(
                    "github.com key /home/u/.ssh/id_ed25519 (the git gate's, never the agent's){mark}"
                )]
            );
            assert_eq!(
                ca_lines(&b),
                [format!(
                    "/etc/corp-ca.pem (egress trusts it to vouch for every upstream host){mark}"
                )]
            );
        }
    }

    #[test]
    fn the_workdir_is_a_clone_through_the_gate_else_a_copy_else_empty() {
        let repo = crate::plan::testing::operator_repo();
        let audit = PathBuf::from("/a.jsonl");
        let gate = crate::plan::testing::gate(&repo, &audit);
        let a = agent(Provider::Shell);
        let b = bottle();
        let env = BTreeSet::new();
        let cases = [
            (None, None, vec!["mounts", "workdir"], "(empty; --cwd"),
            (
                Some("/home/u/x"),
                None,
                vec!["mounts", "workdir"],
                "(a copy of /home/u/x)",
            ),
            (
                Some("/home/u/proj"),
                Some(&gate),
                vec!["mounts", "", "workdir", ""],
                "(a clone of /home/u/proj through the git gate",
            ),
        ];
        // With the gate, what of the working tree is copied follows.
        for (cwd, gate, labels, workdir) in cases {
            let mut inp = input(&a, &b, &env, &[]);
            inp.copy_cwd = cwd.map(Path::new);
            let rows = workspace_rows(&inp, gate);
            let got: Vec<&str> = rows.iter().map(|(l, _)| *l).collect();
            assert_eq!(got, labels);
            assert!(rows[0].1.ends_with(" (ro)"), "{}", rows[0].1);
            let row = &rows.iter().find(|(l, _)| *l == "workdir").unwrap().1;
            assert!(row.contains(workdir), "{row}");
        }
        // Without the gate, a surveyed folder says what is copied too.
        let tree = crate::plan::WorkTree::Everything {
            bytes: 2048,
            why: "no .bot-bottleignore".into(),
        };
        let mut inp = input(&a, &b, &env, &[]);
        inp.copy_cwd = Some(Path::new("/home/u/x"));
        inp.cwd_tree = Some(&tree);
        let rows = workspace_rows(&inp, None);
        let got: Vec<&str> = rows.iter().map(|(l, _)| *l).collect();
        assert_eq!(got, ["mounts", "workdir", ""]);
        assert_eq!(rows[2].1, "copies all of it, 2.0 KiB: no .bot-bottleignore");

        let mut a = agent(Provider::Shell);
        a.origin = Origin::Project("bot-bottle.json".into());
        let rows = workspace_rows(&input(&a, &b, &env, &[]), None);
        assert!(
            rows[0]
                .1
                .ends_with("(ro) (the prompt and skills from ./bot-bottle.json)"),
            "{}",
            rows[0].1
        );
    }

    #[test]
    fn the_command_names_the_prompt_and_marks_a_project_s_agent() {
        let session = SessionSpec {
            prompt: Some("a long prompt".into()),
            ..SessionSpec::default()
        };
        let mut a = agent(Provider::Claude);
        let line = command_line(&a, &session);
        assert!(line.contains("<prompt>"), "{line}");
        assert!(!line.contains("a long prompt"), "{line}");
        a.origin = Origin::Project("bot-bottle.json".into());
        assert!(command_line(&a, &session).ends_with(MARK));
    }
}
