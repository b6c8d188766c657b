//! What the agent container gets in its config folder, and the script that
//! puts it where the provider looks: prompt, MCP config, the provider's own
//! files, skills, the current Dockerfile. `ssh` entries' keys go to the
//! git gate only, never here. Pure.

use std::fmt::Write as _;

use std::path::PathBuf;

use serde_json::json;

use super::{FileContent, PlanInput, pretty};
use crate::contract::paths::{AGENT_CONFIG_DIR, READY_FILE, WORKDIR, agent_file, agent_files};
use crate::dockerfile::images::{self, Allowed};
use crate::manifest::{ImageSource, Role};
use crate::provider::{AGENT_HOME, Provider};
use crate::state::BottleDir;
use crate::text::shell_quote;

/// Adds the agent's files (paths relative to the state folder) through `add`.
pub(super) fn add_agent_files(
    input: &PlanInput,
    mcp_url: &str,
    env: &[(String, String)],
    prompt: Option<&str>,
    add: &mut impl FnMut(PathBuf, FileContent, u32),
) {
    let agent = BottleDir::relative().agent_dir();
    if let Some(prompt) = prompt {
        add(
            agent.join(agent_files::PROMPT),
            FileContent::Text(format!("{prompt}\n")),
            0o644,
        );
    }
    // The current image, for the agent to start a capability-block from.
    add(
        BottleDir::relative().agent_dockerfile(),
        FileContent::Text(current_dockerfile(input)),
        0o644,
    );
    let mcp = json!({"mcpServers": {"bot-bottle": {"type": "http", "url": mcp_url}}});
    add(
        agent.join(agent_files::MCP_CONFIG),
        FileContent::Text(pretty(&mcp)),
        0o644,
    );
    if input.agent.provider == Provider::Codex {
        let (config, auth) = codex_files(env);
        add(
            agent.join("codex/config.toml"),
            FileContent::Text(config),
            0o644,
        );
        if let Some(auth) = auth {
            add(
                agent.join("codex/auth.json"),
                FileContent::Text(auth),
                0o644,
            );
        }
    }
    for skill in &input.agent.skills {
        add(
            agent.join("skills").join(&skill.name),
            FileContent::CopyDir(skill.dir.clone()),
            0o755,
        );
    }
    add(
        agent.join(agent_files::START_SCRIPT),
        FileContent::Text(start_script(input, prompt)),
        0o755,
    );
}

/// The bottle's current Dockerfile, as the agent reads it.
fn current_dockerfile(input: &PlanInput) -> String {
    match &input.bottle.image {
        Some(ImageSource::Dockerfile(d)) => d.contents.clone(),
        Some(ImageSource::Image(reference)) => format!("FROM {reference}\n"),
        None => String::new(),
    }
}

/// What a capability-block may read: the bottle's own images (the one it
/// runs, tagged `agent_tag`, and those its current Dockerfile reads) and
/// the operator's `capability.base_images`.
pub(super) fn allowed_images(input: &PlanInput, agent_tag: &str) -> Allowed {
    let mut own = vec![agent_tag.to_owned()];
    for image in images::plain_images(&current_dockerfile(input)) {
        if !own.contains(&image) {
            own.push(image);
        }
    }
    Allowed {
        own,
        listed: input.base_images.to_vec(),
    }
}

/// Runs in the agent container as its user: puts the bottle's files where
/// the provider looks for them, marks the container ready, then waits.
fn start_script(input: &PlanInput, prompt: Option<&str>) -> String {
    let provider = input.agent.provider;
    let mut s = String::from("#!/bin/sh\nset -e\n");
    let q = shell_quote;
    if !input.agent.skills.is_empty() {
        let dir = skills_dir(provider);
        let _ = writeln!(
            s,
            "mkdir -p {0}\ncp -R {AGENT_CONFIG_DIR}/skills/. {0}/",
            q(&dir)
        );
    }
    if provider == Provider::Codex {
        // Its config only where the agent has none yet: a restored
        // transcript brings the config Codex itself has added to since.
        let _ = writeln!(
            s,
            "mkdir -p {AGENT_HOME}/.codex\nfor f in config.toml auth.json; do [ ! -e {AGENT_CONFIG_DIR}/codex/$f ] || [ -e {AGENT_HOME}/.codex/$f ] || cp {AGENT_CONFIG_DIR}/codex/$f {AGENT_HOME}/.codex/$f; done"
        );
        if prompt.is_some() {
            let _ = writeln!(
                s,
                "cp {} {AGENT_HOME}/.codex/AGENTS.md",
                agent_file(agent_files::PROMPT)
            );
        }
    }
    let _ = writeln!(s, "touch {READY_FILE}\nexec sleep infinity");
    s
}

/// Codex's `config.toml` and, when a route gives it a placeholder key, its
/// `auth.json`. Codex 0.147 takes its base URL from `openai_base_url` only
/// (not from OPENAI_BASE_URL), asks to trust the workdir, and without a
/// stored key shows a login screen instead of a session.
fn codex_files(env: &[(String, String)]) -> (String, Option<String>) {
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let toml_string = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let mut config = String::new();
    if let Some(url) = get(Role::OpenaiBaseUrl.base_url_env()) {
        let _ = writeln!(config, "openai_base_url = {}", toml_string(url));
    }
    let _ = writeln!(
        config,
        "\n[projects.{}]\ntrust_level = \"trusted\"",
        toml_string(WORKDIR)
    );
    let auth = get("OPENAI_API_KEY")
        .map(|key| pretty(&json!({"auth_mode": "apikey", "OPENAI_API_KEY": key})));
    (config, auth)
}

fn skills_dir(provider: Provider) -> String {
    match provider {
        Provider::Claude => format!("{AGENT_HOME}/.claude/skills"),
        Provider::Codex => format!("{AGENT_HOME}/.codex/skills"),
        Provider::Shell => format!("{AGENT_HOME}/skills"),
    }
}
