//! The git gate of a bottle, when `--cwd` is in a git repository: its
//! sidecar, its files (`git-gate/…` and the supervise sidecar's
//! copy of the policy), its preflight rows and the agent's prompt
//! paragraph. Pure.

use std::path::{Path, PathBuf};

use super::preflight::no_token;
use super::resources::GATE_RESOURCES;
use super::{FileContent, Mount, Network, PlanInput, SidecarSpec, TokenSlot, pretty, token_slots};
use crate::contract::command;
use crate::contract::paths::{AUDIT_MOUNT, OPERATOR_MOUNT, SIDECAR_STATE_DIR, WORKDIR};
use crate::contract::services::Sidecar;
use crate::gitgate::operator::OperatorRepo;
use crate::gitgate::{self, Allow, DEFAULT_MAX_PUSH, GateConfig, RemoteAuth, RemoteConfig};
use crate::manifest::{DEFAULT_PROTECTED, ImageSource, Scheme};
use crate::state::{BottleDir, LiveRoutes};

/// What the host tells the plan about the gate's surroundings.
#[derive(Debug, Clone, Copy)]
pub struct GateInput<'a> {
    pub repo: &'a OperatorRepo,
    /// The bottle's audit log on the host (`Home::audit_log`).
    pub audit_log: &'a Path,
    /// The host user's `~/.ssh/known_hosts`, when there is one.
    pub known_hosts: Option<&'a Path>,
    /// What of the working tree the workspace gets beside the clone.
    pub work_tree: &'a WorkTree,
}

/// What of a `--cwd` folder is copied into the workspace: in a git
/// repository (under the clone's `.git`), what git does not ignore; outside
/// git, what its `.bot-bottleignore` does not name; unless asked otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkTree {
    /// The files neither git nor the `.bot-bottleignore` leaves out.
    NotIgnored {
        /// Relative to the folder's top (as git lists them).
        files: Vec<PathBuf>,
        /// What they come to.
        bytes: u64,
        /// What the files left out come to.
        ignored: u64,
        /// Who left them out.
        by: IgnoredBy,
    },
    /// All of it (but `.git`), for the reason given (`--cwd-include-ignored`;
    /// git could not list it; no `.bot-bottleignore`).
    Everything {
        /// What it comes to.
        bytes: u64,
        /// Why.
        why: String,
    },
}

/// What left files out of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredBy {
    Git,
    /// A `.bot-bottleignore` at the top of a folder outside git.
    IgnoreFile,
}

impl WorkTree {
    /// What the preflight says is copied.
    pub fn summary(&self) -> String {
        match self {
            WorkTree::NotIgnored {
                files,
                bytes,
                ignored,
                by,
            } => {
                let copied = format!("copies {} in {} files", size_text(*bytes), files.len());
                let who = match by {
                    IgnoredBy::Git => "that git ignores",
                    IgnoredBy::IgnoreFile => "that .bot-bottleignore names",
                };
                match ignored {
                    0 => copied,
                    _ => format!(
                        "{copied}, leaving out {} {who} (--cwd-include-ignored copies it too)",
                        size_text(*ignored)
                    ),
                }
            }
            WorkTree::Everything { bytes, why } => {
                format!("copies all of it, {}: {why}", size_text(*bytes))
            }
        }
    }

    /// What is copied comes to.
    pub fn bytes(&self) -> u64 {
        match self {
            WorkTree::NotIgnored { bytes, .. } | WorkTree::Everything { bytes, .. } => *bytes,
        }
    }
}

/// `3.1 MiB`, `6.0 GiB`; `512 bytes` under a kibibyte.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS.iter().find(|(size, _)| bytes >= *size) {
        Some((size, unit)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} bytes"),
    }
}

/// What bring-up needs to make the agent's workspace a clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatePlan {
    pub image: String,
    /// Copied into the workspace, its `.git` aside.
    pub repo_top: PathBuf,
    /// What of it is copied.
    pub work_tree: WorkTree,
    /// The audit log, made before bring-up so docker mounts a file.
    pub audit_log: PathBuf,
    /// The agent's git identity, unless its image sets one.
    pub user_name: String,
    pub user_email: String,
}

