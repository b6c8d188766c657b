//! A bottle's plan, as pure data and in no backend's words: the agent
//! (image, environment, limits, mounts, user, workdir, command), the
//! sidecars (each a typed spec), the files to write under `state/<slug>/`,
//! the session, the git gate and the preflight. Backends render it: docker
//! as a compose document (`backend::docker::compose_file`), smolmachines
//! as a compose document of the sidecars and a microVM for the agent.
//! What is decided at bring-up (subnets, addresses) is an input of the
//! renderer, never written into the plan.
//!
//! The agent is on the `internal` network only; `egress` also joins
//! `outside`. No secret value appears here: tokens are named by the host
//! variable that holds them and read when the files are written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use self::agent_env::{STANDARD_ENV, agent_env, check_env};
use crate::agent_cli::{self, CliPin, UnknownCli};
use crate::contract::command;
use crate::contract::paths::{
    AGENT_CONFIG_DIR, AGENT_USER, SIDECAR_STATE_DIR, WORKDIR, agent_file,
    agent_files as agent_file_names,
};
use crate::contract::services::{MCP_PATH, MCP_PORT, PROXY_PORT, SUPERVISE, Sidecar};
use crate::egress::config::{AuthConfig, EgressConfig, RoleConfig, RouteConfig, SpendConfig};
use crate::egress::usage::price::Prices;
use crate::error::{Explain, UserError};
use crate::manifest::{Agent, Bottle, ImageSource, Limits, Role, Route, Scheme};
use crate::provider::{Provider, SessionSpec};
use crate::state::{BottleDir, LiveRoutes};

mod agent_env;
mod agent_files;
mod files;
mod git_gate;
mod preflight;
mod resources;
mod runtime;
#[cfg(test)]
pub(crate) mod testing;

pub use files::{FileContent, PlannedFile, TokenSlot};
pub use git_gate::{GateInput, GatePlan, IgnoredBy, WorkTree, gate_image_tag, size_text};
pub use preflight::Preflight;
pub use resources::{
    EGRESS_RESOURCES, GVISOR_TASKS_PER_PROCESS, Resources, SUPERVISE_RESOURCES, format_bytes,
};
pub use runtime::{EngineFacts, Runtime, RuntimeWhy};

/// Everything a plan is made from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub slug: &'a str,
    pub agent: &'a Agent,
    /// The bottles selected, merged in order.
    pub bottle: &'a Bottle,
    pub bottle_names: &'a [String],
    /// `state/<slug>/` on the host.
    pub state_dir: &'a Path,
    pub engine: &'a EngineFacts,
    pub sidecar_image: &'a str,
    /// The host user's uid and gid: sidecars run as it, so the files they
    /// write in their state folders belong to the user.
    pub host_user: (u32, u32),
    /// Host variables that are set (names only), to pick token variables.
    pub host_env_set: &'a BTreeSet<String>,
    /// The host folder copied into the workdir, for `--cwd`.
    pub copy_cwd: Option<&'a Path>,
    /// What of it is copied when there is no git gate (see
    /// `launch::work_tree::survey_folder`); None: all of it, unsurveyed.
    pub cwd_tree: Option<&'a WorkTree>,
    /// The ARGS after `--`.
    pub extra_args: &'a [String],
    /// A digest of the Dockerfile's build context, so the image tag changes
    /// with it (see `images::context_digest`).
    pub context_digest: Option<&'a str>,
    /// The routes a resumed bottle lived with; they replace its bottles'.
    pub live_routes: Option<&'a LiveRoutes>,
    /// The operator's repository `--cwd` is in: the bottle gets a git gate
    /// and its workspace is a clone.
    pub git_gate: Option<GateInput<'a>>,
    /// `capability.base_images` of the operator's manifest: what an
    /// agent's Dockerfile may read besides the bottle's own images.
    pub base_images: &'a [String],
    /// The backend's name, for the preflight (a backend adds its own rows).
    pub backend: &'a str,
    /// The home's price table: egress counts a spend budget at it.
    pub prices: &'a Prices,
}

/// A bottle's plan: everything a backend needs to bring it up.
#[derive(Debug, Clone, PartialEq)]
pub struct BottlePlan {
    pub slug: String,
    pub agent: AgentSpec,
    /// egress and supervise, then the git gate when there is one.
    pub sidecars: Vec<SidecarSpec>,
    /// Relative to the state folder, in the order they are written.
    pub files: Vec<PlannedFile>,
    pub provider: Provider,
    pub session: SessionSpec,
    /// A folder copied into the workdir as it is (no git gate).
    pub copy_cwd: Option<PathBuf>,
    /// What of it is copied, when it was surveyed.
    pub cwd_tree: Option<WorkTree>,
    /// The git gate, when `--cwd` is in a git repository.
    pub git_gate: Option<GatePlan>,
    pub preflight: Preflight,
}

