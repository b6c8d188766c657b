//! The docker launch plan, as pure data: the compose document, the image to
//! build, the files to write under `state/<slug>/`, and the preflight.
//!
//! The agent is on the `internal` network only; `egress` also joins
//! `outside`. No secret value appears here: tokens are named by the host
//! variable that holds them and read when the files are written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use self::agent_env::{STANDARD_ENV, agent_env, check_env};
use super::engine::EngineFacts;
use crate::agent_cli::{self, CliPin, UnknownCli};
use crate::egress::config::{AuthConfig, EgressConfig, RoleConfig, RouteConfig};
use crate::manifest::{Agent, Bottle, ImageSource, Role, Route, Scheme};
use crate::provider::{Provider, SessionSpec};
use crate::state::{BottleDir, LiveRoutes};

mod agent_env;
mod agent_files;
mod compose_file;
mod git_gate;
mod preflight;
mod resources;

pub use git_gate::{GateInput, GatePlan};
pub use preflight::Preflight;
pub use resources::{
    AGENT_RESOURCES, EGRESS_RESOURCES, GATE_RESOURCES, GVISOR_TASKS_PER_PROCESS, Resources,
    SUPERVISE_RESOURCES, format_bytes,
};

/// The internal network's bridge gets no IPv4 address on the host, so the
/// host answers nothing on it; its containers still reach each other.
const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

pub const PROXY_PORT: u16 = 3128;
pub const MCP_PORT: u16 = 8765;
/// Where the agent's state folder is mounted, read-only.
pub const AGENT_CONFIG_DIR: &str = "/etc/bot-bottle";
/// Where a sidecar's state folder is mounted.
pub const SIDECAR_STATE_DIR: &str = "/state";
pub const WORKDIR: &str = "/workspace";
/// Created by the agent container once it is set up; its healthcheck.
pub const READY_FILE: &str = "/tmp/.bot-bottle-ready";
/// The agent's user; the embedded Dockerfiles create it.
pub const AGENT_USER: &str = "1000:1000";
pub const LABEL_SLUG: &str = "dev.bot-bottle.slug";
pub const LABEL_AGENT: &str = "dev.bot-bottle.agent";
pub const LABEL_ROLE: &str = "dev.bot-bottle.role";
/// How often docker checks a running service's health. Each check is an
/// exec, which costs CPU, so it is rare; a bring-up does not wait for it
/// but probes readiness itself (see `readiness`), which is what Engine 25's
/// `start_interval` would give.
const HEALTH_INTERVAL: &str = "30s";

