//! The smolmachines backend: the agent runs in a microVM that `smolvm`
//! makes; its sidecars (egress, supervise, git-gate) run on docker as a
//! compose project of their own, the bundle.
//!
//! ```text
//! up:    images (docker) → the bottle key (`keyed`) → bundle up (the plan
//!        without its agent, each sidecar requiring the key; waits for
//!        the sidecars) → egress's resolver told their addresses → the
//!        agent's image, run as root (sessions switch to the agent with
//!        runuser), saved as an archive → machine create (egress allowed
//!        only to the sidecars' addresses on smolvm's virtio-net backend,
//!        DNS only to egress's resolver, the agent's config folder mounted
//!        read-only, placeholders only in its environment, the key only
//!        by file) → start → as root: /etc/hosts, the CA, the workdir →
//!        the agent's start script, as the agent → ready
//! down:  machine stop, delete → bundle down
//! ```
//!
//! The machine is `bot-bottle-<slug>`, labelled with the slug and agent so
//! `ls --json` finds bot-bottle's own. Sessions are `machine exec … --
//! runuser -u agent -- ARGV`.

pub mod argv;
pub mod bundle;
pub mod guest;
pub mod keyed;
pub mod machines;

use std::path::{Path, PathBuf};

use self::argv::As;
use self::guest::{run_quiet, sh, smolvm_to};
use crate::backend::bringup::{BringUpError, Context, Prepared, SidecarImage, readiness};
use crate::backend::docker::compose_file::AgentPlace;
use crate::backend::docker::{self, compose, enumerate, images};
use crate::backend::session::{
    CopyWatch, Io, PROBE_TIMEOUT, Selection, Snapshot, snapshot_timeout,
};
use crate::backend::sidecars::Sidecars;
use crate::backend::{
    ActiveBottle, AgentRuntime, Backend, BackendKind, CleanupPart, Homes, Unavailable,
};
use crate::contract::paths::{AGENT_CONFIG_DIR, WORKDIR, agent_file, agent_files};
use crate::contract::services::{EGRESS, GIT_GATE, SUPERVISE};
use crate::egress::client_key::ClientKey;
use crate::exec::{ExecError, Program, SMOLVM, Sink};
use crate::state::Home;

pub struct Smolmachines;

/// The machine of a bottle: named as its compose project is.
pub fn machine_name(slug: &str) -> String {
    crate::contract::services::project(slug)
}

impl Backend for Smolmachines {
    fn available(&self) -> Result<(), Unavailable> {
        if SMOLVM.find().is_err() {
            return Err(Unavailable {
                reason: format!(
                    "smolvm is not installed ('{}' is not on PATH; {} can name it)",
                    SMOLVM.path(),
                    SMOLVM.env
                ),
                fix: format!("{}; or use --backend docker", SMOLVM.install_hint),
            });
        }
        docker::docker_available().map_err(|u| Unavailable {
            reason: format!("its sidecars run on docker, and {}", u.reason),
            fix: u.fix,
        })
    }

    fn launch_checks(&self) -> Result<SidecarImage, BringUpError> {
        docker::Docker.launch_checks()
    }

    fn preflight_lines(&self, prepared: &Prepared) -> Vec<(String, String)> {
        let mut reach = vec![EGRESS, SUPERVISE];
        if prepared.plan.git_gate.is_some() {
            reach.push(GIT_GATE);
        }
        vec![
            docker::networks_line(),
            (
                "backend".into(),
                "smolmachines (the agent in a microVM by smolvm; its sidecars on docker)".into(),
            ),
            (
                "runtime".into(),
                format!("microVM {}", machine_name(&prepared.slug)),
            ),
            (
                "network".into(),
                format!(
                    "the microVM's egress reaches only {} (smolvm --allow-cidr of their addresses, virtio-net), which serve it alone (the bottle key); its DNS answers only their names (--dns at egress)",
                    reach.join(", ")
                ),
            ),
        ]
    }

