//! A planned bottle for the tests of the launch sequence and the backends.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::{HostFacts, StartRequest};
use crate::backend::BackendKind;
use crate::backend::bringup::Prepared;
use crate::manifest::{self, Sources};
use crate::plan::{EngineFacts, Runtime, RuntimeWhy};
use crate::state::Home;

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