pub(super) fn gate_plan(input: &PlanInput, gate: &GateInput) -> GatePlan {
    GatePlan {
        image: gate_image_tag(input.sidecar_image),
        repo_top: gate.repo.top.clone(),
        work_tree: gate.work_tree.clone(),
        audit_log: gate.audit_log.to_path_buf(),
        user_name: format!("{} (bot-bottle)", input.agent.name),
        user_email: format!("{}@bot-bottle.invalid", input.slug),
    }
}

/// The slot of a remote's credential in the gate's `tokens.json`.
fn remote_slot(name: &str) -> String {
    format!("remote:{name}")
}

/// The ssh key file (in `ssh/`) of the bottle's `i`th ssh entry.
fn ssh_key(i: usize) -> String {
    format!("id_{i}")
}

/// A remote's credential: its slot, the host variable and the scheme;
/// None when no variable it names is set.
fn remote_token(input: &PlanInput, name: &str) -> Option<(TokenSlot, Scheme)> {
    let remote = input.bottle.git.remotes.iter().find(|r| r.name == name)?;
    let auth = remote.auth.as_ref()?;
    let host_env = auth
        .token_env
        .iter()
        .find(|v| input.host_env_set.contains(*v))?;
    Some((
        TokenSlot {
            slot: remote_slot(name),
            host_env: host_env.clone(),
        },
        auth.scheme.clone().unwrap_or(Scheme::Bearer),
    ))
}

/// `gate.json`.
pub(super) fn gate_config(input: &PlanInput, gate: &GateInput) -> GateConfig {
    let git = &input.bottle.git;
    let mut protected: Vec<String> = match &git.protected_paths {
        Some(list) => list.clone(),
        None => DEFAULT_PROTECTED.iter().map(|p| (*p).to_owned()).collect(),
    };
    for own in own_files(input, &gate.repo.top) {
        if !protected.contains(&own) {
            protected.push(own);
        }
    }
    let remotes = git
        .remotes
        .iter()
        .map(|r| RemoteConfig {
            name: r.name.clone(),
            url: r.url.clone(),
            branches: r.branches.clone(),
            auth: if r.ssh {
                input
                    .bottle
                    .ssh
                    .iter()
                    .position(|e| e.host == r.host)
                    .map(|i| RemoteAuth::Ssh { key: ssh_key(i) })
            } else {
                remote_token(input, &r.name).map(|(token, scheme)| match scheme {
                    Scheme::Basic => RemoteAuth::Basic { slot: token.slot },
                    _ => RemoteAuth::Bearer { slot: token.slot },
                })
            },
        })
        .collect();
    GateConfig {
        slug: input.slug.to_owned(),
        operator: true,
        head: gate.repo.head.clone(),
        protected_paths: protected,
        allow: Allow {
            force_push: git.allow_force_push.unwrap_or(false),
            delete: git.allow_delete.unwrap_or(false),
            tags: git.allow_tags.unwrap_or(false),
        },
        max_push_bytes: git.max_push.unwrap_or(DEFAULT_MAX_PUSH),
        remotes,
    }
}

