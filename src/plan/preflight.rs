//! The preflight: what a launch will do, shown before anything happens
//! (and by `--dry-run`). Pure. Every line a project's manifest contributed
//! (a route, a variable, the image, a key, a CA, a remote, the agent's
//! prompt, skills and arguments) ends with `(from ./bot-bottle.json)`, so
//! the operator tells a repository's wishes from their own.

use std::fmt::Write as _;

use super::resources::{EGRESS_RESOURCES, GATE_RESOURCES, Resources, SUPERVISE_RESOURCES};
use super::{AgentImage, PlanInput, PlannedRoute, RoutePlan, STANDARD_ENV};
use crate::contract::paths::{AGENT_CONFIG_DIR, WORKDIR};
use crate::manifest::{Auth, Part, Provenance};
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
    let mut agent_line = format!("{} ({})", agent.name, agent.provider.name());
    if let Some(d) = &agent.description {
        let _ = write!(agent_line, " — {d}");
    }
    row("agent", agent_line);
    row("identity", input.slug.to_owned());
    row("bottles", input.bottle_names.join(" + "));
    row("backend", input.backend.to_owned());
    row("runtime", input.engine.runtime_line());
    let gate = input.git_gate.as_ref();
    row(
        "network",
        match gate {
            Some(_) => {
                "internal only: the agent reaches egress, supervise and git-gate, not the host"
            }
            None => "internal only: the agent reaches egress and supervise, not the host",
        }
        .into(),
    );
    row(
        "limits",
        format!("agent {}", limits.describe_agent(input.engine.runtime)),
    );
    let mut sidecars = format!(
        "egress {}; supervise {}",
        EGRESS_RESOURCES.within(input.engine).describe(),
        SUPERVISE_RESOURCES.within(input.engine).describe()
    );
    if gate.is_some() {
        let _ = write!(
            sidecars,
            "; git-gate {}",
            GATE_RESOURCES.within(input.engine).describe()
        );
    }
    row("", sidecars);
    let image_line = match &image.build {
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
    };
    row("image", image_line);
    if let Some(pin) = image.build.as_ref().and_then(|b| b.cli) {
        row("cli", format!("{} ({})", pin.describe(), pin.sources()));
    }
    let egress_rows = match input.live_routes {
        Some(_) => kept_route_lines(live),
        None => route_lines(routes, from),
    };
    if egress_rows.is_empty() {
        row("egress", "none: the agent reaches no host".into());
    }
    for (i, line) in egress_rows.into_iter().enumerate() {
        row(if i == 0 { "egress" } else { "" }, line);
    }
    let names: Vec<String> = env
        .iter()
        .skip(STANDARD_ENV.len())
        .map(|(k, _)| format!("{k}{}", from.mark(&Part::Env(k.clone()))))
        .collect();
    let standard = "+ proxy, CA and BOT_BOTTLE_* variables";
    row(
        "env",
        if names.is_empty() {
            standard.to_owned()
        } else {
            format!("{} {standard}", names.join(" "))
        },
    );
    for (i, e) in input.bottle.ssh.iter().enumerate() {
        let part = Part::Ssh(e.host.clone(), e.identity_file.clone());
        row(
            if i == 0 { "ssh" } else { "" },
            format!(
                "{} key {} (the git gate's, never the agent's){}",
                e.host,
                e.identity_file.display(),
                from.mark(&part)
            ),
        );
    }
    for (i, ca) in input.bottle.egress.trust_upstream_ca.iter().enumerate() {
        row(
            if i == 0 { "CAs" } else { "" },
            format!(
                "{} (egress trusts it to vouch for every upstream host){}",
                ca.display(),
                from.mark(&Part::Ca(ca.clone()))
            ),
        );
    }
    for (i, line) in super::git_gate::preflight_rows(input, gate)
        .into_iter()
        .enumerate()
    {
        row(if i == 0 { "git" } else { "" }, marked_remote(line, input));
    }
    for (i, skill) in agent.skills.iter().enumerate() {
        row(
            if i == 0 { "skills" } else { "" },
            format!("{} ({}){agent_mark}", skill.name, skill.dir.display()),
        );
    }
    let agent_dir = crate::state::BottleDir::new(input.state_dir.to_path_buf()).agent_dir();
    let prompt_mark = match agent.origin.is_project() {
        true => format!(" (the prompt and skills from {})", agent.origin),
        false => String::new(),
    };
    row(
        "mounts",
        format!(
            "{} -> {AGENT_CONFIG_DIR} (ro){prompt_mark}",
            agent_dir.display()
        ),
    );
    if let Some(gate) = gate {
        row(
            "",
            format!(
                "{} -> git-gate {} (objects and refs writable)",
                gate.repo.common_dir.display(),
                crate::contract::paths::OPERATOR_MOUNT
            ),
        );
        row(
            "workdir",
            format!(
                "{WORKDIR} (a clone of {} through the git gate, with its uncommitted changes)",
                gate.repo.top.display()
            ),
        );
    } else if let Some(cwd) = input.copy_cwd {
        row(
            "workdir",
            format!("{WORKDIR} (a copy of {})", cwd.display()),
        );
    } else {
        row(
            "workdir",
            format!("{WORKDIR} (empty; --cwd copies this directory in)"),
        );
    }
    // The prompt is long; the preflight names it rather than printing it.
    let shown = SessionSpec {
        prompt: session.prompt.as_ref().map(|_| "<prompt>".to_owned()),
        ..session.clone()
    };
    row(
        "command",
        shell_join(&agent.provider.fresh_argv(&shown)) + &agent_mark,
    );
    Preflight { rows }
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
