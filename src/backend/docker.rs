//! The docker backend: one compose project per bottle.

pub mod cleanup;
pub mod cli_fetch;
pub mod compose;
pub mod compose_file;
pub mod engine;
pub mod enumerate;
pub mod gate;
pub mod images;
pub mod neighbours;
pub mod seal;
pub mod session;
pub mod subnets;

use std::path::{Path, PathBuf};

use crate::backend::bringup::{BringUpError, Context, EngineFailure, Prepared, SidecarImage};
use crate::backend::labels::{Homes, LABEL_SLUG};
use crate::backend::session::{CopyWatch, Io, Selection, Snapshot};
use crate::backend::sidecars::Sidecars;
use crate::backend::{ActiveBottle, AgentRuntime, Backend, CleanupPart, Unavailable};
use crate::exec::{DOCKER, ExecError, Program, Sink};
use crate::plan::{BottlePlan, Network};
use crate::state::Home;
use crate::verify::Neighbour;
use compose_file::{AgentPlace, Target};
use seal::Sealed;

/// Docker's own errors reach `BringUpError` as the engine's.
macro_rules! engine_failure {
    ($($error:ty),*) => {$(
        impl From<$error> for BringUpError {
            fn from(e: $error) -> BringUpError {
                BringUpError::Engine(EngineFailure::new(e))
            }
        }
    )*};
}

engine_failure!(
    compose::ComposeError,
    images::ImageError,
    seal::SealError,
    subnets::SubnetError
);

/// One compose project per bottle: the agent and its sidecars are
/// containers; the agent's only network is internal.
pub struct Docker;

/// The sidecars of bottles whose sidecars run on docker: reached with
/// `docker kill` and `docker exec`, their images on docker's engine.
pub struct DockerSidecars;

impl Sidecars for DockerSidecars {
    fn wait_for_gate(&self, slug: &str) -> Result<(), ExecError> {
        session::wait_for_gate(slug)
    }

    fn reload_egress(&self, slugs: &[&str]) -> Result<(), ExecError> {
        session::reload_egress(slugs)
    }

    fn image_id(&self, reference: &str) -> Result<Option<String>, ExecError> {
        images::image_id(reference)
    }

    fn pin_image(&self, id: &str) -> Result<String, images::ImageError> {
        images::pin(id)
    }

    fn neighbours(&self, slug: &str, most: usize) -> Result<Vec<Neighbour>, ExecError> {
        neighbours::neighbours(slug, most)
    }
}

/// Whether docker itself is on this host, and why not.
pub fn docker_available() -> Result<(), Unavailable> {
    DOCKER.find().map(|_| ()).map_err(|e| Unavailable {
        reason: e.to_string(),
        fix: "install Docker Engine (Debian: apt install docker.io), then run scripts/setup for compose".into(),
    })
}

impl Backend for Docker {
    fn available(&self) -> Result<(), Unavailable> {
        docker_available()
    }

    fn launch_checks(&self) -> Result<SidecarImage, BringUpError> {
        compose::check()?;
        subnets::pool(std::env::var(subnets::POOL_ENV).ok().as_deref())?;
        Ok(images::sidecar_image()?)
    }

    fn preflight_lines(&self, _prepared: &Prepared) -> Vec<(String, String)> {
        vec![networks_line()]
    }

    fn up(
        &self,
        ctx: &Context,
        prepared: &Prepared,
        sidecar: &SidecarImage,
    ) -> Result<(), BringUpError> {
        let slug = &prepared.slug;
        build_images(ctx, prepared, sidecar)?;
        let (home_id, compose_file) = write_compose(ctx, &prepared.plan, AgentPlace::Container)?;
        bring_up(&Compose {
            ctx,
            slug,
            file: &compose_file,
            sidecar: &sidecar.tag,
            home_id: &home_id,
        })?;
        ctx.check()
    }

    fn down(&self, slug: &str, sink: &Sink) -> Result<(), ExecError> {
        compose::down(slug, sink)
    }

    fn logs(&self, slug: &str) -> String {
        compose::logs(slug)
    }

    fn is_running(&self, slug: &str) -> Result<bool, ExecError> {
        session::is_running(slug)
    }

    fn enumerate(&self, home: &Home, homes: &Homes) -> Result<Vec<ActiveBottle>, ExecError> {
        enumerate::active(home, homes)
    }

