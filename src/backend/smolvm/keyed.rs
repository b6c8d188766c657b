//! The bottle key of a smolmachines bottle. Its sidecars keep an address
//! on the host (smolvm makes the microVM's connections from there), so
//! each requires a per-bottle key (`egress::client_key`) that only the
//! microVM's agent is given:
//!
//! - egress: the user info of its proxy URL (`HTTP(S)_PROXY`), sent as
//!   `Proxy-Authorization`; its role listeners (`ANTHROPIC_BASE_URL`, …)
//!   are reached through the proxy, so `egress` leaves `NO_PROXY`;
//! - supervise: `Authorization: Bearer` from `BOT_BOTTLE_KEY` (Claude
//!   Code's MCP config expands `${BOT_BOTTLE_KEY}` in its headers; Codex
//!   reads `bearer_token_env_var`);
//! - the git gate: `http.<gate>.extraHeader` through git's
//!   `GIT_CONFIG_COUNT`/`KEY`/`VALUE` variables.
//!
//! The variables that carry the key reach the machine as smolvm
//! `--secret-file VAR=PATH` (read at each exec, never in an argv or the
//! machine's record); the files live in the bottle's state and go with its
//! secrets at teardown. Rendering is pure; `write` puts it on disk.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::contract::paths::agent_files;
use crate::contract::services::{EGRESS, GATE_PORT, GIT_GATE as GATE};
use crate::egress::client_key::{ClientKey, KEY_ENV, KEY_USER};
use crate::plan::{FileContent, PlannedFile};
use crate::state::{BottleDir, StateError, write_atomic};

const PROXY_VARS: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The agent's environment, split: what may go in smolvm's argv, and what
/// carries the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEnv {
    pub plain: Vec<(String, String)>,
    pub keyed: Vec<(String, String)>,
}

