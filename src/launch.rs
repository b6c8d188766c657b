//! Launching a bottle, shared by the CLI and the dashboard.
//!
//! `steps` is what an interactive launch asks, in order (the agent's
//! bottles, a label, a color, a directory, a backend), as one pure state
//! machine that `start` on a terminal and the dashboard's `n` both walk;
//! `choose` holds its rules and turns the answers (or `start`'s flags)
//! into a start request.
//! `prepare` goes from a start request to a plan: it picks the agent and
//! its bottles, mints (or pins) the identity, and plans the bottle, writing
//! nothing, so the caller can show the preflight and ask first; `preflight`
//! adds the launch's own rows to it (the label, a project's definitions,
//! the backend's rows).
//! `lifecycle` then brings the bottle up, runs sessions and settles it;
//! `service` is what the CLI and the dashboard call, so both launch,
//! resume and stop the same way.

pub mod choose;
pub mod freeze;
pub mod ignore;
pub mod lifecycle;
mod preflight;
pub mod service;
pub mod steps;
#[cfg(test)]
pub mod testing;
pub mod trust;
pub mod verify;
pub mod work_tree;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::backend::bringup::{BringUpError, Prepared, SidecarImage};
use crate::backend::docker::engine::{self, EngineError};
use crate::backend::docker::images::{self, ImageError};
use crate::backend::files::FilesError;
use crate::backend::{BackendError, BackendKind};
use crate::dockerfile;
use crate::error::{Explain, UserError};
use crate::exec::ExecError;
use crate::gitgate::operator::{self, OperatorError};
use crate::manifest::{self, Agent, Dockerfile, ImageSource, Manifest, ManifestError};
use crate::plan::{self, EngineFacts, GateInput, PlanError, PlanInput};
use crate::provider::SessionSpec;
use crate::state::{self, Home, Metadata};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    pub agent: String,
    /// `--bottle`, in order; empty means the agent's own selection.
    pub bottles: Vec<String>,
    pub backend: BackendKind,
    pub label: Option<String>,
    /// `--color`; else the agent's, else one derived from the label.
    pub color: Option<String>,
    pub copy_cwd: bool,
    /// `--cwd-include-ignored`: the files git ignores are copied too.
    pub include_ignored: bool,
    pub cwd: PathBuf,
    /// The ARGS after `--`.
    pub extra_args: Vec<String>,
    /// Set by `resume`, to relaunch the same identity.
    pub identity: Option<String>,
}

