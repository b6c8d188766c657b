//! A planned bottle, and a fake backend that records each step and fails
//! where it is told to, for the tests of the launch sequence, the kill
//! switch and the backends.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use super::{HostFacts, StartRequest};
use crate::backend::bringup::{BringUpError, Context, Prepared, SidecarImage};
use crate::backend::docker::images::ImageError;
use crate::backend::session::{CopyWatch, Io, Selection, Snapshot};
use crate::backend::sidecars::{Decide, GateError, Sidecars};
use crate::backend::{
    ActiveBottle, AgentRuntime, Backend, BackendKind, CleanupPart, Homes, Unavailable,
};
use crate::exec::{ExecError, Program, Sink};
use crate::gitgate::Shown;
use crate::manifest::{self, Sources};
use crate::plan::{EngineFacts, Runtime, RuntimeWhy};
use crate::state::Home;
use crate::verify::Neighbour;

/// A home with a project folder, and a shell bottle planned for it.
pub fn planned(copy_cwd: bool) -> (tempfile::TempDir, Home, Prepared) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home {
        root: dir.path().join("home"),
    };
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let manifest = manifest::load(&Sources {
        home: home.root.clone(),
        cwd: proj.clone(),
        user_home: None,
    })
    .unwrap();
    let host = HostFacts {
        env_set: BTreeSet::new(),
        user: (1000, 1000),
        engine: EngineFacts {
            runtime: Runtime::Runc,
            why: RuntimeWhy::NotRegistered,
            cpus: 2,
        },
        sidecar_image: "bot-bottle-sidecar:test".into(),
        now: SystemTime::UNIX_EPOCH,
    };
    let req = StartRequest {
        agent: "shell".into(),
        bottles: vec![],
        backend: BackendKind::Docker,
        label: None,
        color: None,
        copy_cwd,
        include_ignored: false,
        cwd: proj,
        extra_args: vec![],
        identity: None,
    };
    let prepared = crate::launch::prepare(&manifest, &home, &req, &host).unwrap();
    (dir, home, prepared)
}

/// Records every call; the step named in `fail` fails.
pub struct Fake {
    calls: Mutex<Vec<String>>,
    fail: &'static str,
    /// What `probe` prints.
    pub probe_output: Mutex<String>,
}

impl Fake {
    pub fn new(fail: &'static str) -> Fake {
        Fake {
            calls: Mutex::new(Vec::new()),
            fail,
            probe_output: Mutex::new(String::new()),
        }
    }

    fn step(&self, name: &str) -> Result<(), ExecError> {
        self.calls.lock().unwrap().push(name.to_owned());
        if name == self.fail {
            Err(ExecError::Spawn {
                program: "fake".into(),
                source: std::io::Error::other(format!("{name} failed")),
            })
        } else {
            Ok(())
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Backend for Fake {
    fn available(&self) -> Result<(), Unavailable> {
        Ok(())
    }
    fn launch_checks(&self) -> Result<SidecarImage, BringUpError> {
        Ok(sidecar())
    }
    fn preflight_lines(&self, _: &Prepared) -> Vec<(String, String)> {
        Vec::new()
    }
    fn up(&self, _: &Context, _: &Prepared, _: &SidecarImage) -> Result<(), BringUpError> {
        Ok(self.step("up")?)
    }
    fn down(&self, _: &str, _: &Sink) -> Result<(), ExecError> {
        self.step("down")
    }
    fn logs(&self, _: &str) -> String {
        String::new()
    }
    fn is_running(&self, _: &str) -> Result<bool, ExecError> {
        Ok(true)
    }
    fn enumerate(&self, _: &Home, _: &Homes) -> Result<Vec<ActiveBottle>, ExecError> {
        Ok(Vec::new())
    }
    fn cleanup_plan(&self, _: &Home, _: &Homes) -> Result<Box<dyn CleanupPart>, ExecError> {
        unreachable!("not part of a launch")
    }
    fn events_argv(&self) -> Option<(Program, Vec<String>)> {
        None
    }
    fn agent(&self) -> &dyn AgentRuntime {
        self
    }
    fn sidecars(&self) -> &dyn Sidecars {
        self
    }
}

impl AgentRuntime for Fake {
    fn exec_command(
        &self,
        _: &str,
        argv: &[String],
        _: Io,
        _: Option<&str>,
    ) -> (Program, Vec<String>) {
        // Never run: the fake's sessions are `run`'s step.
        const FAKE: Program = Program::new("fake", "BOT_BOTTLE_FAKE", "a test's stand-in");
        (FAKE, argv.to_vec())
    }
    fn run(&self, _: &str, _: &[String], _: Io) -> Result<i32, ExecError> {
        self.step("run").map(|()| 0)
    }
    fn run_script(&self, _: &str, _: &str) -> Result<(), ExecError> {
        self.step("run_script")
    }
    fn copy_in(
        &self,
        _: &str,
        _: &Path,
        _: &str,
        _: &Selection,
        _: &CopyWatch,
    ) -> Result<(), ExecError> {
        self.step("copy_in")
    }
    fn snapshot(&self, _: &str, _: &str, _: &Path, _: u64) -> Result<Snapshot, ExecError> {
        self.step("snapshot").map(|()| Snapshot::Absent)
    }
    fn restore(&self, _: &str, _: &Path, _: &str) -> Result<(), ExecError> {
        self.step("restore")
    }
    fn probe(&self, slug: &str, _: &str) -> Result<String, ExecError> {
        self.step(&format!("probe {slug}"))?;
        Ok(self.probe_output.lock().unwrap().clone())
    }
    fn set_paused(&self, slugs: &[&str], paused: bool) -> Result<(), ExecError> {
        self.step(&format!("set_paused {paused} {}", slugs.join(" ")))
    }
}

impl Sidecars for Fake {
    fn wait_for_gate(&self, _: &str) -> Result<(), ExecError> {
        self.step("wait_for_gate")
    }
    fn reload_egress(&self, slugs: &[&str]) -> Result<(), ExecError> {
        self.step(&format!("reload_egress {}", slugs.join(" ")))
    }
    fn image_id(&self, _: &str) -> Result<Option<String>, ExecError> {
        unreachable!("not part of a launch")
    }
    fn neighbours(&self, _: &str, _: usize) -> Result<Vec<Neighbour>, ExecError> {
        Ok(Vec::new())
    }
    fn pin_image(&self, _: &str) -> Result<String, ImageError> {
        unreachable!("not part of a launch")
    }
}

impl Decide for Fake {
    fn decide(&self, _: &str, _: &str, _: Option<&Shown>) -> Result<String, GateError> {
        unreachable!("not part of a launch")
    }
}

pub fn sidecar() -> SidecarImage {
    SidecarImage {
        binary: "/bot-bottle".into(),
        tag: "bot-bottle-sidecar:test".into(),
    }
}
