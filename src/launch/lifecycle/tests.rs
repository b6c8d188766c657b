//! The launch sequence's order and its rollbacks, on a fake backend that
//! records each step and fails where it is told to.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;
use crate::backend::docker::images::ImageError;
use crate::backend::sidecars::{Decide, GateError, Sidecars};
use crate::backend::{ActiveBottle, AgentRuntime, CleanupPart, Homes, Unavailable};
use crate::exec::{ExecError, Program, Sink};
use crate::gitgate::Shown;
use crate::launch::testing::planned;
use crate::state::Home;

/// Records every call; the step named in `fail` fails.
struct Fake {
    calls: Mutex<Vec<String>>,
    fail: &'static str,
}

impl Fake {
    fn new(fail: &'static str) -> Fake {
        Fake {
            calls: Mutex::new(Vec::new()),
            fail,
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

    fn calls(&self) -> Vec<String> {
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
        (crate::exec::DOCKER, argv.to_vec())
    }
    fn run(&self, _: &str, _: &[String], _: Io) -> Result<i32, ExecError> {
        self.step("run").map(|()| 0)
    }
    fn run_script(&self, _: &str, _: &str) -> Result<(), ExecError> {
        self.step("run_script")
    }
    fn copy_in(&self, _: &str, _: &Path, _: &str, _: &Selection) -> Result<(), ExecError> {
        self.step("copy_in")
    }
    fn snapshot(&self, _: &str, _: &str, _: &Path, _: u64) -> Result<Snapshot, ExecError> {
        self.step("snapshot").map(|()| Snapshot::Absent)
    }
    fn restore(&self, _: &str, _: &Path, _: &str) -> Result<(), ExecError> {
        self.step("restore")
    }
}

impl Sidecars for Fake {
    fn wait_for_gate(&self, _: &str) -> Result<(), ExecError> {
        self.step("wait_for_gate")
    }
    fn reload_egress(&self, _: &str) -> Result<(), ExecError> {
        unreachable!("not part of a launch")
    }
    fn image_id(&self, _: &str) -> Result<Option<String>, ExecError> {
        unreachable!("not part of a launch")
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

fn sidecar() -> SidecarImage {
    SidecarImage {
        binary: "/bot-bottle".into(),
        tag: "bot-bottle-sidecar:test".into(),
    }
}

fn log(home: &Home) -> Sink {
    Sink::File(home.root.with_file_name("log"))
}

fn bring(fake: &Fake, home: &Home, prepared: &Prepared) -> Result<(), LaunchError> {
    let sink = log(home);
    let ctx = Context {
        home,
        sink: &sink,
        interrupted: &AtomicBool::new(false),
    };
    bring_up_on(&ctx, fake, prepared, &sidecar())
}

#[test]
fn each_failing_step_takes_the_bottle_down_and_leaves_no_state() {
    // (the step that fails, the calls made, in order)
    let cases: &[(&str, &[&str])] = &[
        ("", &["up", "copy_in"]),
        ("up", &["up", "down"]),
        ("copy_in", &["up", "copy_in", "down"]),
    ];
    for (fail, calls) in cases {
        let (_dir, home, prepared) = planned(true);
        let fake = Fake::new(fail);
        let result = bring(&fake, &home, &prepared);
        assert_eq!(fake.calls(), *calls, "failing at {fail:?}");
        let state = home.bottle_dir(&prepared.slug);
        if fail.is_empty() {
            result.unwrap();
            assert!(state.join("metadata.json").is_file());
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains(&format!("{fail} failed")), "{err}");
            assert!(!state.exists(), "state left behind after {fail} failed");
        }
    }
}

#[test]
fn a_resumed_bottle_that_fails_keeps_its_state_but_not_its_secrets() {
    let (_dir, home, prepared) = planned(false);
    bring(&Fake::new(""), &home, &prepared).unwrap();
    let tokens = home.bottle_dir(&prepared.slug).join("egress/tokens.json");
    assert!(tokens.is_file());
    home.mark_preserved(&prepared.slug).unwrap();
    let fake = Fake::new("up");
    bring(&fake, &home, &prepared).unwrap_err();
    assert_eq!(fake.calls(), ["up", "down"]);
    let state = home.bottle_dir(&prepared.slug);
    assert!(state.join("metadata.json").is_file(), "resume needs it");
    assert!(home.is_preserved(&prepared.slug));
    assert!(
        !state.join("egress/tokens.json").exists(),
        "the credentials are written again at the next launch"
    );
}

#[test]
fn take_down_snapshots_only_what_is_kept() {
    let (_dir, home, prepared) = planned(false);
    let sink = log(&home);
    let ctx = Context {
        home: &home,
        sink: &sink,
        interrupted: &AtomicBool::new(false),
    };
    let slug = &prepared.slug;
    let claude = crate::provider::Provider::Claude;

    bring(&Fake::new(""), &home, &prepared).unwrap();
    let fake = Fake::new("");
    assert_eq!(end(&ctx, &fake, slug, claude, 0).unwrap(), Settled::Removed);
    assert_eq!(fake.calls(), ["down"]);

    bring(&Fake::new(""), &home, &prepared).unwrap();
    let fake = Fake::new("");
    assert_eq!(
        end(&ctx, &fake, slug, claude, 3).unwrap(),
        Settled::Preserved
    );
    assert_eq!(fake.calls(), ["snapshot", "down"]);

    let fake = Fake::new("down");
    home.clear_preserved(slug).unwrap();
    take_down(&ctx, &fake, slug, claude).unwrap_err();
    assert!(
        home.bottle_dir(slug).exists(),
        "a failed teardown keeps the state to try again"
    );
    assert_eq!(
        end(&ctx, &Fake::new(""), "gone-zzzzz", claude, 0).unwrap(),
        Settled::Gone
    );
}

#[test]
fn the_clone_script_moves_a_clone_under_the_copied_files() {
    let gate = GatePlan {
        image: "bot-bottle-git-gate:x".into(),
        repo_top: "/home/u/proj".into(),
        audit_log: "/home/u/.bot-bottle/audit/dev-abcde.jsonl".into(),
        user_name: "dev (bot-bottle)".into(),
        user_email: "dev-abcde@bot-bottle.invalid".into(),
        work_tree: crate::plan::testing::EMPTY_WORK_TREE.clone(),
    };
    let script = clone_script(&gate);
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "set -e",
            "rm -rf /tmp/.bb-clone",
            "git clone --no-checkout -q http://git-gate:8418/repo.git /tmp/.bb-clone",
            "mv /tmp/.bb-clone/.git /workspace/.git",
            "rmdir /tmp/.bb-clone",
            "git -C /workspace reset -q",
        ]
    );
    assert_eq!(
        lines[6],
        "git -C /workspace config user.name >/dev/null || git -C /workspace config user.name 'dev (bot-bottle)'"
    );
    assert!(lines[7].ends_with("user.email dev-abcde@bot-bottle.invalid"));
}