/// The agent: what it runs, as whom, with what.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// The manifest's name of the agent.
    pub name: String,
    pub image: AgentImage,
    pub hostname: String,
    pub user: &'static str,
    pub workdir: &'static str,
    pub command: Vec<String>,
    /// In order; names and values are never secret.
    pub env: Vec<(String, String)>,
    /// The agent's memory, processes and CPUs.
    pub limits: Resources,
    pub runtime: Runtime,
    pub mounts: Vec<Mount>,
}

/// A sidecar: the bot-bottle binary serving one role.
#[derive(Debug, Clone, PartialEq)]
pub struct SidecarSpec {
    pub sidecar: Sidecar,
    pub image: String,
    pub command: Vec<String>,
    /// The host user's uid and gid: the files it writes in its state
    /// folder belong to the user.
    pub user: (u32, u32),
    pub networks: Vec<Network>,
    pub mounts: Vec<Mount>,
    pub env: Vec<(String, String)>,
    /// Writable scratch folders in memory (its root is read-only).
    pub tmpfs: Vec<String>,
    pub resources: Resources,
}

/// The networks of a bottle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The agent's only network: no route out, no address of the host.
    Internal,
    /// Where egress (and a gate with remotes) reach upstream.
    Outside,
}

impl Network {
    /// Both, in the order a backend makes them.
    pub const ALL: [Network; 2] = [Network::Internal, Network::Outside];

    pub fn name(self) -> &'static str {
        match self {
            Network::Internal => "internal",
            Network::Outside => "outside",
        }
    }
}

/// A host path seen at `target` inside a container or machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentImage {
    pub tag: String,
    /// None when the bottle names an existing image.
    pub build: Option<ImageBuild>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuild {
    pub dockerfile: String,
    pub context: Option<PathBuf>,
    pub shown_as: String,
    /// Whether the build's RUN steps may use the network: not for a
    /// Dockerfile an agent wrote.
    pub network: bool,
    /// The agent CLI the Dockerfile asks for (`# bot-bottle-cli:`).
    pub cli: Option<&'static CliPin>,
    /// An agent wrote it: it reads only images an approval pinned by id
    /// (`dockerfile::images::pinned_ids`), checked again before the build.
    pub pinned: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("bottles {bottles} name no image")]
    NoImage { bottles: String },
    #[error("bottles {bottles}: env.{name} is set by bot-bottle itself")]
    ReservedEnv { bottles: String, name: String },
    #[error("bottles {bottles}: two routes have role '{role}' ({first} and {second})")]
    RoleTwice {
        bottles: String,
        role: &'static str,
        first: String,
        second: String,
    },
    #[error("{file}: {reason}")]
    UnknownCli { file: String, reason: UnknownCli },
    #[error("bottles {bottles}: limits.cpus {cpus} is more than the docker engine's {engine} CPUs")]
    TooManyCpus {
        bottles: String,
        cpus: f64,
        engine: u32,
    },
}

impl UserError for PlanError {
    /// Every plan error is the manifest's to fix.
    fn explain(&self) -> Explain<'_> {
        match self {
            PlanError::RoleTwice { .. } => Explain::usage("keep the role on one route"),
            PlanError::NoImage { .. } => {
                Explain::usage("set 'image' or 'dockerfile' in one of them")
            }
            PlanError::ReservedEnv { .. } => Explain::usage(
                "remove it: the proxy, CA, role and BOT_BOTTLE_* variables point the agent at its sidecars",
            ),
            PlanError::UnknownCli { .. } => {
                Explain::usage("fix the line, or remove it and install the CLI in the Dockerfile")
            }
            PlanError::TooManyCpus { engine, .. } => {
                Explain::usage(format!("set limits.cpus to {engine} or less in the bottle"))
            }
        }
    }
}