/// What the host is like, gathered by the caller.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// Names of the host variables that are set.
    pub env_set: BTreeSet<String>,
    pub user: (u32, u32),
    pub engine: EngineFacts,
    pub sidecar_image: String,
    pub now: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    BringUp(#[from] BringUpError),
    #[error("--cwd: {0}")]
    Operator(#[from] OperatorError),
    #[error("bottle '{0}' is not running")]
    NotRunning(String),
    #[error("bottle '{0}' is already running")]
    AlreadyRunning(String),
    #[error("bottle '{0}' belongs to another bot-bottle home on this engine")]
    OtherHome(String),
    #[error("{path}: {reason}")]
    OwnDockerfile { path: PathBuf, reason: String },
    #[error("--color: unknown color '{0}'")]
    BadColor(String),
    #[error("--cwd: {0} is not a directory")]
    NoCwd(PathBuf),
    #[error("--cwd: {0}")]
    IgnoreFile(#[from] work_tree::IgnoreFileError),
    #[error(transparent)]
    Seal(Box<verify::CheckError>),
}

impl UserError for LaunchError {
    /// What the user asked for, or how the manifests and the machine are
    /// set up, is theirs to fix (2); the rest failed at run time (1).
    fn explain(&self) -> Explain<'_> {
        match self {
            LaunchError::Backend(e) => Explain::By(e),
            LaunchError::Manifest(e) => Explain::By(e),
            LaunchError::Plan(e) => Explain::By(e),
            LaunchError::State(e) => Explain::By(e),
            LaunchError::Image(e) => Explain::By(e),
            LaunchError::Exec(e) => Explain::By(e),
            LaunchError::Engine(e) => Explain::By(e),
            LaunchError::BringUp(e) => Explain::By(e),
            LaunchError::Seal(e) => Explain::By(e.as_ref()),
            // Writing a bottle's files fails at run time, whatever the cause.
            LaunchError::Files(_) => Explain::runtime(None),
            LaunchError::Operator(e) => Explain::runtime(e.hint()),
            LaunchError::NotRunning(_) => Explain::usage(
                "see `bot-bottle list active`; a stopped bottle with kept state can be resumed",
            ),
            LaunchError::AlreadyRunning(slug) => {
                Explain::usage(format!("attach to it: bot-bottle attach {slug}"))
            }
            LaunchError::OtherHome(_) => Explain::usage(
                "a home acts only on its own bottles: use the BOT_BOTTLE_HOME that made it (`bot-bottle list active --all-homes` shows each one's home)",
            ),
            LaunchError::OwnDockerfile { .. } => Explain::usage(
                "it came from an approved capability-block; fix or remove it to use the bottles' own image",
            ),
            LaunchError::BadColor(_) => Explain::usage(format!(
                "name one of: {} (or #rrggbb)",
                manifest::COLORS.join(", ")
            )),
            LaunchError::NoCwd(_) => {
                Explain::usage("name a directory that exists, or start without --cwd")
            }
            LaunchError::IgnoreFile(_) => Explain::usage(
                "fix that line of the folder's .bot-bottleignore (see the README's --cwd), or remove the file",
            ),
        }
    }
}

/// The bottles a launch runs in: `--bottle` if given, else the agent's
/// `bottle:`, else `default`.
pub fn selected_bottles(agent: &Agent, flags: &[String]) -> Vec<String> {
    if !flags.is_empty() {
        flags.to_vec()
    } else if !agent.bottles.is_empty() {
        agent.bottles.clone()
    } else {
        vec!["default".to_owned()]
    }
}

/// Goes from a start request to a plan, writing nothing: picks the agent
/// and its bottles, mints (or pins) the identity, reads what the plan
/// needs from the host (a bottle's own Dockerfile, the build context's
/// digest, the operator's repository, kept routes, the capability list),
/// plans the bottle and adds the launch's rows to its preflight.
pub fn prepare(
    manifest: &Manifest,
    home: &Home,
    req: &StartRequest,
    host: &HostFacts,
) -> Result<Prepared, LaunchError> {
    let agent = manifest.agent(&req.agent)?;
    let bottle_names = selected_bottles(agent, &req.bottles);
    let mut bottle = manifest::compose_bottles(manifest, &bottle_names)?;
    let label = req.label.clone().unwrap_or_else(|| agent.name.clone());
    if let Some(c) = req.color.as_deref().filter(|c| !manifest::is_color(c)) {
        return Err(LaunchError::BadColor(c.to_owned()));
    }
    if req.copy_cwd && !req.cwd.is_dir() {
        return Err(LaunchError::NoCwd(req.cwd.clone()));
    }
    let slug = match &req.identity {
        Some(identity) => state::Slug::parse(identity)?.into_string(),
        None => state::Slug::mint(&label).into_string(),
    };
    let state_dir = home.bottle_dir(&slug);
    // A capability-block approval may have left this bottle its own
    // Dockerfile.
    let own = home.bottle(&slug).own_dockerfile();
    if let Ok(contents) = std::fs::read_to_string(&own) {
        bottle.image = Some(own_image(&own, contents)?);
    }
    let digest = match context_dir(bottle.image.as_ref()) {
        Some(dir) => Some(images::context_digest(dir)?),
        None => None,
    };
    let copy_cwd = req.copy_cwd.then_some(req.cwd.as_path());
    // With --cwd in a git repository the bottle gets a git gate, and its
    // workspace is a clone.
    let repo = match copy_cwd {
        Some(cwd) => operator::find(cwd)?,
        None => None,
    };
    let audit_log = home.audit_log(&slug);
    let known_hosts = known_hosts();
    // What of the working tree the clone is given: what git does not ignore.
    let work_tree = repo
        .as_ref()
        .map(|repo| work_tree::survey(&repo.top, req.include_ignored));
    // Outside git, what the folder's .bot-bottleignore does not name.
    let cwd_tree = match (copy_cwd, &repo) {
        (Some(cwd), None) => Some(work_tree::survey_folder(cwd, req.include_ignored)?),
        _ => None,
    };
    let git_gate = repo
        .as_ref()
        .zip(work_tree.as_ref())
        .map(|(repo, work_tree)| GateInput {
            repo,
            audit_log: &audit_log,
            known_hosts: known_hosts.as_deref(),
            work_tree,
        });
    // A resumed bottle keeps the routes it lived with.
    let live_routes = match &req.identity {
        Some(_) => home.read_live_routes(&slug)?,
        None => None,
    };
    // What an agent's Dockerfile may read besides the bottle's own images:
    // the operator's list, from the home manifest alone.
    let base_images = manifest::capability_base_images(&home.root)?;
    // A spend budget is counted, by egress, at the home's prices.
    let prices = match bottle.limits.spend {
        Some(_) => manifest::prices(&home.root)?,
        None => Default::default(),
    };
    let plan = plan::plan(&PlanInput {
        slug: &slug,
        agent,
        bottle: &bottle,
        bottle_names: &bottle_names,
        state_dir: &state_dir,
        engine: &host.engine,
        sidecar_image: &host.sidecar_image,
        host_user: host.user,
        host_env_set: &host.env_set,
        copy_cwd,
        cwd_tree: cwd_tree.as_ref(),
        extra_args: &req.extra_args,
        context_digest: digest.as_deref(),
        live_routes: live_routes.as_ref(),
        git_gate,
        base_images: &base_images,
        backend: req.backend.name(),
        prices: &prices,
    })?;
    let metadata = metadata(agent, req, bottle_names, label, host.now, &plan.session);
    let mut prepared = Prepared {
        backend: req.backend,
        slug,
        metadata,
        plan,
    };
    let rows = &mut prepared.plan.preflight.rows;
    preflight::add_launch_rows(rows, manifest, agent, &prepared.metadata);
    // The backend says how it runs the bottle, in place of docker's rows.
    let backend_rows = req.backend.backend().preflight_lines(&prepared);
    preflight::put_rows(&mut prepared.plan.preflight.rows, backend_rows);
    Ok(prepared)
}

/// The operator's `~/.ssh/known_hosts`, when it is a file.
fn known_hosts() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".ssh/known_hosts"))
        .filter(|p| p.is_file())
}

