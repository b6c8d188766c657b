//! The manifest: which agents exist and which bottles they can run in.
//!
//! Sources are read in order — embedded defaults, then `$BOT_BOTTLE_HOME`,
//! then the directory bot-bottle runs from — and a later source replaces an
//! earlier one's agent or bottle of the same name. Everything is validated at
//! load, before anything is written: a bad manifest never half-launches.
//!
//! The directory's own manifest is a project's: whoever wrote the
//! repository wrote it. It is used only once the operator trusts that exact
//! content (`trust`), and what it contributes is marked (`Origin::Project`,
//! carried on every part of a bottle by `Provenance`).
//!
//! `parse` turns text into definitions (pure), `resolve` merges sources and
//! `extends:` chains (pure), `trust` digests a project and says what it
//! reaches, and `load` does the file reads around them. `protected` holds
//! the git gate's default protected paths, what `git.protected_paths`
//! means when unset.

mod error;
mod load;
mod parse;
mod protected;
mod provenance;
mod resolve;
mod trust;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub(crate) use error::{ManifestError, Place};
pub(crate) use load::{
    Sources, capability_base_images, idle_after, inspect, load, notify_command, prices,
};
pub(crate) use parse::{COLORS, is_color, parse_scheme, validate_host};
pub(crate) use protected::DEFAULT_PROTECTED;
pub(crate) use provenance::{Part, Provenance};
pub(crate) use resolve::compose_bottles;
pub(crate) use trust::{Defined, Project, Summary, TrustStore};
// Only for launch/trust.rs, until it asks `TrustStore::path`.

use crate::contract::auth;
use crate::provider::Provider;

/// Where a definition came from; every error names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// bot-bottle's own defaults, compiled in.
    Embedded,
    /// One of the operator's files (`$BOT_BOTTLE_HOME`), with the path as
    /// the user should see it.
    File(PathBuf),
    /// A file of the directory bot-bottle runs from: a project's, written
    /// by whoever wrote the repository. The path is relative to that
    /// directory and shown as `./PATH`.
    Project(PathBuf),
}

impl Origin {
    /// The file, as the user should see it; None for embedded defaults.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Origin::Embedded => None,
            Origin::File(path) | Origin::Project(path) => Some(path),
        }
    }

    pub(crate) fn is_project(&self) -> bool {
        matches!(self, Origin::Project(_))
    }

    /// What the preflight adds to a line a project contributed:
    /// ` (from ./bot-bottle.json)`; nothing for the operator's own.
    pub(crate) fn mark(&self) -> String {
        match self {
            Origin::Project(_) => format!(" (from {self})"),
            _ => String::new(),
        }
    }

    /// `the built-in one` or `the one in FILE`: what a later definition
    /// of the same name replaced.
    pub(crate) fn described(&self) -> String {
        match self {
            Origin::Embedded => "the built-in one".into(),
            other => format!("the one in {other}"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Embedded => f.write_str("<embedded defaults>"),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Project(path) => write!(f, "./{}", path.display()),
        }
    }
}

/// Every agent and bottle known, after merging sources and `extends:`.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The agents, by name.
    pub agents: BTreeMap<String, Agent>,
    /// The bottles, by name, their `extends:` applied.
    pub bottles: BTreeMap<String, Bottle>,
    /// The directory's own manifest: used (trusted), or why not.
    pub project: Project,
}

impl Manifest {
    /// The agent `name`; one only an unused project defines is an error
    /// that says why it is not used.
    pub(crate) fn agent(&self, name: &str) -> Result<&Agent, ManifestError> {
        self.agents.get(name).ok_or_else(|| {
            self.project
                .not_used("agent", name)
                .unwrap_or_else(|| ManifestError::UnknownAgent {
                    name: name.to_owned(),
                    known: self.agents.keys().cloned().collect(),
                })
        })
    }

    pub(crate) fn agent_names(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }
}

/// An agent: which CLI runs, with what prompt, in which bottles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Its name, unique in the manifest.
    pub name: String,
    /// The CLI that runs it.
    pub provider: Provider,
    /// The system prompt: `prompt` in JSON, the body of a markdown agent.
    pub prompt: String,
    /// The bottles selected when `start` names none; may be empty.
    pub bottles: Vec<String>,
    /// Skill folders copied into the bottle.
    pub skills: Vec<Skill>,
    /// Arguments the CLI always starts with.
    pub startup_args: Vec<String>,
    /// A line for pickers and the dashboard.
    pub description: Option<String>,
    /// The model the CLI is asked to use; None: the CLI's default.
    pub model: Option<String>,
    /// Its colour (`COLORS`); None: one derived from the label.
    pub color: Option<String>,
    /// Where it was defined.
    pub origin: Origin,
}

/// A skill folder (Claude Code's `SKILL.md` layout) copied into the bottle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// The folder's name, which the CLI knows the skill by.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
}

/// A bottle after its `extends:` chain is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bottle {
    /// Its name, unique in the manifest.
    pub name: String,
    /// None for a bottle meant to be composed onto another with `--bottle`.
    pub image: Option<ImageSource>,
    /// Variables set in the agent's container.
    pub env: BTreeMap<String, String>,
    /// What the agent may reach, and with which credentials.
    pub egress: Egress,
    /// ssh keys the git gate uses, by host.
    pub ssh: Vec<SshEntry>,
    /// What the agent's container may use; unset parts take the defaults.
    pub limits: Limits,
    /// The git gate's policy and upstream remotes.
    pub git: Git,
    /// Where it was defined (the last of its `extends:` chain).
    pub origin: Origin,
    /// Which file set each part, through `extends:` and `--bottle`.
    pub provenance: Provenance,
}