/// Builds the plan. Pure: reads no file and no variable.
pub fn plan(input: &PlanInput) -> Result<BottlePlan, PlanError> {
    let provider = input.agent.provider;
    let Some(image) = &input.bottle.image else {
        return Err(PlanError::NoImage {
            bottles: input.bottle_names.join(" + "),
        });
    };
    let agent_image = agent_image(image, input.context_digest)?;
    let routes = RoutePlan::new(input)?;
    check_env(input, &routes)?;
    let limits = resources::agent_limits(input)?;

    let mcp_url = format!("http://{SUPERVISE}:{MCP_PORT}{MCP_PATH}");
    let session = session(input, &mcp_url);
    let live = live_routes(input, &routes);
    let env = agent_env(input, &routes, &mcp_url);
    let files = files(
        input,
        &live,
        &agent_image.tag,
        &mcp_url,
        &env,
        session.prompt.as_deref(),
    );
    let preflight =
        preflight::preflight(input, &agent_image, &routes, &live, &env, &session, &limits);
    Ok(BottlePlan {
        slug: input.slug.to_owned(),
        agent: agent_spec(input, agent_image, env, limits),
        sidecars: sidecars(input),
        files,
        provider,
        session,
        copy_cwd: match input.git_gate {
            Some(_) => None,
            None => input.copy_cwd.map(Path::to_path_buf),
        },
        cwd_tree: match (input.git_gate.as_ref(), input.copy_cwd) {
            (None, Some(_)) => input.cwd_tree.cloned(),
            _ => None,
        },
        git_gate: input
            .git_gate
            .as_ref()
            .map(|gate| git_gate::gate_plan(input, gate)),
        preflight,
    })
}

/// How sessions start: the agent's prompt (with a paragraph on the git
/// gate when there is one and the agent is not a shell), supervise's MCP
/// URL, the agent's model, and its startup arguments followed by the ARGS.
fn session(input: &PlanInput, mcp_url: &str) -> SessionSpec {
    let mut prompt = input.agent.prompt.clone();
    if input.git_gate.is_some() && input.agent.provider != Provider::Shell {
        if !prompt.is_empty() {
            prompt.push_str("\n\n");
        }
        prompt.push_str(&git_gate::prompt_paragraph());
    }
    SessionSpec {
        prompt: (!prompt.is_empty()).then_some(prompt),
        mcp_url: Some(mcp_url.to_owned()),
        model: input.agent.model.clone(),
        args: input
            .agent
            .startup_args
            .iter()
            .chain(input.extra_args)
            .cloned()
            .collect(),
    }
}

/// The routes egress starts with: those a resumed bottle kept, else the
/// bottles' own, each token named by its slot and host variable.
fn live_routes(input: &PlanInput, routes: &RoutePlan) -> LiveRoutes {
    match input.live_routes {
        Some(kept) => kept.clone(),
        None => {
            let trust = &input.bottle.egress.trust_upstream_ca;
            LiveRoutes {
                config: routes.egress_config(trust, &input.bottle.limits, input.prices),
                token_env: routes
                    .tokens()
                    .into_iter()
                    .map(|t| (t.slot, t.host_env))
                    .collect(),
            }
        }
    }
}

/// egress and supervise, then the git gate when there is one.
fn sidecars(input: &PlanInput) -> Vec<SidecarSpec> {
    let mut sidecars = vec![
        sidecar(input, Sidecar::Egress, EGRESS_RESOURCES),
        sidecar(input, Sidecar::Supervise, SUPERVISE_RESOURCES),
    ];
    sidecars.extend(
        input
            .git_gate
            .as_ref()
            .map(|gate| git_gate::sidecar(input, gate)),
    );
    sidecars
}

/// The agent: its image and limits, the environment `agent_env` made,
/// as the agent user in the workdir, running its start script, with its
/// config folder and the bottle's CA mounted read-only.
fn agent_spec(
    input: &PlanInput,
    image: AgentImage,
    env: Vec<(String, String)>,
    limits: Resources,
) -> AgentSpec {
    let dir = BottleDir::new(input.state_dir.to_path_buf());
    AgentSpec {
        name: input.agent.name.clone(),
        image,
        hostname: input.slug.to_owned(),
        user: AGENT_USER,
        workdir: WORKDIR,
        command: vec!["sh".into(), agent_file(agent_file_names::START_SCRIPT)],
        env,
        limits,
        runtime: input.engine.runtime,
        mounts: vec![
            Mount {
                source: dir.agent_dir(),
                target: AGENT_CONFIG_DIR.into(),
                read_only: true,
            },
            Mount {
                source: dir.agent_ca(),
                target: "/etc/ssl/certs/ca-certificates.crt".into(),
                read_only: true,
            },
        ],
    }
}