    fn cleanup_plan(&self, home: &Home, ours: &Homes) -> Result<Box<dyn CleanupPart>, ExecError> {
        let (containers, networks) = enumerate::seen(home, ours)?;
        Ok(Box::new(cleanup::plan(&containers, &networks)))
    }

    fn events_argv(&self) -> Option<(Program, Vec<String>)> {
        Some((
            DOCKER,
            // A bottle's containers coming and going, and their health;
            // not the health checks' own execs, which would wake the
            // dashboard every few seconds for nothing.
            [
                "events",
                "--filter",
                &format!("label={LABEL_SLUG}"),
                "--filter",
                "type=container",
                "--filter",
                "event=start",
                "--filter",
                "event=die",
                // Frozen, thawed, asleep or woken by another process.
                "--filter",
                "event=pause",
                "--filter",
                "event=unpause",
                "--filter",
                "event=destroy",
                "--filter",
                "event=health_status",
                "--format",
                "{{.Status}}",
            ]
            .map(String::from)
            .to_vec(),
        ))
    }

    fn agent(&self) -> &dyn AgentRuntime {
        &Container
    }

    fn sidecars(&self) -> &dyn Sidecars {
        &DockerSidecars
    }
}

/// The agent in a container of its compose project, reached with
/// `docker exec` and `docker cp`.
pub struct Container;

impl AgentRuntime for Container {
    fn exec_command(
        &self,
        slug: &str,
        argv: &[String],
        io: Io,
        term: Option<&str>,
    ) -> (Program, Vec<String>) {
        (DOCKER, session::exec_args(slug, argv, io, term))
    }

    fn run_script(&self, slug: &str, script: &str) -> Result<(), ExecError> {
        session::run_script(slug, script)
    }

    fn copy_in(
        &self,
        slug: &str,
        from: &Path,
        dest: &str,
        what: &Selection,
        watch: &CopyWatch,
    ) -> Result<(), ExecError> {
        session::copy_in(slug, from, dest, what, watch)
    }

    fn snapshot(
        &self,
        slug: &str,
        dir: &str,
        to: &Path,
        limit: u64,
    ) -> Result<Snapshot, ExecError> {
        session::snapshot(slug, dir, to, limit)
    }

    fn restore(&self, slug: &str, from: &Path, into: &str) -> Result<(), ExecError> {
        session::restore(slug, from, into)
    }

    fn set_paused(&self, slugs: &[&str], paused: bool) -> Result<(), ExecError> {
        session::pause_agents(slugs, paused)
    }

    fn probe(&self, slug: &str, script: &str) -> Result<String, ExecError> {
        session::probe(slug, script)
    }
}

/// The steps of a bottle's bring-up, which `bring_up` takes in order.
trait BringUp {
    /// Its networks and containers, made; nothing started.
    fn create(&self) -> Result<(), BringUpError>;
    /// Its internal bridge sealed (see `seal`).
    fn seal(&self) -> Result<(), BringUpError>;
    /// Its services started, and ready.
    fn start(&self) -> Result<(), BringUpError>;
}

/// Nothing in the bottle runs before its internal bridge is sealed: not
/// the agent, and not an approved image's ENTRYPOINT, which runs first.
fn bring_up(steps: &impl BringUp) -> Result<(), BringUpError> {
    steps.create()?;
    steps.seal()?;
    steps.start()
}

/// `BringUp` on the engine, with docker compose.
struct Compose<'a> {
    ctx: &'a Context<'a>,
    slug: &'a str,
    file: &'a Path,
    sidecar: &'a str,
    home_id: &'a str,
}

impl Compose<'_> {
    /// A failed compose step, with what the services logged.
    fn failed(&self, e: ExecError) -> BringUpError {
        if let Err(stopped) = self.ctx.check() {
            return stopped;
        }
        self.ctx.sink.line(&compose::logs(self.slug));
        BringUpError::Failed {
            slug: self.slug.to_owned(),
            reason: e.to_string(),
        }
    }
}