    fn up(
        &self,
        ctx: &Context,
        prepared: &Prepared,
        sidecar: &SidecarImage,
    ) -> Result<(), BringUpError> {
        let slug = &prepared.slug;
        let name = machine_name(slug);
        let dir = ctx.home.bottle(slug);
        mountable(&dir.agent_dir())?;
        docker::build_images(ctx, prepared, sidecar)?;
        let bundle = bundle_up(ctx, prepared)?;
        let tar = {
            let _lock = docker::images_lock(ctx.home)?;
            let vm_image = images::ensure_vm_image(&prepared.plan.agent.image.tag, ctx.sink)?;
            image_archive(ctx.home, &vm_image, ctx.sink)?
        };
        ctx.check()?;
        let spec = bundle::machine_spec(&bundle::MachineInput {
            slug,
            home_id: &bundle.home_id,
            agent: &prepared.metadata.agent,
            plan: &prepared.plan,
            agent_dir: &dir.agent_dir(),
            image_tar: &tar,
            sidecars: &bundle.hosts,
            env: &bundle.env.plain,
            secret_files: &bundle.secret_files,
        });
        ctx.sink
            .line(&format!("bot-bottle: creating the microVM {name}"));
        smolvm_to(&argv::create(&spec), ctx.sink)
            .map_err(|e| failed(slug, "smolvm machine create", &e))?;
        smolvm_to(&argv::start(&name), ctx.sink)
            .map_err(|e| failed(slug, "smolvm machine start", &e))?;
        ctx.check()?;
        for (step, args) in guest_steps(&name, &bundle.hosts) {
            run_quiet(&args).map_err(|e| failed(slug, step, &e))?;
        }
        ctx.check()
    }

    fn down(&self, slug: &str, sink: &Sink) -> Result<(), ExecError> {
        let name = machine_name(slug);
        if let Some(m) = machines::list()?.into_iter().find(|m| m.name == name) {
            if m.running {
                smolvm_to(&argv::stop(&name), sink)?;
            }
            smolvm_to(&argv::delete(&name), sink)?;
        }
        compose::down(slug, sink)
    }

    fn logs(&self, slug: &str) -> String {
        compose::logs(slug)
    }

    fn is_running(&self, slug: &str) -> Result<bool, ExecError> {
        let name = machine_name(slug);
        Ok(machines::list()?
            .iter()
            .any(|m| m.name == name && m.running))
    }

    fn enumerate(&self, home: &Home, homes: &Homes) -> Result<Vec<ActiveBottle>, ExecError> {
        let running: Vec<machines::Machine> = machines::seen(home, homes)?
            .into_iter()
            .filter(|m| m.running)
            .collect();
        if running.is_empty() {
            return Ok(Vec::new());
        }
        let containers = enumerate::seen_containers(home, homes)?;
        let prices = crate::backend::active::prices(home);
        Ok(running
            .iter()
            .map(|m| active(m, &containers, home, homes, &prices))
            .collect())
    }

    fn cleanup_plan(&self, home: &Home, ours: &Homes) -> Result<Box<dyn CleanupPart>, ExecError> {
        Ok(Box::new(machines::MachineCleanup {
            machines: machines::seen(home, ours)?,
        }))
    }

    fn events_argv(&self) -> Option<(Program, Vec<String>)> {
        // smolvm has no event stream; its bundle's containers come and go
        // with the machine, and docker's events show those.
        None
    }

    fn agent(&self) -> &dyn AgentRuntime {
        &MicroVm
    }

    fn sidecars(&self) -> &dyn Sidecars {
        // The bundle runs on docker.
        &docker::DockerSidecars
    }
}

/// The agent in a microVM, reached with `smolvm machine exec`.
pub struct MicroVm;

impl AgentRuntime for MicroVm {
    fn exec_command(
        &self,
        slug: &str,
        argv: &[String],
        io: Io,
        term: Option<&str>,
    ) -> (Program, Vec<String>) {
        let args = argv::exec(&machine_name(slug), argv, io, term, WORKDIR, As::Agent);
        (SMOLVM, args)
    }

    fn run_script(&self, slug: &str, script: &str) -> Result<(), ExecError> {
        let (_, args) = self.exec_command(slug, &sh(script), Io::Detached, None);
        run_quiet(&args)
    }