/// Resource limits of the agent's container, as the manifest sets them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Processes at once.
    pub pids: Option<u32>,
    /// CPUs, fractions allowed.
    pub cpus: Option<f64>,
    /// Model tokens the bottle may use (every input and output token its
    /// model APIs report); egress refuses model calls past it.
    pub tokens: Option<u64>,
    /// US dollars the bottle may spend on model calls, at the home's
    /// prices; egress refuses model calls past it.
    pub spend: Option<crate::egress::usage::price::Usd>,
}

// A cpus value is finite (checked at load), so equality is total.
impl Eq for Limits {}

/// Where the agent's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An image reference used as is.
    Image(String),
    /// A Dockerfile, built.
    Dockerfile(Dockerfile),
}

/// A Dockerfile the agent's image is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The path as shown to the user, or `<embedded defaults>/NAME`.
    pub shown_as: String,
    /// Its text.
    pub contents: String,
    /// The build context: the Dockerfile's folder; None for embedded ones.
    pub context: Option<PathBuf>,
    /// An agent wrote it (an approved capability-block): it is built with
    /// no network and no context.
    pub from_agent: bool,
}

/// A bottle's `egress`: the only way out of the bottle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Egress {
    /// What the agent may reach; nothing else is.
    pub routes: Vec<Route>,
    /// Extra CA certificates (PEM) egress trusts for upstream servers.
    pub trust_upstream_ca: Vec<PathBuf>,
}

/// A host (and paths on it) the agent may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// A bare hostname, lower-cased.
    pub host: String,
    /// Path prefixes; empty means every path.
    pub path_allowlist: Vec<String>,
    /// The credential egress adds to each request; the agent never sees it.
    pub auth: Option<Auth>,
    /// The agent's own client is pointed at this route.
    pub role: Option<Role>,
    /// The host may resolve to a loopback, private or link-local address.
    /// None: not said (false), so a bottle composed on top can still say.
    pub allow_private_addresses: Option<bool>,
    /// Refuse bodies that make the API fetch URLs or reach MCP servers.
    pub block_server_tools: Option<bool>,
}

/// A credential added to requests, from the operator's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// None only for a route with a role, which chooses it.
    pub scheme: Option<Scheme>,
    /// Host variables holding the token; the first one set is used.
    pub token_env: Vec<String>,
}

/// How a token is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// `Authorization: Basic base64(TOKEN)`, TOKEN being `user:password`.
    Basic,
    /// `NAME: TOKEN`.
    Header(String),
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Bearer => f.write_str(auth::BEARER),
            Scheme::Basic => f.write_str(auth::BASIC),
            Scheme::Header(name) => write!(f, "{}:{name}", auth::HEADER),
        }
    }
}

/// A route the agent's own client is pointed at through an env variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `ANTHROPIC_BASE_URL` and a placeholder token for Claude Code.
    AnthropicBaseUrl,
    /// `OPENAI_BASE_URL` and a placeholder token for Codex.
    OpenaiBaseUrl,
}

impl Role {
    /// Every role.
    pub(crate) const ALL: [Role; 2] = [Role::AnthropicBaseUrl, Role::OpenaiBaseUrl];

    /// Its name in the manifest.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::AnthropicBaseUrl => "anthropic-base-url",
            Role::OpenaiBaseUrl => "openai-base-url",
        }
    }

    /// The variable that points the agent's client at the route.
    pub(crate) fn base_url_env(self) -> &'static str {
        match self {
            Role::AnthropicBaseUrl => "ANTHROPIC_BASE_URL",
            Role::OpenaiBaseUrl => "OPENAI_BASE_URL",
        }
    }
}

/// A bottle's `git`: what the git gate lets a push do, and where it may
/// forward it. Unset values take the gate's defaults; merging keeps the
/// later bottle's value when it sets one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Git {
    /// Unique by name.
    pub remotes: Vec<GitRemote>,
    /// Patterns as in `DEFAULT_PROTECTED`, `default` expanded
    /// already. None: the defaults.
    pub protected_paths: Option<Vec<String>>,
    /// A push may rewrite history.
    pub allow_force_push: Option<bool>,
    /// A push may delete a ref.
    pub allow_delete: Option<bool>,
    /// A push may bring tags.
    pub allow_tags: Option<bool>,
    /// Bytes one push may bring.
    pub max_push: Option<u64>,
}

/// An upstream repository the gate forwards pushes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRemote {
    /// `[a-z0-9_-]+`.
    pub name: String,
    /// Where pushes go.
    pub url: String,
    /// The host the URL names, lower-cased; an ssh URL's key is the `ssh`
    /// entry's for it.
    pub host: String,
    /// An ssh URL, not an http(s) one.
    pub ssh: bool,
    /// Branch patterns forwarded without asking.
    pub branches: Vec<String>,
    /// Basic or bearer, for an http(s) URL.
    pub auth: Option<Auth>,
}

/// A bottle's `ssh` entry: the key the git gate uses for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshEntry {
    /// The host, lower-cased.
    pub host: String,
    /// The private key, `~/` expanded.
    pub identity_file: PathBuf,
}