impl BringUp for Compose<'_> {
    fn create(&self) -> Result<(), BringUpError> {
        compose::create(self.slug, self.file, self.ctx.sink).map_err(|e| self.failed(e))
    }

    fn seal(&self) -> Result<(), BringUpError> {
        match seal::seal(self.slug, self.home_id, self.sidecar)? {
            Sealed::Yes => {}
            Sealed::Loose { all } => self.ctx.sink.line(&format!(
                "bot-bottle: warning: this host's net.ipv4.conf.all.rp_filter is {}: UDP broadcasts from the bottle reach host services listening on every address; `sysctl -w net.ipv4.conf.all.rp_filter=1` stops that",
                all.trim()
            )),
        }
        Ok(())
    }

    fn start(&self) -> Result<(), BringUpError> {
        compose::up(self.slug, self.file, self.ctx.sink).map_err(|e| self.failed(e))
    }
}

/// The preflight's line for where the bottle's networks come from.
pub fn networks_line() -> (String, String) {
    let value = match subnets::pool(std::env::var(subnets::POOL_ENV).ok().as_deref()) {
        Ok(pool) => format!(
            "a /{} each from {pool} ({}), outside the engine's own pools",
            subnets::PREFIX,
            subnets::POOL_ENV
        ),
        Err(e) => e.to_string(),
    };
    ("subnets".into(), value)
}

/// Held while a bottle finds or builds its images, so bottles starting at
/// once build each image once: the others wait, then find it.
pub fn images_lock(home: &Home) -> Result<std::fs::File, crate::state::StateError> {
    crate::state::lock_file(&home.images_lock())
}

/// Writes the bottle's compose document, its agent at `place`: its
/// subnets chosen under their lock, everything labelled with this home's
/// identity. Returns that identity and the file.
pub fn write_compose(
    ctx: &Context,
    plan: &BottlePlan,
    place: AgentPlace,
) -> Result<(String, PathBuf), BringUpError> {
    let dir = ctx.home.bottle(&plan.slug);
    let home_id = ctx.home.id()?;
    subnets::assign(ctx.home, &dir, Network::ALL.len(), |subnets| {
        let target = Target {
            place,
            home_id: &home_id,
            subnets,
        };
        compose_file::render(plan, target)
    })?;
    Ok((home_id, dir.compose_file()))
}

/// The images a bottle's containers run, built or found: the sidecar, the
/// git gate's when it has one, the agent's. Shared with the backends whose
/// sidecars run on docker.
pub fn build_images(
    ctx: &Context,
    prepared: &Prepared,
    sidecar: &SidecarImage,
) -> Result<(), BringUpError> {
    let _lock = images_lock(ctx.home)?;
    images::ensure_sidecar_image(sidecar, ctx.sink)?;
    ctx.check()?;
    if prepared.plan.git_gate.is_some() {
        images::ensure_gate_image(sidecar, ctx.sink)?;
        ctx.check()?;
    }
    images::ensure_agent_image(&prepared.plan.agent.image, ctx.sink)?;
    ctx.check()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Records each step; the one named in `fail` fails.
    struct Steps {
        done: RefCell<Vec<&'static str>>,
        fail: &'static str,
    }

    impl Steps {
        fn step(&self, name: &'static str) -> Result<(), BringUpError> {
            self.done.borrow_mut().push(name);
            if name == self.fail {
                return Err(BringUpError::Failed {
                    slug: "dev-aaaaa".into(),
                    reason: format!("{name} failed"),
                });
            }
            Ok(())
        }
    }

    impl BringUp for Steps {
        fn create(&self) -> Result<(), BringUpError> {
            self.step("create")
        }
        fn seal(&self) -> Result<(), BringUpError> {
            self.step("seal")
        }
        fn start(&self) -> Result<(), BringUpError> {
            self.step("start")
        }
    }

    #[test]
    fn the_bridge_is_sealed_before_anything_in_the_bottle_starts() {
        let cases: &[(&str, &[&str])] = &[
            ("", &["create", "seal", "start"]),
            ("create", &["create"]),
            // A bridge that could not be sealed: nothing is started.
            ("seal", &["create", "seal"]),
            ("start", &["create", "seal", "start"]),
        ];
        for (fail, want) in cases {
            let steps = Steps {
                done: RefCell::new(Vec::new()),
                fail,
            };
            assert_eq!(bring_up(&steps).is_ok(), fail.is_empty(), "{fail}");
            assert_eq!(*steps.done.borrow(), *want, "failing at {fail:?}");
        }
    }
}
