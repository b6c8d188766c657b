//! The launch sequence's order and its rollbacks, on a fake backend that
//! records each step and fails where it is told to.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::exec::Sink;
use crate::launch::testing::{Fake, planned, sidecar};
use crate::state::Home;

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
    std::fs::write(home.bottle(slug).egress_frozen(), "").unwrap();
    let fake = Fake::new("");
    assert_eq!(
        end(&ctx, &fake, slug, claude, 3).unwrap(),
        Settled::Preserved
    );
    // Its agent resumed first, so the transcript can be saved and the
    // engine can stop it (gVisor may fail to stop a paused sandbox).
    assert_eq!(
        fake.calls(),
        [
            format!("set_paused false {slug}"),
            "snapshot".into(),
            "down".into()
        ]
    );
    assert!(
        !home.bottle(slug).is_frozen(),
        "a freeze ends with the bottle: its resume starts thawed"
    );

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
