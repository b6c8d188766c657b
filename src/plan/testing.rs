//! Fixtures for tests of plans: an agent, a bottle (plain, and one with
//! routes, tokens, an ssh key and a CA), an engine, and the input a plan
//! is made from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{EngineFacts, GateInput, PlanInput, Runtime, RuntimeWhy, WorkTree};
use crate::gitgate::operator::OperatorRepo;
use crate::manifest::{
    Agent, Auth, Bottle, Dockerfile, Egress, ImageSource, Limits, Origin, Role, Route, Scheme,
    SshEntry,
};
use crate::provider::Provider;

pub(crate) fn agent(provider: Provider) -> Agent {
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

pub(crate) fn bottle() -> Bottle {
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
        provenance: Default::default(),
    }
}

pub(crate) const ENGINE: EngineFacts = EngineFacts {
    runtime: Runtime::Runc,
    why: RuntimeWhy::NotRegistered,
    cpus: 4,
};
pub(crate) const ENGINE_RUNSC: EngineFacts = EngineFacts {
    runtime: Runtime::Runsc,
    why: RuntimeWhy::Registered,
    cpus: 4,
};

pub(crate) fn input<'a>(
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
        cwd_tree: None,
        extra_args: &[],
        context_digest: None,
        live_routes: None,
        git_gate: None,
        base_images: &[],
        backend: "docker",
        prices: &NO_PRICES,
    }
}

/// The price table of a home that has none.
pub(crate) static NO_PRICES: crate::egress::usage::price::Prices =
    crate::egress::usage::price::Prices {
        by_prefix: std::collections::BTreeMap::new(),
    };

pub(crate) fn full_bottle() -> Bottle {
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

/// The operator's repository of plans with a git gate: `/home/u/proj`, on
/// `main`.
pub fn operator_repo() -> OperatorRepo {
    OperatorRepo {
        top: "/home/u/proj".into(),
        git_dir: "/home/u/proj/.git".into(),
        common_dir: "/home/u/proj/.git".into(),
        head: Some("main".into()),
    }
}

/// A gate in `repo`, auditing to `audit`, without known hosts; its
/// working tree copies nothing.
pub fn gate<'a>(repo: &'a OperatorRepo, audit: &'a Path) -> GateInput<'a> {
    GateInput {
        repo,
        audit_log: audit,
        known_hosts: None,
        work_tree: &EMPTY_WORK_TREE,
    }
}

/// A working tree whose copy is nothing (its listing is not the point).
pub static EMPTY_WORK_TREE: WorkTree = WorkTree::NotIgnored {
    files: Vec::new(),
    bytes: 0,
    ignored: 0,
    by: super::IgnoredBy::Git,
};