/// egress or supervise: the sidecar image serving one role, its state
/// folder mounted; egress alone also reaches outside.
fn sidecar(input: &PlanInput, which: Sidecar, resources: Resources) -> SidecarSpec {
    let networks = match which {
        Sidecar::Egress => vec![Network::Internal, Network::Outside],
        _ => vec![Network::Internal],
    };
    let dir = BottleDir::new(input.state_dir.to_path_buf());
    SidecarSpec {
        sidecar: which,
        image: input.sidecar_image.to_owned(),
        command: command::serve(which, input.slug),
        user: input.host_user,
        networks,
        mounts: vec![Mount {
            source: dir.service(which.name()),
            target: SIDECAR_STATE_DIR.into(),
            read_only: false,
        }],
        env: Vec::new(),
        tmpfs: Vec::new(),
        resources: resources.within(input.engine),
    }
}

/// The image tag: the bottle's reference, or one named by the content of
/// its Dockerfile, so it is built again only when that changes.
fn agent_image(image: &ImageSource, context_digest: Option<&str>) -> Result<AgentImage, PlanError> {
    Ok(match image {
        ImageSource::Image(reference) => AgentImage {
            tag: reference.clone(),
            build: None,
        },
        ImageSource::Dockerfile(d) => {
            let mut hash = Sha256::new();
            hash.update(d.contents.as_bytes());
            if let Some(digest) = context_digest {
                hash.update(digest.as_bytes());
            }
            let cli =
                agent_cli::directive(&d.contents).map_err(|reason| PlanError::UnknownCli {
                    file: d.shown_as.clone(),
                    reason,
                })?;
            // A new pinned CLI version is a new image.
            if let Some(pin) = cli {
                hash.update(pin.fingerprint().as_bytes());
            }
            let digest = hex(&hash.finalize()[..6]);
            AgentImage {
                tag: format!("bot-bottle-agent:{digest}"),
                build: Some(ImageBuild {
                    dockerfile: d.contents.clone(),
                    context: d.context.clone().filter(|_| !d.from_agent),
                    shown_as: d.shown_as.clone(),
                    network: !d.from_agent,
                    cli,
                    pinned: d.from_agent,
                }),
            }
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The routes as the egress sidecar gets them, with the token slot and the
/// role's listener of each.
struct RoutePlan<'a> {
    routes: Vec<PlannedRoute<'a>>,
}

struct PlannedRoute<'a> {
    route: &'a Route,
    /// The token's slot and host variable, when one is set on the host.
    token: Option<TokenSlot>,
    scheme: Option<Scheme>,
    /// The port egress serves the role's base URL on.
    role_port: Option<u16>,
}

impl<'a> RoutePlan<'a> {
    fn new(input: &'a PlanInput) -> Result<Self, PlanError> {
        let mut routes: Vec<PlannedRoute> = Vec::new();
        for route in &input.bottle.egress.routes {
            if let Some(role) = route.role
                && let Some(other) = routes.iter().find(|r| r.route.role == Some(role))
            {
                return Err(PlanError::RoleTwice {
                    bottles: input.bottle_names.join(" + "),
                    role: role.name(),
                    first: other.route.host.clone(),
                    second: route.host.clone(),
                });
            }
            let chosen = route.auth.as_ref().and_then(|auth| {
                auth.token_env
                    .iter()
                    .find(|name| input.host_env_set.contains(*name))
                    .map(|name| (auth, name))
            });
            let slot = routes.iter().filter(|r| r.token.is_some()).count();
            let (token, scheme) = match chosen {
                None => (None, None),
                Some((auth, name)) => (
                    Some(TokenSlot {
                        slot: format!("t{slot}"),
                        host_env: name.clone(),
                    }),
                    Some(
                        auth.scheme
                            .clone()
                            .unwrap_or_else(|| role_scheme(route.role, name)),
                    ),
                ),
            };
            routes.push(PlannedRoute {
                route,
                token,
                scheme,
                role_port: route.role.map(role_port),
            });
        }
        Ok(RoutePlan { routes })
    }

    fn tokens(&self) -> Vec<TokenSlot> {
        self.routes.iter().filter_map(|r| r.token.clone()).collect()
    }

    /// `routes.json` of the egress sidecar: the routes, and the budgets of
    /// `limits` (a spend budget with the price table it is counted at).
    fn egress_config(
        &self,
        trust_ca: &[PathBuf],
        limits: &Limits,
        prices: &Prices,
    ) -> EgressConfig {
        let routes = self
            .routes
            .iter()
            .map(|r| RouteConfig {
                host: r.route.host.clone(),
                path_allowlist: r.route.path_allowlist.clone(),
                auth: match (&r.token, &r.scheme) {
                    (Some(token), Some(scheme)) => Some(AuthConfig {
                        scheme: scheme.to_string(),
                        token: token.slot.clone(),
                    }),
                    _ => None,
                },
                role: r
                    .route
                    .role
                    .zip(r.role_port)
                    .map(|(role, listen)| RoleConfig {
                        name: role.name().to_owned(),
                        listen,
                    }),
                allow_private_addresses: r.route.allow_private_addresses.unwrap_or(false),
                block_server_tools: r.route.block_server_tools.unwrap_or(false),
            })
            .collect();
        EgressConfig {
            listen: PROXY_PORT,
            routes,
            trust_upstream_ca: (0..trust_ca.len())
                .map(|i| format!("{SIDECAR_STATE_DIR}/upstream-ca/{i}.pem"))
                .collect(),
            token_budget: limits.tokens,
            spend: limits.spend.map(|budget| SpendConfig {
                budget,
                prices: prices.clone(),
            }),
        }
    }
}

/// Claude Code sends ANTHROPIC_API_KEY as `x-api-key` and an OAuth token
/// as a bearer token; the route injects the real one the same way.
fn role_scheme(role: Option<Role>, token_env: &str) -> Scheme {
    match role {
        Some(Role::AnthropicBaseUrl) if token_env == "ANTHROPIC_API_KEY" => {
            Scheme::Header("x-api-key".into())
        }
        _ => Scheme::Bearer,
    }
}

fn role_port(role: Role) -> u16 {
    match role {
        Role::AnthropicBaseUrl => 4001,
        Role::OpenaiBaseUrl => 4002,
    }
}

/// A non-secret stand-in the agent's client sends; egress swaps it out.
pub fn placeholder_token(host_env: &str) -> String {
    format!(
        "bot-bottle-placeholder-{}",
        host_env.to_ascii_lowercase().replace('_', "-")
    )
}

fn files(
    input: &PlanInput,
    live: &LiveRoutes,
    agent_tag: &str,
    mcp_url: &str,
    env: &[(String, String)],
    prompt: Option<&str>,
) -> Vec<PlannedFile> {
    let mut files = Vec::new();
    let mut add = |path: PathBuf, content: FileContent, mode: u32| {
        files.push(PlannedFile {
            path,
            content,
            mode,
        })
    };
    let rel = BottleDir::relative();
    add(rel.egress_ca_key(), FileContent::CaKey, 0o600);
    add(rel.egress_ca(), FileContent::CaCert, 0o644);
    add(rel.agent_ca(), FileContent::CaCert, 0o644);
    let trust = &input.bottle.egress.trust_upstream_ca;
    let config = serde_json::to_value(&live.config).unwrap_or_default();
    // The host's own record first: where no sidecar writes.
    add(
        rel.live_routes(),
        FileContent::Text(pretty(&serde_json::to_value(live).unwrap_or_default())),
        0o600,
    );
    add(
        rel.egress_routes(),
        FileContent::Text(pretty(&config)),
        0o644,
    );
    let slots = token_slots(live);
    add(rel.egress_tokens(), FileContent::Tokens(slots), 0o600);
    for (i, ca) in trust.iter().enumerate() {
        add(
            rel.egress_upstream_ca(i),
            FileContent::Copy(ca.clone()),
            0o644,
        );
    }
    // What list-egress-routes shows; the host rewrites it with the routes.
    add(rel.routes_view(), FileContent::Text(pretty(&config)), 0o644);
    // What a capability-block may read: the host's record, and supervise's
    // copy to check the tool call with.
    let allowed = agent_files::allowed_images(input, agent_tag);
    let allowed = pretty(&serde_json::to_value(allowed).unwrap_or_default());
    add(rel.base_images(), FileContent::Text(allowed.clone()), 0o600);
    add(
        rel.supervise_base_images(),
        FileContent::Text(allowed),
        0o644,
    );

    if let Some(gate) = &input.git_gate {
        git_gate::add_files(input, gate, live, &mut add);
    }
    agent_files::add_agent_files(input, mcp_url, env, prompt, &mut add);
    files
}

/// The live routes' credentials, each read from its host variable.
fn token_slots(live: &LiveRoutes) -> Vec<TokenSlot> {
    live.token_env
        .iter()
        .map(|(slot, host_env)| TokenSlot {
            slot: slot.clone(),
            host_env: host_env.clone(),
        })
        .collect()
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