/// The bottle's own Dockerfile and manifest files, relative to the
/// repository's top, when they are inside it.
fn own_files(input: &PlanInput, top: &Path) -> Vec<String> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(ImageSource::Dockerfile(d)) = &input.bottle.image
        && d.context.is_some()
        && !d.from_agent
    {
        paths.push(PathBuf::from(&d.shown_as));
    }
    for origin in [&input.bottle.origin, &input.agent.origin] {
        if let Some(path) = origin.path() {
            paths.push(path.to_path_buf());
        }
    }
    let mut out = Vec::new();
    for path in paths {
        // Manifests in the directory bot-bottle runs from are named
        // relative to it.
        let path = match (path.is_absolute(), input.copy_cwd) {
            (true, _) => path,
            (false, Some(cwd)) => cwd.join(path),
            (false, None) => continue,
        };
        if let Ok(rel) = path.strip_prefix(top) {
            let rel = rel.display().to_string();
            if !rel.is_empty() && !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}

/// The gate's files, relative to the state folder, through `add`.
pub(super) fn add_files(
    input: &PlanInput,
    gate: &GateInput,
    live: &LiveRoutes,
    add: &mut impl FnMut(PathBuf, FileContent, u32),
) {
    let config = gate_config(input, gate);
    let rel = BottleDir::relative();
    add(
        rel.gate_config(),
        FileContent::Text(pretty(&serde_json::to_value(&config).unwrap_or_default())),
        0o644,
    );
    // Every secret of the bottle, so the scan knows them, and the remotes'.
    let mut slots = token_slots(live);
    for remote in &input.bottle.git.remotes {
        if let Some((token, _)) = remote_token(input, &remote.name) {
            slots.push(token);
        }
    }
    add(rel.gate_tokens(), FileContent::Tokens(slots), 0o600);
    for (i, entry) in input.bottle.ssh.iter().enumerate() {
        add(
            rel.gate_ssh().join(ssh_key(i)),
            FileContent::Copy(entry.identity_file.clone()),
            0o600,
        );
    }
    if let Some(known) = gate.known_hosts {
        add(
            rel.gate_ssh().join("known_hosts"),
            FileContent::Copy(known.to_path_buf()),
            0o644,
        );
    }
    let cas = &input.bottle.egress.trust_upstream_ca;
    if !cas.is_empty() {
        add(
            rel.gate_upstream_ca(),
            FileContent::Concat(cas.clone()),
            0o644,
        );
    }
    add(
        rel.git_policy(),
        FileContent::Text(gitgate::policy_text(&config)),
        0o644,
    );
}

/// The git gate's sidecar: the gate image, its state folder, the
/// operator's repository (read-only, but for the objects and refs it
/// lands pushes in) and the bottle's audit log; outside only when it
/// forwards to remotes.
pub(super) fn sidecar(input: &PlanInput, gate: &GateInput) -> SidecarSpec {
    let mount = |source: PathBuf, target: String, read_only: bool| Mount {
        source,
        target,
        read_only,
    };
    let common = &gate.repo.common_dir;
    let mut networks = vec![Network::Internal];
    if !input.bottle.git.remotes.is_empty() {
        networks.push(Network::Outside);
    }
    SidecarSpec {
        sidecar: Sidecar::GitGate,
        image: gate_image_tag(input.sidecar_image),
        command: command::serve(Sidecar::GitGate, input.slug),
        user: input.host_user,
        networks,
        mounts: vec![
            mount(
                BottleDir::new(input.state_dir.to_path_buf()).gate_dir(),
                SIDECAR_STATE_DIR.into(),
                false,
            ),
            mount(common.clone(), OPERATOR_MOUNT.into(), true),
            mount(
                common.join("objects"),
                format!("{OPERATOR_MOUNT}/objects"),
                false,
            ),
            mount(common.join("refs"), format!("{OPERATOR_MOUNT}/refs"), false),
            mount(gate.audit_log.to_path_buf(), AUDIT_MOUNT.into(), false),
        ],
        env: vec![("HOME".into(), "/tmp".into())],
        tmpfs: vec!["/tmp".into()],
        resources: GATE_RESOURCES.within(input.engine),
    }
}

/// The git gate's image for a sidecar image: the base (git, ssh) and the
/// same binary, so tagged by the same digest.
pub fn gate_image_tag(sidecar_tag: &str) -> String {
    let digest = sidecar_tag
        .rsplit_once(':')
        .map_or(sidecar_tag, |(_, digest)| digest);
    format!("bot-bottle-git-gate:{digest}")
}

/// The paragraph the agent's prompt gets.
pub(super) fn prompt_paragraph() -> String {
    format!(
        "Your {} is a git clone whose `origin` is the bot-bottle git gate: commit your work and push it there (any branch name) to hand it to the operator; the operator's uncommitted changes show as changes in the clone. Call the `git-push-policy` tool for the rules before you push.",
        WORKDIR
    )
}

/// The preflight's `git` rows.
pub(super) fn preflight_rows(input: &PlanInput, gate: Option<&GateInput>) -> Vec<String> {
    let git = &input.bottle.git;
    let names: Vec<&str> = git.remotes.iter().map(|r| r.name.as_str()).collect();
    let Some(gate) = gate else {
        if names.is_empty() {
            return Vec::new();
        }
        let why = match input.copy_cwd {
            Some(_) => "--cwd is not inside a git repository",
            None => "no --cwd",
        };
        return vec![format!(
            "no gate ({why}): the bottles' remotes {} are unused",
            names.join(", ")
        )];
    };
    let config = gate_config(input, gate);
    let branch = match &gate.repo.head {
        Some(b) => format!("branch {b}"),
        None => "detached HEAD".into(),
    };
    let mut rows = vec![format!(
        "{} ({branch}): pushes land as {}<branch> there",
        gate.repo.top.display(),
        gitgate::land_prefix(input.slug)
    )];
    for (remote, written) in config.remotes.iter().zip(&git.remotes) {
        let branches = if remote.branches.is_empty() {
            "every branch by approval".to_owned()
        } else {
            format!("{} (others by approval)", remote.branches.join(" "))
        };
        let credential = match (&remote.auth, &written.auth) {
            (Some(RemoteAuth::Ssh { .. }), _) => {
                let key = input.bottle.ssh.iter().find(|e| e.host == written.host);
                format!(
                    "[ssh key {}]",
                    key.map_or(String::new(), |e| e.identity_file.display().to_string())
                )
            }
            (Some(_), _) => match remote_token(input, &remote.name) {
                Some((token, _)) => format!("[token from ${}]", token.host_env),
                None => String::new(),
            },
            (None, Some(auth)) => no_token(auth),
            (None, None) => "[no credential]".into(),
        };
        rows.push(format!(
            "upstream {} {}: {branches} {credential}",
            remote.name, remote.url
        ));
    }
    let refused: Vec<&str> = [
        (!config.allow.force_push, "force-push"),
        (!config.allow.delete, "deletion"),
        (!config.allow.tags, "tags"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, what)| *what)
    .collect();
    let mut last = format!(
        "{} protected paths held for approval; pushes up to {}",
        config.protected_paths.len(),
        super::format_bytes(config.max_push_bytes)
    );
    if !refused.is_empty() {
        last.push_str(&format!("; refused: {}", refused.join(", ")));
    }
    rows.push(last);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_keys() {
        assert_eq!(remote_slot("up"), "remote:up");
        assert_eq!(ssh_key(2), "id_2");
        assert!(prompt_paragraph().contains("`git-push-policy`"));
    }

    #[test]
    fn sizes_read_in_the_largest_unit_they_reach() {
        let cases = [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1.0 KiB"),
            (3_300_000, "3.1 MiB"),
            (6 << 30, "6.0 GiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(size_text(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn the_preflight_says_what_is_copied_and_what_is_left_out() {
        let listed = |ignored, by| WorkTree::NotIgnored {
            files: vec!["a".into(), "b".into()],
            bytes: 2048,
            ignored,
            by,
        };
        let cases = [
            (listed(0, IgnoredBy::Git), "copies 2.0 KiB in 2 files"),
            (
                listed(6 << 30, IgnoredBy::Git),
                "copies 2.0 KiB in 2 files, leaving out 6.0 GiB that git ignores (--cwd-include-ignored copies it too)",
            ),
            (
                listed(0, IgnoredBy::IgnoreFile),
                "copies 2.0 KiB in 2 files",
            ),
            (
                listed(3 << 20, IgnoredBy::IgnoreFile),
                "copies 2.0 KiB in 2 files, leaving out 3.0 MiB that .bot-bottleignore names (--cwd-include-ignored copies it too)",
            ),
            (
                WorkTree::Everything {
                    bytes: 5 << 30,
                    why: "--cwd-include-ignored copies ignored files too".into(),
                },
                "copies all of it, 5.0 GiB: --cwd-include-ignored copies ignored files too",
            ),
            (
                WorkTree::Everything {
                    bytes: 100,
                    why: "no .bot-bottleignore".into(),
                },
                "copies all of it, 100 bytes: no .bot-bottleignore",
            ),
        ];
        for (tree, want) in cases {
            assert_eq!(tree.summary(), want);
        }
    }
}