/// Docker's agent environment, for a microVM whose sidecars require `key`.
pub fn agent_env(env: &[(String, String)], key: &ClientKey) -> AgentEnv {
    let key = key.expose();
    let mut plain = Vec::new();
    let mut keyed = Vec::new();
    for (name, value) in env {
        if PROXY_VARS.contains(&name.as_str()) {
            let url = match value.strip_prefix("http://") {
                Some(rest) => format!("http://{KEY_USER}:{key}@{rest}"),
                None => value.clone(),
            };
            keyed.push((name.clone(), url));
        } else if NO_PROXY_VARS.contains(&name.as_str()) {
            let hosts: Vec<&str> = value.split(',').filter(|h| h.trim() != EGRESS).collect();
            plain.push((name.clone(), hosts.join(",")));
        } else {
            plain.push((name.clone(), value.clone()));
        }
    }
    keyed.push((KEY_ENV.to_owned(), key.to_owned()));
    // git's config from the environment: the gate's header after any the
    // bottle's own env sets.
    let count = plain
        .iter()
        .find(|(k, _)| k == "GIT_CONFIG_COUNT")
        .and_then(|(_, v)| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    plain.retain(|(k, _)| k != "GIT_CONFIG_COUNT");
    plain.push(("GIT_CONFIG_COUNT".into(), (count + 1).to_string()));
    plain.push((
        format!("GIT_CONFIG_KEY_{count}"),
        format!("http.http://{GATE}:{GATE_PORT}/.extraHeader"),
    ));
    keyed.push((
        format!("GIT_CONFIG_VALUE_{count}"),
        format!("Authorization: Bearer {key}"),
    ));
    AgentEnv { plain, keyed }
}

/// The agent's files that change on smolmachines, relative to the state
/// folder: the MCP configs present the key (by the variable's name; the
/// files never hold it).
pub fn agent_files(files: &[PlannedFile]) -> Vec<(PathBuf, String)> {
    let agent = BottleDir::relative().agent_dir();
    let mcp = agent.join(agent_files::MCP_CONFIG);
    let codex = agent.join("codex/config.toml");
    let mut out = Vec::new();
    for file in files {
        let FileContent::Text(text) = &file.content else {
            continue;
        };
        if file.path == mcp
            && let Ok(mut config) = serde_json::from_str::<Value>(text)
            && let Some(server) = config["mcpServers"]["bot-bottle"].as_object_mut()
        {
            server.insert(
                "headers".into(),
                json!({"Authorization": format!("Bearer ${{{KEY_ENV}}}")}),
            );
            let mut text = serde_json::to_string_pretty(&config).unwrap_or_default();
            text.push('\n');
            out.push((file.path.clone(), text));
        } else if file.path == codex {
            out.push((
                file.path.clone(),
                format!("{text}\n[mcp_servers.bot-bottle]\nbearer_token_env_var = \"{KEY_ENV}\"\n"),
            ));
        }
    }
    out
}

/// Writes the key into each of `services`' folders, the variables that
/// carry it into `smolvm-env/`, and the agent's files that name it;
/// returns `(variable, file)` for smolvm's `--secret-file`.
pub fn write(
    dir: &BottleDir,
    key: &ClientKey,
    services: &[String],
    keyed: &[(String, String)],
    agent_files: &[(PathBuf, String)],
) -> Result<Vec<(String, PathBuf)>, StateError> {
    for service in services {
        write_atomic(&dir.client_key(service), key.expose().as_bytes(), 0o600)?;
    }
    let env_dir = dir.smolvm_env();
    make_private_dir(&env_dir)?;
    let mut files = Vec::new();
    for (name, value) in keyed {
        let path = env_dir.join(name);
        write_atomic(&path, value.as_bytes(), 0o600)?;
        files.push((name.clone(), path));
    }
    for (rel, text) in agent_files {
        write_atomic(&dir.root().join(rel), text.as_bytes(), 0o644)?;
    }
    Ok(files)
}

fn make_private_dir(path: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |e: std::io::Error| StateError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    if !path.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .map_err(io)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_keyed_variables_carry_the_key() {
        let key = ClientKey::generate();
        let k = key.expose();
        let env = pairs(&[
            ("HOME", "/home/agent"),
            ("HTTPS_PROXY", "http://egress:3128"),
            ("http_proxy", "http://egress:3128"),
            ("NO_PROXY", "localhost,127.0.0.1,supervise,egress,git-gate"),
            ("ANTHROPIC_BASE_URL", "http://egress:9001"),
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "core.editor"),
            ("GIT_CONFIG_VALUE_0", "vi"),
        ]);
        let got = agent_env(&env, &key);
        assert_eq!(
            got.plain,
            pairs(&[
                ("HOME", "/home/agent"),
                ("NO_PROXY", "localhost,127.0.0.1,supervise,git-gate"),
                ("ANTHROPIC_BASE_URL", "http://egress:9001"),
                ("GIT_CONFIG_KEY_0", "core.editor"),
                ("GIT_CONFIG_VALUE_0", "vi"),
                ("GIT_CONFIG_COUNT", "2"),
                ("GIT_CONFIG_KEY_1", "http.http://git-gate:8418/.extraHeader"),
            ])
        );
        assert!(got.plain.iter().all(|(_, v)| !v.contains(k)));
        let bearer = format!("Authorization: Bearer {k}");
        let proxy = format!("http://bottle:{k}@egress:3128");
        assert_eq!(
            got.keyed,
            pairs(&[
                ("HTTPS_PROXY", &proxy),
                ("http_proxy", &proxy),
                ("BOT_BOTTLE_KEY", k),
                ("GIT_CONFIG_VALUE_1", &bearer),
            ])
        );
    }

    #[test]
    fn the_mcp_configs_name_the_key_and_hold_none() {
        let rel = BottleDir::relative().agent_dir();
        let text = |path: PathBuf, s: &str| PlannedFile {
            path,
            content: FileContent::Text(s.into()),
            mode: 0o644,
        };
        let files = [
            text(
                rel.join("mcp.json"),
                r#"{"mcpServers": {"bot-bottle": {"type": "http", "url": "http://supervise:8765/mcp"}}}"#,
            ),
            text(rel.join("codex/config.toml"), "openai_base_url = \"x\"\n"),
            text(rel.join("prompt.md"), "hi"),
        ];
        let got = agent_files(&files);
        assert_eq!(got.len(), 2, "{got:?}");
        let mcp: Value = serde_json::from_str(&got[0].1).unwrap();
        assert_eq!(
            mcp["mcpServers"]["bot-bottle"],
            json!({"type": "http", "url": "http://supervise:8765/mcp",
                   "headers": {"Authorization": "Bearer ${BOT_BOTTLE_KEY}"}})
        );
        assert_eq!(
            got[1].1,
            "openai_base_url = \"x\"\n\n[mcp_servers.bot-bottle]\nbearer_token_env_var = \"BOT_BOTTLE_KEY\"\n"
        );
    }

    #[test]
    fn the_key_files_are_private_and_are_secrets() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = BottleDir::new(tmp.path().join("b-1"));
        let key = ClientKey::generate();
        let services = ["egress".to_owned(), "supervise".to_owned()];
        let keyed = pairs(&[("BOT_BOTTLE_KEY", key.expose())]);
        let files = write(&dir, &key, &services, &keyed, &[]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(
            files,
            [(
                "BOT_BOTTLE_KEY".to_owned(),
                dir.smolvm_env().join("BOT_BOTTLE_KEY")
            )]
        );
        assert_eq!(mode(&files[0].1), 0o600);
        assert_eq!(mode(&dir.smolvm_env()), 0o700);
        for s in &services {
            assert_eq!(mode(&dir.client_key(s)), 0o600);
            assert_eq!(ClientKey::read(&dir.client_key(s)).unwrap(), key);
        }
        let secrets = dir.secrets();
        for path in services
            .iter()
            .map(|s| dir.client_key(s))
            .chain([dir.smolvm_env()])
        {
            assert!(
                secrets.contains(&path),
                "{} is not a secret",
                path.display()
            );
        }
    }
}