/// The image of a bottle that a capability-block approval left its own
/// Dockerfile (at `path`, holding `contents`): an agent wrote it, so it is
/// checked again and built without network or context.
fn own_image(path: &Path, contents: String) -> Result<ImageSource, LaunchError> {
    dockerfile::check(&contents).map_err(|reason| LaunchError::OwnDockerfile {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(ImageSource::Dockerfile(Dockerfile {
        shown_as: path.display().to_string(),
        contents,
        context: None,
        from_agent: true,
    }))
}

/// The build context whose digest names the image: a Dockerfile's folder,
/// when it has one.
fn context_dir(image: Option<&ImageSource>) -> Option<&Path> {
    match image {
        Some(ImageSource::Dockerfile(Dockerfile {
            context: Some(dir), ..
        })) => Some(dir),
        _ => None,
    }
}

/// What the state folder keeps of a launch: the request's choices (its
/// color, else the agent's, else one derived from the label), when it
/// started, and how later sessions start (`attach` and `resume` do not
/// repeat the ARGS of `start`).
fn metadata(
    agent: &Agent,
    req: &StartRequest,
    bottles: Vec<String>,
    label: String,
    now: SystemTime,
    session: &SessionSpec,
) -> Metadata {
    Metadata {
        agent: agent.name.clone(),
        bottles,
        cwd: req.cwd.clone(),
        copy_cwd: req.copy_cwd,
        include_ignored: req.include_ignored,
        color: req
            .color
            .clone()
            .unwrap_or_else(|| choose::default_color(agent.color.as_deref(), &label)),
        label,
        backend: req.backend.name().to_owned(),
        started_at: humantime::format_rfc3339_seconds(now).to_string(),
        provider: agent.provider,
        session: SessionSpec {
            args: agent.startup_args.clone(),
            ..session.clone()
        },
    }
}

/// What the plan needs to know of this host. Without a sidecar image (a
/// dry run that cannot make one) the plan names it by the version; when
/// the engine cannot be asked (only in a dry run), runc is assumed, and the
/// warning saying so is returned.
pub fn host_facts(
    sidecar: Option<&SidecarImage>,
) -> Result<(HostFacts, Option<String>), EngineError> {
    let (engine, warning) = match engine::facts() {
        Ok(facts) => (facts, None),
        Err(EngineError::Exec(e)) if sidecar.is_none() => (
            EngineFacts::unknown(),
            Some(format!(
                "cannot ask the docker engine for its runtimes ({e}); showing runc"
            )),
        ),
        Err(e) => return Err(e),
    };
    let facts = HostFacts {
        env_set: std::env::vars_os()
            .filter(|(_, v)| !v.is_empty())
            .filter_map(|(k, _)| k.into_string().ok())
            .collect(),
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        user: unsafe { (libc::getuid(), libc::getgid()) },
        engine,
        sidecar_image: sidecar.map_or_else(
            || format!("bot-bottle-sidecar:{}", env!("CARGO_PKG_VERSION")),
            |s| s.tag.clone(),
        ),
        now: SystemTime::now(),
    };
    Ok((facts, warning))
}

/// A stable color for a label, so an agent keeps its color across runs.
pub fn color_for(label: &str) -> &'static str {
    const PALETTE: [&str; 8] = [
        "cyan", "green", "yellow", "magenta", "blue", "orange", "purple", "pink",
    ];
    let sum = label.bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    PALETTE[sum as usize % PALETTE.len()]
}

/// The preflight shown before launch (and by `--dry-run`).
pub fn preflight_text(prepared: &Prepared) -> String {
    format!(
        "bot-bottle: launch plan\n{}",
        prepared.plan.preflight.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::services::Sidecar;
    use crate::manifest::Sources;

    fn facts() -> HostFacts {
        HostFacts {
            env_set: BTreeSet::new(),
            user: (1000, 1000),
            engine: EngineFacts {
                runtime: crate::plan::Runtime::Runc,
                why: crate::plan::RuntimeWhy::NotRegistered,
                cpus: 2,
            },
            sidecar_image: "bot-bottle-sidecar:test".into(),
            now: SystemTime::UNIX_EPOCH,
        }
    }

    fn request(agent: &str, bottles: &[&str]) -> StartRequest {
        StartRequest {
            agent: agent.into(),
            bottles: bottles.iter().map(|s| s.to_string()).collect(),
            backend: BackendKind::Docker,
            label: None,
            color: None,
            copy_cwd: false,
            include_ignored: false,
            cwd: "/proj".into(),
            extra_args: vec![],
            identity: None,
        }
    }

    fn setup() -> (tempfile::TempDir, Manifest, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home {
            root: dir.path().join("home"),
        };
        let manifest = manifest::load(&Sources {
            home: home.root.clone(),
            cwd: dir.path().join("proj"),
            user_home: None,
        })
        .unwrap();
        (dir, manifest, home)
    }

    #[test]
    fn defaults_and_flags_select_bottles() {
        let (_dir, manifest, home) = setup();
        let p = prepare(&manifest, &home, &request("shell", &[]), &facts()).unwrap();
        assert_eq!(p.metadata.bottles, ["default"]);
        assert!(p.slug.starts_with("shell-"));
        assert_eq!(p.metadata.started_at, "1970-01-01T00:00:00Z");

        let p = prepare(
            &manifest,
            &home,
            &request("shell", &["default", "claude"]),
            &facts(),
        )
        .unwrap();
        assert_eq!(p.metadata.bottles, ["default", "claude"]);
        assert!(p.plan.preflight.render().contains("api.anthropic.com"));
    }

    #[test]
    fn resume_pins_the_identity_and_labels_shape_it() {
        let (_dir, manifest, home) = setup();
        let mut req = request("shell", &[]);
        req.identity = Some("shell-00000".into());
        assert_eq!(
            prepare(&manifest, &home, &req, &facts()).unwrap().slug,
            "shell-00000"
        );
        req.identity = None;
        req.label = Some("Fix Bug #12".into());
        assert!(
            prepare(&manifest, &home, &req, &facts())
                .unwrap()
                .slug
                .starts_with("fix-bug-12-")
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        let (_dir, manifest, home) = setup();
        let err = prepare(&manifest, &home, &request("shel", &[]), &facts()).unwrap_err();
        assert_eq!(err.to_string(), "unknown agent 'shel'");
        assert_eq!(err.hint().as_deref(), Some("did you mean 'shell'?"));
        let err = prepare(&manifest, &home, &request("shell", &["nope"]), &facts()).unwrap_err();
        assert_eq!(err.to_string(), "unknown bottle 'nope' in --bottle");
    }

    #[test]
    fn cwd_in_a_git_repository_gets_a_gate_and_elsewhere_a_copy() {
        let (dir, manifest, home) = setup();
        let proj = dir.path().join("proj");
        std::fs::create_dir_all(proj.join("sub")).unwrap();
        let mut req = request("shell", &[]);
        req.copy_cwd = true;
        req.cwd = proj.join("sub");
        let p = prepare(&manifest, &home, &req, &facts()).unwrap();
        assert!(p.plan.git_gate.is_none());
        assert_eq!(p.plan.copy_cwd.as_deref(), Some(req.cwd.as_path()));

        for d in [".git/objects", ".git/refs/heads"] {
            std::fs::create_dir_all(proj.join(d)).unwrap();
        }
        std::fs::write(proj.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        let p = prepare(&manifest, &home, &req, &facts()).unwrap();
        let gate = p.plan.git_gate.as_ref().unwrap();
        assert_eq!(gate.repo_top, proj);
        assert_eq!(gate.audit_log, home.audit_log(&p.slug));
        assert_eq!(p.plan.copy_cwd, None);
        assert!(
            p.plan
                .sidecars
                .iter()
                .any(|s| s.sidecar == Sidecar::GitGate)
        );
        assert!(p.metadata.copy_cwd, "resume finds the repository again");
    }

    #[test]
    fn an_own_dockerfile_is_checked_and_built_without_network_or_context() {
        let path = Path::new("/h/state/b/Dockerfile");
        let Ok(ImageSource::Dockerfile(d)) = own_image(path, "FROM x\n".into()) else {
            panic!("a plain Dockerfile is the bottle's image");
        };
        assert_eq!(
            (
                d.shown_as.as_str(),
                d.contents.as_str(),
                d.context,
                d.from_agent
            ),
            ("/h/state/b/Dockerfile", "FROM x\n", None, true)
        );
        let err = own_image(path, "# syntax=x\nFROM x\n".into()).unwrap_err();
        assert!(
            matches!(&err, LaunchError::OwnDockerfile { path: p, reason }
                if p == path && reason.starts_with("line 1:")),
            "{err}"
        );
    }

    #[test]
    fn only_a_dockerfile_with_a_folder_has_a_context() {
        let dockerfile = |context: Option<&str>| {
            ImageSource::Dockerfile(Dockerfile {
                shown_as: "Dockerfile".into(),
                contents: "FROM x\n".into(),
                context: context.map(PathBuf::from),
                from_agent: false,
            })
        };
        let cases = [
            (None, None),
            (Some(ImageSource::Image("debian".into())), None),
            (Some(dockerfile(None)), None),
            (
                Some(dockerfile(Some("/p/docker"))),
                Some(Path::new("/p/docker")),
            ),
        ];
        for (image, want) in cases {
            assert_eq!(context_dir(image.as_ref()), want, "{image:?}");
        }
    }

    #[test]
    fn metadata_takes_the_color_asked_else_the_agent_s_else_the_label_s() {
        let (_dir, manifest, _home) = setup();
        let mut agent = manifest.agent("shell").unwrap().clone();
        agent.startup_args = vec!["--verbose".into()];
        let session = SessionSpec {
            args: vec!["--verbose".into(), "fix it".into()],
            model: Some("m".into()),
            ..SessionSpec::default()
        };
        let cases = [
            (Some("red"), Some("blue"), "red"),
            (None, Some("blue"), "blue"),
            (None, None, color_for("Fix")),
        ];
        for (asked, agents, want) in cases {
            let mut req = request("shell", &[]);
            req.color = asked.map(str::to_owned);
            agent.color = agents.map(str::to_owned);
            let names = vec!["default".to_owned()];
            let m = metadata(
                &agent,
                &req,
                names,
                "Fix".into(),
                SystemTime::UNIX_EPOCH,
                &session,
            );
            assert_eq!(m.color, want);
            assert_eq!((m.label.as_str(), m.backend.as_str()), ("Fix", "docker"));
            assert_eq!(m.started_at, "1970-01-01T00:00:00Z");
            assert_eq!(
                m.session.args,
                ["--verbose"],
                "later sessions drop the ARGS"
            );
            assert_eq!(m.session.model.as_deref(), Some("m"));
        }
    }
}