    fn probe(&self, slug: &str, script: &str) -> Result<String, ExecError> {
        let args = argv::exec(
            &machine_name(slug),
            &["bash".into(), "-s".into()],
            Io::Interactive { tty: false },
            None,
            WORKDIR,
            As::Root,
        );
        let mut cmd = SMOLVM.command(args);
        let out = SMOLVM.output_fed(&mut cmd, script.as_bytes().to_vec(), PROBE_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn copy_in(
        &self,
        slug: &str,
        from: &Path,
        dest: &str,
        what: &Selection,
        watch: &CopyWatch,
    ) -> Result<(), ExecError> {
        guest::copy_in(&machine_name(slug), from, dest, what, watch)
    }

    fn snapshot(
        &self,
        slug: &str,
        dir: &str,
        to: &Path,
        limit: u64,
    ) -> Result<Snapshot, ExecError> {
        guest::snapshot(&machine_name(slug), dir, to, limit, snapshot_timeout())
    }

    fn restore(&self, slug: &str, from: &Path, into: &str) -> Result<(), ExecError> {
        guest::restore(&machine_name(slug), from, into)
    }

    /// smolvm has no pause: every process of the agent's user is stopped
    /// (SIGSTOP, which it cannot catch) or continued, from a shell of that
    /// user, which `kill -1` spares; the machines at once.
    fn set_paused(&self, slugs: &[&str], paused: bool) -> Result<(), ExecError> {
        let script = if paused {
            "kill -STOP -1"
        } else {
            "kill -CONT -1"
        };
        std::thread::scope(|s| {
            let runs: Vec<_> = slugs
                .iter()
                .map(|slug| (slug, s.spawn(move || self.run_script(slug, script))))
                .collect();
            runs.into_iter()
                .map(|(slug, r)| {
                    r.join().unwrap_or_else(|_| {
                        Err(ExecError::Failed {
                            command: format!("{script} in {}", machine_name(slug)),
                            status: "its thread panicked".into(),
                            stderr: String::new(),
                        })
                    })
                })
                .collect::<Result<Vec<()>, ExecError>>()
                .map(|_| ())
        })
    }
}

/// A running machine as the views show it: its sidecars from the bundle's
/// containers, the rest from its metadata.
fn active(
    m: &machines::Machine,
    containers: &[enumerate::Container],
    home: &Home,
    homes: &Homes,
    prices: &crate::pricing::Prices,
) -> ActiveBottle {
    let ours = homes.owns(m.home.as_deref(), || home.has_bottle(&m.slug));
    let meta = ours.then(|| home.read_metadata(&m.slug).ok()).flatten();
    let mut services: Vec<String> = containers
        .iter()
        .filter(|c| c.slug == m.slug && c.up && c.role != "agent")
        .map(|c| c.role.clone())
        .collect();
    services.sort();
    let mut bottle = ActiveBottle::new(
        BackendKind::Smolmachines.name(),
        &m.slug,
        meta.as_ref(),
        (None, None),
        services,
    );
    if ours {
        bottle.read_state(home, prices);
    } else {
        bottle.other_home = Some(m.home.clone().unwrap_or_default());
    }
    bottle
}

/// smolvm's `-v HOST:GUEST:ro` has no other syntax: a host path with ':'
/// would be cut there.
fn mountable(path: &Path) -> Result<(), BringUpError> {
    match path.as_os_str().as_encoded_bytes().contains(&b':') {
        true => Err(BringUpError::Unmountable {
            path: path.to_path_buf(),
        }),
        false => Ok(()),
    }
}

/// A bottle's bring-up failing at `step`.
fn failed(slug: &str, step: &str, e: &dyn std::fmt::Display) -> BringUpError {
    BringUpError::Failed {
        slug: slug.to_owned(),
        reason: format!("{step}: {e}"),
    }
}

/// What the machine is made with once its bundle is up.
struct Bundle {
    /// The identity of the home that brings it up.
    home_id: String,
    /// The agent's environment, split around the bottle key.
    env: keyed::AgentEnv,
    /// `(variable, file)` of what carries the bottle key.
    secret_files: Vec<(String, PathBuf)>,
    /// `(service, address)` of each sidecar.
    hosts: Vec<(String, String)>,
}

/// The sidecars alone, serving the microVM through the host: the bottle
/// key written before they start (they require it), the bundle up and
/// waited for, then egress's resolver told their addresses.
fn bundle_up(ctx: &Context, prepared: &Prepared) -> Result<Bundle, BringUpError> {
    let slug = &prepared.slug;
    let dir = ctx.home.bottle(slug);
    let (home_id, bundle_file) = docker::write_compose(ctx, &prepared.plan, AgentPlace::Elsewhere)?;
    let services: Vec<String> = prepared
        .plan
        .sidecars
        .iter()
        .map(|s| s.sidecar.name().to_owned())
        .collect();
    // The bottle key, before the sidecars start: they require it.
    let key = ClientKey::generate();
    let env = keyed::agent_env(&prepared.plan.agent.env, &key);
    let agent_files = keyed::agent_files(&prepared.plan.files);
    let secret_files = keyed::write(&dir, &key, &services, &env.keyed, &agent_files)?;
    ctx.sink
        .line("bot-bottle: starting the sidecars (the bundle)");
    if let Err(e) = compose::up_with(slug, &bundle_file, ctx.sink, bundle_probes(&services)) {
        ctx.check()?;
        ctx.sink.line(&compose::logs(slug));
        return Err(failed(slug, "the sidecars did not come up", &e));
    }
    ctx.check()?;
    let hosts = sidecar_addresses(slug, &services)
        .map_err(|e| failed(slug, "the sidecars' addresses", &e))?;
    crate::state::write_atomic(
        &dir.egress_dns_hosts(),
        crate::egress::resolver::table_json(&hosts).as_bytes(),
        0o644,
    )?;
    Ok(Bundle {
        home_id,
        env,
        secret_files,
        hosts,
    })
}

/// The readiness probes of the bundle's `services` that have one, in
/// `readiness` order.
fn bundle_probes(services: &[String]) -> Vec<(&'static str, Vec<String>)> {
    readiness()
        .into_iter()
        .filter(|(service, _)| services.iter().any(|s| s == service))
        .collect()
}

/// What readies the started machine `name`, in order, each as the step
/// its failure names and smolvm's argv: as root, the sidecars in
/// /etc/hosts, the CA and the workdir; the agent's start script, in the
/// background, as the agent; then, as the agent, the wait until it is
/// ready.
fn guest_steps(name: &str, hosts: &[(String, String)]) -> [(&'static str, Vec<String>); 3] {
    let setup = bundle::setup_script(hosts, AGENT_CONFIG_DIR, WORKDIR);
    let start = vec!["sh".into(), agent_file(agent_files::START_SCRIPT)];
    let ready = readiness()
        .into_iter()
        .find(|(service, _)| *service == "agent")
        .map(|(_, argv)| argv)
        .unwrap_or_default();
    [
        (
            "readying the microVM",
            argv::exec(name, &sh(&setup), Io::Detached, None, "/", As::Root),
        ),
        (
            "starting the agent",
            argv::exec_detached(name, &start, WORKDIR),
        ),
        (
            "the agent did not get ready",
            argv::exec(name, &ready, Io::Detached, None, "/", As::Agent),
        ),
    ]
}

/// Each bundle service's address on the bottle's internal network, as
/// `(service, address)`.
fn sidecar_addresses(slug: &str, services: &[String]) -> Result<Vec<(String, String)>, String> {
    let network = crate::backend::names::network(slug, "internal");
    let mut out = Vec::new();
    for service in services {
        let container = crate::contract::services::container(slug, service);
        let ip = enumerate::address_on(&container, &network).map_err(|e| e.to_string())?;
        if !bundle::is_ipv4(&ip) {
            return Err(format!("{container} has no address on {network} ({ip:?})"));
        }
        out.push((service.clone(), ip));
    }
    Ok(out)
}

/// The agent's image as a `docker save` archive, which smolvm boots from;
/// kept under `$BOT_BOTTLE_HOME/cache/smolvm/` by tag (tags are digests).
fn image_archive(home: &Home, tag: &str, sink: &Sink) -> Result<PathBuf, BringUpError> {
    let dir = home.smolvm_cache();
    let file: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{file}.tar"));
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir).map_err(|e| crate::state::StateError::Io {
        path: dir.clone(),
        source: e,
    })?;
    sink.line(&format!("bot-bottle: saving {tag} for smolvm"));
    let partial = dir.join(format!(".{file}.{}.partial", std::process::id()));
    let saved = images::save(tag, &partial);
    if let Err(e) = saved {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    std::fs::rename(&partial, &path).map_err(|e| crate::state::StateError::Io {
        path: path.clone(),
        source: e,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(probes: &[(&'static str, Vec<String>)]) -> Vec<&'static str> {
        probes.iter().map(|(service, _)| *service).collect()
    }

    #[test]
    fn the_bundle_waits_for_its_sidecars_that_have_a_probe() {
        let cases: [(&[&str], &[&str]); 5] = [
            (&[], &[]),
            (&[EGRESS], &[EGRESS]),
            (&[SUPERVISE, GIT_GATE], &[SUPERVISE]),
            (&[GIT_GATE, SUPERVISE, EGRESS], &[EGRESS, SUPERVISE]),
            (&[EGRESS, SUPERVISE, GIT_GATE], &[EGRESS, SUPERVISE]),
        ];
        for (services, want) in cases {
            let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
            let probes = bundle_probes(&services);
            assert_eq!(names(&probes), want, "{services:?}");
            for (service, argv) in probes {
                let expected = readiness()
                    .into_iter()
                    .find(|(s, _)| *s == service)
                    .map(|(_, argv)| argv);
                assert_eq!(Some(argv), expected, "{service}");
            }
        }
    }

    #[test]
    fn a_started_machine_is_readied_then_started_then_waited_for() {
        let hosts = vec![
            (EGRESS.to_owned(), "10.0.0.2".to_owned()),
            (SUPERVISE.to_owned(), "10.0.0.3".to_owned()),
        ];
        let steps = guest_steps("bot-bottle-x", &hosts);
        let labels: Vec<&str> = steps.iter().map(|(step, _)| *step).collect();
        assert_eq!(
            labels,
            [
                "readying the microVM",
                "starting the agent",
                "the agent did not get ready"
            ]
        );
        let runuser = |args: &[String]| args.iter().any(|a| a == "runuser");
        let [(_, setup), (_, start), (_, ready)] = &steps;

        // As root, at /, a script naming each sidecar.
        assert!(!runuser(setup), "{setup:?}");
        assert_eq!(setup[..4], ["machine", "exec", "--name", "bot-bottle-x"]);
        let script = setup.last().unwrap();
        assert!(script.contains("10.0.0.2 egress"), "{script}");
        assert!(script.contains("10.0.0.3 supervise"), "{script}");
        assert_eq!(
            *setup,
            argv::exec(
                "bot-bottle-x",
                &sh(&bundle::setup_script(&hosts, AGENT_CONFIG_DIR, WORKDIR)),
                Io::Detached,
                None,
                "/",
                As::Root
            )
        );

        // In the background, as the agent, its start script in the workdir.
        assert!(
            runuser(start) && start.iter().any(|a| a == "-d"),
            "{start:?}"
        );
        assert_eq!(
            start[start.len() - 2..],
            ["sh".to_owned(), agent_file(agent_files::START_SCRIPT)]
        );
        assert!(start.windows(2).any(|w| w == ["-w", WORKDIR]), "{start:?}");

        // As the agent, the agent's readiness wait.
        let wait = readiness()
            .into_iter()
            .find(|(service, _)| *service == "agent")
            .map(|(_, argv)| argv)
            .unwrap();
        assert!(runuser(ready), "{ready:?}");
        assert!(ready.ends_with(&wait), "{ready:?}");
        assert_eq!(
            *ready,
            argv::exec("bot-bottle-x", &wait, Io::Detached, None, "/", As::Agent)
        );
    }

    #[test]
    fn a_folder_whose_path_holds_a_colon_is_refused_before_anything_runs() {
        use crate::error::UserError;
        assert!(mountable(Path::new("/home/u/.bot-bottle/state/a-1/agent")).is_ok());
        let e = mountable(Path::new("/home/u/a:b/state/a-1/agent")).unwrap_err();
        assert!(
            e.to_string().starts_with("/home/u/a:b/state/a-1/agent: "),
            "{e}"
        );
        assert_eq!(e.kind(), crate::error::ExitKind::Usage);
        assert!(e.hint().unwrap().contains("BOT_BOTTLE_HOME"));
    }
}
