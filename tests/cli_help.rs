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