/// The container runtime of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Runc,
    /// gVisor, when the engine has it registered.
    Runsc,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Runsc => "runsc",
        }
    }
}

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPlan {
    pub slug: String,
    /// `bot-bottle-<slug>`.
    pub project: String,
    pub compose: Value,
    pub agent_image: AgentImage,
    /// Relative to the state folder, in the order they are written.
    pub files: Vec<PlannedFile>,
    pub provider: Provider,
    pub session: SessionSpec,
    /// A folder copied into the workdir as it is (no git gate).
    pub copy_cwd: Option<PathBuf>,
    /// The git gate, when `--cwd` is in a git repository.
    pub git_gate: Option<GatePlan>,
    pub preflight: Preflight,
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub content: FileContent,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    Text(String),
    /// A host file, copied.
    Copy(PathBuf),
    /// A host folder, copied with everything in it.
    CopyDir(PathBuf),
    /// Host files, one after the other (PEM bundles).
    Concat(Vec<PathBuf>),
    /// The route tokens, as JSON `{slot: value}`, each value read from the
    /// host variable named, at write time.
    Tokens(Vec<TokenSlot>),
    /// The bottle's CA certificate, made when the files are written.
    CaCert,
    /// The bottle's CA private key.
    CaKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSlot {
    pub slot: String,
    pub host_env: String,
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

impl PlanError {
    pub fn hint(&self) -> String {
        match self {
            PlanError::RoleTwice { .. } => "keep the role on one route".into(),
            PlanError::NoImage { .. } => "set 'image' or 'dockerfile' in one of them".into(),
            PlanError::ReservedEnv { .. } => {
                "remove it: the proxy, CA, role and BOT_BOTTLE_* variables point the agent at its sidecars".into()
            }
            PlanError::UnknownCli { .. } => {
                "fix the line, or remove it and install the CLI in the Dockerfile".into()
            }
            PlanError::TooManyCpus { engine, .. } => {
                format!("set limits.cpus to {engine} or less in the bottle")
            }
        }
    }
}

/// How to tell each service is ready, as a command run in its container
/// that waits (up to 30 s) until it is.
pub fn readiness() -> [(&'static str, Vec<String>); 3] {
    let probe = |port: u16| -> Vec<String> {
        ["/bot-bottle", "sidecar", "probe", "--wait", "30"]
            .map(String::from)
            .into_iter()
            .chain([format!("127.0.0.1:{port}")])
            .collect()
    };
    let ready = format!(
        "i=0; until [ -e {READY_FILE} ]; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.05; done"
    );
    [
        ("egress", probe(PROXY_PORT)),
        ("supervise", probe(MCP_PORT)),
        ("agent", vec!["sh".into(), "-c".into(), ready]),
    ]
}

/// Builds the plan. Pure: reads no file and no variable.
pub fn plan(input: &PlanInput) -> Result<DockerPlan, PlanError> {
    let provider = input.agent.provider;
    let project = crate::backend::names::project(input.slug);
    let Some(image) = &input.bottle.image else {
        return Err(PlanError::NoImage {
            bottles: input.bottle_names.join(" + "),
        });
    };
    let agent_image = agent_image(image, input.context_digest)?;
    let routes = RoutePlan::new(input)?;
    check_env(input, &routes)?;
    let limits = resources::agent_limits(input)?;

    let mcp_url = format!("http://supervise:{MCP_PORT}/mcp");
    let mut prompt = input.agent.prompt.clone();
    if input.git_gate.is_some() && provider != Provider::Shell {
        if !prompt.is_empty() {
            prompt.push_str("\n\n");
        }
        prompt.push_str(&git_gate::prompt_paragraph());
    }
    let session = SessionSpec {
        prompt: (!prompt.is_empty()).then_some(prompt),
        mcp_url: Some(mcp_url.clone()),
        model: input.agent.model.clone(),
        args: input
            .agent
            .startup_args
            .iter()
            .chain(input.extra_args)
            .cloned()
            .collect(),
    };

    let live = match input.live_routes {
        Some(kept) => kept.clone(),
        None => {
            let trust = &input.bottle.egress.trust_upstream_ca;
            LiveRoutes {
                config: routes.egress_config(trust),
                token_env: routes
                    .tokens()
                    .into_iter()
                    .map(|t| (t.slot, t.host_env))
                    .collect(),
            }
        }
    };
    let env = agent_env(input, &routes, &mcp_url);
    let files = files(input, &live, &mcp_url, &env, session.prompt.as_deref());
    let compose = compose_file::compose(input, &agent_image.tag, &env, &limits);
    let preflight =
        preflight::preflight(input, &agent_image, &routes, &live, &env, &session, &limits);
    Ok(DockerPlan {
        slug: input.slug.to_owned(),
        project,
        compose,
        agent_image,
        files,
        provider,
        session,
        copy_cwd: match input.git_gate {
            Some(_) => None,
            None => input.copy_cwd.map(Path::to_path_buf),
        },
        git_gate: input
            .git_gate
            .as_ref()
            .map(|gate| git_gate::gate_plan(input, gate)),
        preflight,
    })
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

    /// `routes.json` of the egress sidecar.
    fn egress_config(&self, trust_ca: &[PathBuf]) -> EgressConfig {
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
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::gitgate::operator::OperatorRepo;
    use crate::manifest::{Auth, Dockerfile, Egress, GitRemote, Limits, Origin, Skill, SshEntry};
    use serde_json::json;

    fn agent(provider: Provider) -> Agent {
        Agent {
            name: "dev".into(),
            provider,
            prompt: "Be careful.".into(),
            bottles: vec![],
            skills: vec![],
            startup_args: vec![],
            description: Some("a test agent".into()),
            model: None,
            color: None,
            origin: Origin::Embedded,
        }
    }

    fn bottle() -> Bottle {
        Bottle {
            name: "default".into(),
            image: Some(ImageSource::Dockerfile(Dockerfile {
                shown_as: "<embedded defaults>/Dockerfile".into(),
                contents: "FROM debian:bookworm-slim\n".into(),
                context: None,
                from_agent: false,
            })),
            env: BTreeMap::new(),
            egress: Egress::default(),
            ssh: vec![],
            limits: Limits::default(),
            git: Default::default(),
            origin: Origin::Embedded,
        }
    }

    const ENGINE: EngineFacts = EngineFacts {
        runtime: Runtime::Runc,
        why: super::super::engine::RuntimeWhy::NotRegistered,
        cpus: 4,
    };
    const ENGINE_RUNSC: EngineFacts = EngineFacts {
        runtime: Runtime::Runsc,
        why: super::super::engine::RuntimeWhy::Registered,
        cpus: 4,
    };

    fn input<'a>(
        agent: &'a Agent,
        bottle: &'a Bottle,
        env: &'a BTreeSet<String>,
        names: &'a [String],
    ) -> PlanInput<'a> {
        PlanInput {
            slug: "dev-abcde",
            agent,
            bottle,
            bottle_names: names,
            state_dir: Path::new("/home/u/.bot-bottle/state/dev-abcde"),
            engine: &ENGINE,
            sidecar_image: "bot-bottle-sidecar:test",
            host_user: (1000, 1000),
            host_env_set: env,
            copy_cwd: None,
            extra_args: &[],
            context_digest: None,
            live_routes: None,
            git_gate: None,
        }
    }

    fn full_bottle() -> Bottle {
        let mut b = bottle();
        b.env.insert("PRICE".into(), "$5".into());
        b.env.insert("EDITOR".into(), "vi".into());
        b.egress.routes = vec![
            Route {
                host: "api.anthropic.com".into(),
                path_allowlist: vec![],
                auth: Some(Auth {
                    scheme: None,
                    token_env: vec!["ANTHROPIC_API_KEY".into(), "CLAUDE_CODE_OAUTH_TOKEN".into()],
                }),
                role: Some(Role::AnthropicBaseUrl),
                block_server_tools: Some(true),
                ..Route::default()
            },
            Route {
                host: "api.github.com".into(),
                path_allowlist: vec!["/repos/".into()],
                auth: Some(Auth {
                    scheme: Some(Scheme::Bearer),
                    token_env: vec!["GH_TOKEN".into()],
                }),
                ..Route::default()
            },
            Route {
                host: "pypi.org".into(),
                allow_private_addresses: Some(true),
                ..Route::default()
            },
        ];
        b.egress.trust_upstream_ca = vec!["/etc/corp-ca.pem".into()];
        b.ssh = vec![SshEntry {
            host: "github.com".into(),
            identity_file: "/home/u/.ssh/id_ed25519".into(),
        }];
        b
    }

    #[test]
    fn shell_in_default_bottle() {
        let agent = agent(Provider::Shell);
        let bottle = bottle();
        let env = BTreeSet::new();
        let names = vec!["default".to_owned()];
        let plan = plan(&input(&agent, &bottle, &env, &names)).unwrap();
        insta::assert_snapshot!("shell_preflight", plan.preflight.render());
        insta::assert_json_snapshot!("shell_compose", plan.compose);
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
        insta::assert_json_snapshot!("claude_compose", plan.compose);
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
        let env = BTreeSet::new();
        let names = vec!["b".to_owned()];
        let err = plan(&input(&agent, &bottle, &env, &names)).unwrap_err();
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
        let env: BTreeSet<String> = ["OPENAI_API_KEY".to_owned()].into();
        let names = vec!["codex".to_owned()];
        let plan = plan(&input(&agent, &bottle, &env, &names)).unwrap();
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
        let agent_env = &plan.compose["services"]["agent"]["environment"];
        assert_eq!(agent_env["OPENAI_BASE_URL"], "http://egress:4002/v1");
    }

    #[test]
    fn no_secret_or_token_value_reaches_the_plan() {
        let agent = agent(Provider::Claude);
        let bottle = full_bottle();
        let env: BTreeSet<String> = ["ANTHROPIC_API_KEY".to_owned(), "GH_TOKEN".to_owned()].into();
        let names = vec!["claude".to_owned()];
        let plan = plan(&input(&agent, &bottle, &env, &names)).unwrap();
        let agent_env = &plan.compose["services"]["agent"]["environment"];
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
            .find(|f| f.path == Path::new("egress/tokens.json"))
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
            .find(|f| f.path == Path::new("egress/routes.json"))
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
        let agent = agent(Provider::Shell);
        let bottle = bottle();
        let env = BTreeSet::new();
        let names = vec!["default".to_owned()];
        let compose = plan(&input(&agent, &bottle, &env, &names)).unwrap().compose;
        for section in ["services", "networks"] {
            for (name, item) in compose[section].as_object().unwrap() {
                assert_eq!(item["labels"][LABEL_SLUG], "dev-abcde", "{section}.{name}");
                assert_eq!(item["labels"][LABEL_AGENT], "dev", "{section}.{name}");
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
        let agent = agent(Provider::Shell);
        let bottle = full_bottle();
        let env = BTreeSet::new();
        let names = vec!["x".to_owned()];
        let compose = plan(&input(&agent, &bottle, &env, &names)).unwrap().compose;
        assert_eq!(compose["services"]["agent"]["environment"]["PRICE"], "$$5");
    }

    #[test]
    fn bottle_env_cannot_redirect_the_agent() {
        let agent = agent(Provider::Shell);
        let mut bottle = full_bottle();
        bottle
            .env
            .insert("HTTPS_PROXY".into(), "http://elsewhere:1".into());
        let env = BTreeSet::new();
        let names = vec!["x".to_owned()];
        let err = plan(&input(&agent, &bottle, &env, &names)).unwrap_err();
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
        let mut inp = input(&agent, &bottle, &env, &names);
        inp.engine = &one_cpu;
        let agent_service = |p: DockerPlan| p.compose["services"]["agent"].clone();
        let defaults = agent_service(plan(&inp).unwrap());
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
            memory: Some(512 << 20),
            pids: None,
            cpus: Some(0.25),
        };
        let mut inp = input(&agent, &bottle, &env, &names);
        inp.engine = &one_cpu;
        let p = plan(&inp).unwrap();
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
        let mut inp = input(&agent, &bottle, &env, &names);
        inp.engine = &one_cpu;
        let err = plan(&inp).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bottles big: limits.cpus 3 is more than the docker engine's 1 CPUs"
        );
        assert_eq!(err.hint(), "set limits.cpus to 1 or less in the bottle");
    }

    #[test]
    fn a_resumed_bottle_keeps_the_routes_it_lived_with() {
        let agent = agent(Provider::Shell);
        let bottle = full_bottle();
        let env: BTreeSet<String> = ["GH_TOKEN".to_owned()].into();
        let names = vec!["x".to_owned()];
        let fresh = plan(&input(&agent, &bottle, &env, &names)).unwrap();
        let written = |p: &DockerPlan, path: &str| {
            p.files
                .iter()
                .find(|f| f.path == Path::new(path))
                .map(|f| f.content.clone())
                .unwrap()
        };
        // At launch, the host's record is what egress gets.
        let FileContent::Text(record) = written(&fresh, "routes.json") else {
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
        let FileContent::Text(routes) = written(&resumed, "egress/routes.json") else {
            panic!("routes are text");
        };
        assert_eq!(
            serde_json::from_str::<EgressConfig>(&routes).unwrap(),
            live.config
        );
        assert_eq!(
            written(&resumed, "egress/tokens.json"),
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
        let env = BTreeSet::new();
        let names = vec!["a".to_owned(), "b".to_owned()];
        let err = plan(&input(&agent, &bottle, &env, &names)).unwrap_err();
        assert!(
            err.to_string()
                .contains("two routes have role 'anthropic-base-url'"),
            "{err}"
        );
    }

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

    fn operator_repo() -> OperatorRepo {
        OperatorRepo {
            top: "/home/u/proj".into(),
            git_dir: "/home/u/proj/.git".into(),
            common_dir: "/home/u/proj/.git".into(),
            head: Some("main".into()),
        }
    }

    #[test]
    fn claude_with_a_git_gate_and_remotes() {
        let agent = agent(Provider::Claude);
        let bottle = gate_bottle();
        let env: BTreeSet<String> = ["GH_TOKEN".to_owned(), "UP_TOKEN".to_owned()].into();
        let names = vec!["claude".to_owned(), "gh".to_owned()];
        let repo = operator_repo();
        let audit = PathBuf::from("/home/u/.bot-bottle/audit/dev-abcde.jsonl");
        let mut inp = input(&agent, &bottle, &env, &names);
        inp.copy_cwd = Some(Path::new("/home/u/proj/src"));
        inp.git_gate = Some(GateInput {
            repo: &repo,
            audit_log: &audit,
            known_hosts: Some(Path::new("/home/u/.ssh/known_hosts")),
        });
        let plan = plan(&inp).unwrap();
        insta::assert_snapshot!("gate_preflight", plan.preflight.render());
        insta::assert_json_snapshot!("gate_compose_service", plan.compose["services"]["git-gate"]);
        let listing: Vec<String> = plan
            .files
            .iter()
            .filter(|f| f.path.starts_with("git-gate") || f.path.ends_with("git-policy.md"))
            .map(|f| format!("{:o} {} {:?}", f.mode, f.path.display(), f.content))
            .collect();
        insta::assert_snapshot!("gate_files", listing.join("\n"));

        let agent_service = &plan.compose["services"]["agent"];
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
            plan.files.iter().all(|f| !f.path.starts_with("agent/ssh")),
            "no key reaches the agent"
        );
        let config = plan
            .files
            .iter()
            .find(|f| f.path == Path::new("git-gate/gate.json"))
            .map(|f| match &f.content {
                FileContent::Text(t) => {
                    serde_json::from_str::<crate::gitgate::GateConfig>(t).unwrap()
                }
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
        let repo = operator_repo();
        let audit = PathBuf::from("/a.jsonl");
        let mut inp = input(&agent, &bottle, &env, &names);
        inp.copy_cwd = Some(Path::new("/home/u/proj"));
        inp.git_gate = Some(GateInput {
            repo: &repo,
            audit_log: &audit,
            known_hosts: None,
        });
        let p = plan(&inp).unwrap();
        assert_eq!(
            p.compose["services"]["git-gate"]["networks"],
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
        assert!(p.compose["services"].get("git-gate").is_none());
        assert_eq!(p.copy_cwd.as_deref(), Some(Path::new("/tmp/not-a-repo")));
        let shown = p.preflight.render();
        assert!(
            shown.contains(
                "git       no gate (--cwd is not inside a git repository): the bottles' remotes up, gh are unused"
            ),
            "{shown}"
        );
    }
}
