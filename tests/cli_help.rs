//! The command line as users see it: help text, snapshotted, so a change
//! to a verb or a flag is a visible change.

use assert_cmd::Command;

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("bot-bottle")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn start_help() {
    insta::assert_snapshot!(help(&["start", "--help"]));
}

#[test]
fn the_sidecars_are_hidden() {
    assert!(!help(&["--help"]).contains("sidecar"));
    assert!(help(&["sidecar", "--help"]).contains("egress"));
}

#[test]
fn a_bad_identity_is_refused_at_parse_time() {
    for args in [
        &["stop", "../etc"][..],
        &["attach", "Shell-x"],
        &["exec", "a_b", "--", "true"],
        &["routes", "edit", "a/b"],
    ] {
        let out = Command::cargo_bin("bot-bottle")
            .unwrap()
            .env("BOT_BOTTLE_HOME", "/nonexistent")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is not a bottle identity") && err.contains("bot-bottle list active"),
            "{args:?}: {err}"
        );
    }
}
