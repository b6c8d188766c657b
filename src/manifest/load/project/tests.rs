use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::super::tests::{sources, trust};
use super::super::{inspect, load};
use crate::manifest::{Project, TrustStore};

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Files to write, relative to the test folder: (path, text).
type Files = &'static [(&'static str, &'static str)];

/// Which files a project's digest covers: every file it makes bot-bottle
/// read (its JSON, its agents, the Dockerfiles and CAs it names, the
/// files of its agents' skills that are in it), and nothing else.
#[test]
fn the_digest_covers_every_file_the_project_makes_bot_bottle_read() {
    // (name, files to write (relative to the test folder), files counted)
    let cases: &[(&str, Files, &[&str])] = &[
        (
            "the JSON alone",
            &[("proj/bot-bottle.json", "{}"), ("proj/README.md", "x")],
            &["./bot-bottle.json"],
        ),
        (
            "markdown agents, not other files of .bot-bottle",
            &[
                (
                    "proj/.bot-bottle/agents/a.md",
                    "---\nprovider: shell\n---\n",
                ),
                ("proj/.bot-bottle/agents/notes.txt", "x"),
                ("proj/.bot-bottle/skills/unused/SKILL.md", "x"),
            ],
            &["./.bot-bottle/agents/a.md"],
        ),
        (
            "a Dockerfile, not the rest of its folder",
            &[
                (
                    "proj/bot-bottle.json",
                    r#"{"bottles": {"b": {"dockerfile": "docker/Dockerfile"}}}"#,
                ),
                ("proj/docker/Dockerfile", "FROM debian\n"),
                ("proj/docker/context.txt", "x"),
            ],
            &["./bot-bottle.json", "./docker/Dockerfile"],
        ),
        (
            "CAs, inside and outside the folder",
            &[
                (
                    "proj/bot-bottle.json",
                    r#"{"bottles": {"b": {"egress": {"trust_upstream_ca": ["ca.pem", "../elsewhere/ca.pem"]}}}}"#,
                ),
                ("proj/ca.pem", "x"),
                ("elsewhere/ca.pem", "y"),
            ],
            &["./bot-bottle.json", "./ca.pem", "TMP/elsewhere/ca.pem"],
        ),
        (
            "the files of its agents' skills in it, not those in the home",
            &[
                (
                    "proj/.bot-bottle/agents/a.md",
                    "---\nprovider: shell\nskills: [lint, review]\n---\n",
                ),
                ("proj/.bot-bottle/skills/lint/SKILL.md", "x"),
                ("proj/.bot-bottle/skills/lint/deep/tool.sh", "y"),
                ("home/skills/review/SKILL.md", "z"),
            ],
            &[
                "./.bot-bottle/agents/a.md",
                "./.bot-bottle/skills/lint/SKILL.md",
                "./.bot-bottle/skills/lint/deep/tool.sh",
            ],
        ),
    ];
    for (name, files, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().canonicalize().unwrap();
        for (rel, text) in *files {
            write(&tmp, rel, text);
        }
        let s = sources(&tmp);
        let summary = inspect(&s).unwrap().unwrap();
        let want: Vec<String> = want
            .iter()
            .map(|w| w.replace("TMP", &tmp.display().to_string()))
            .collect();
        assert_eq!(summary.files, want, "{name}");
        // Each of them changes the digest; nothing else does.
        for (rel, text) in *files {
            let before = inspect(&s).unwrap().unwrap().digest;
            write(&tmp, rel, &format!("{text}\n"));
            let after = inspect(&s).unwrap().unwrap().digest;
            let counted = summary.files.iter().any(|f| {
                tmp.join(rel) == tmp.join("proj").join(f.trim_start_matches("./"))
                    || tmp.join(rel) == Path::new(f)
            });
            assert_eq!(before != after, counted, "{name}: {rel}");
        }
    }
}

#[test]
fn what_a_load_makes_of_the_directorys_manifest() {
    // (name, files, trusted as first written, then changed to, status)
    struct Case {
        name: &'static str,
        files: &'static [(&'static str, &'static str)],
        trust_first: bool,
        then: Option<(&'static str, &'static str)>,
        want: &'static str,
    }
    let cases = [
        Case {
            name: "nothing there",
            files: &[],
            trust_first: false,
            then: None,
            want: "none",
        },
        Case {
            name: "never trusted",
            files: &[("proj/bot-bottle.json", "{}")],
            trust_first: false,
            then: None,
            want: "untrusted",
        },
        Case {
            name: "trusted",
            files: &[("proj/bot-bottle.json", "{}")],
            trust_first: true,
            then: None,
            want: "trusted",
        },
        Case {
            name: "changed since",
            files: &[("proj/bot-bottle.json", "{}")],
            trust_first: true,
            then: Some(("proj/bot-bottle.json", "{ }")),
            want: "changed",
        },
        Case {
            name: "an agent added since",
            files: &[("proj/bot-bottle.json", "{}")],
            trust_first: true,
            then: Some(("proj/.bot-bottle/agents/x.md", "")),
            want: "changed",
        },
        Case {
            name: "broken since",
            files: &[("proj/bot-bottle.json", "{}")],
            trust_first: true,
            then: Some(("proj/bot-bottle.json", "{")),
            want: "broken",
        },
        Case {
            name: "names a bottle nobody defines",
            files: &[(
                "proj/bot-bottle.json",
                r#"{"agents": {"a": {"bottle": "nope"}}}"#,
            )],
            trust_first: false,
            then: None,
            want: "untrusted",
        },
        Case {
            name: "a broken trust record",
            files: &[("proj/bot-bottle.json", "{}"), ("home/trusted.json", "[")],
            trust_first: false,
            then: None,
            want: "broken",
        },
        Case {
            name: "the home itself",
            files: &[("home/bot-bottle.json", "{}")],
            trust_first: false,
            then: None,
            want: "none",
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in case.files {
            write(dir.path(), rel, text);
        }
        let mut s = sources(dir.path());
        if case.name == "the home itself" {
            s.cwd = s.home.clone();
        }
        if case.trust_first {
            trust(&s);
        }
        if let Some((rel, text)) = case.then {
            write(dir.path(), rel, text);
        }
        let m = load(&s).unwrap();
        let got = match &m.project {
            Project::None => "none",
            Project::Trusted(_) => "trusted",
            Project::Untrusted { changed: false, .. } => "untrusted",
            Project::Untrusted { changed: true, .. } => "changed",
            Project::Broken { .. } => "broken",
        };
        assert_eq!(got, case.want, "{}", case.name);
        assert_eq!(
            m.project.note().is_some(),
            !matches!(got, "none" | "trusted")
        );
        // The operator's agents are there whatever the project is.
        assert!(m.agents.contains_key("shell"), "{}", case.name);
    }
}

#[test]
fn a_project_that_does_not_resolve_cannot_be_trusted_and_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "proj/bot-bottle.json",
        r#"{"agents": {"a": {"bottle": "nope"}}}"#,
    );
    let s = sources(dir.path());
    let err = inspect(&s).unwrap_err().to_string();
    assert_eq!(
        err,
        "./bot-bottle.json: agent 'a': bottle: unknown bottle 'nope'"
    );
    // A record for it (made by hand) still leaves it unused.
    let summary = super::examine(&s, &super::find(&s).unwrap(), &load(&s).unwrap())
        .unwrap()
        .0;
    fs::create_dir_all(&s.home).unwrap();
    fs::write(
        TrustStore::path(&s.home),
        format!(
            r#"{{"version": 1, "projects": {{"{}": "{}"}}}}"#,
            summary.dir.display(),
            summary.digest
        ),
    )
    .unwrap();
    let m = load(&s).unwrap();
    assert!(
        matches!(m.project, Project::Broken { .. }),
        "{:?}",
        m.project
    );
    assert!(!m.agents.contains_key("a"));
}

#[test]
fn a_projects_skill_may_not_lead_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secrets/id_rsa", "key");
    write(
        dir.path(),
        "proj/.bot-bottle/agents/a.md",
        "---\nprovider: shell\nskills: [keys]\n---\n",
    );
    fs::create_dir_all(dir.path().join("proj/.bot-bottle/skills")).unwrap();
    symlink(
        dir.path().join("secrets"),
        dir.path().join("proj/.bot-bottle/skills/keys"),
    )
    .unwrap();
    let s = sources(dir.path());
    let err = inspect(&s).unwrap_err().to_string();
    assert!(
        err.starts_with("./.bot-bottle/agents/a.md: agent 'a': skills: ")
            && err.ends_with("leads outside the project"),
        "{err}"
    );
    assert!(matches!(load(&s).unwrap().project, Project::Broken { .. }));
}

#[test]
fn a_projects_own_files_may_not_be_links_to_elsewhere() {
    for link in ["proj/bot-bottle.json", "proj/.bot-bottle/agents/a.md"] {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "secrets/id_rsa",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
        );
        fs::create_dir_all(dir.path().join(link).parent().unwrap()).unwrap();
        symlink(dir.path().join("secrets/id_rsa"), dir.path().join(link)).unwrap();
        let s = sources(dir.path());
        let err = inspect(&s).unwrap_err().to_string();
        assert!(err.contains("leads outside the project"), "{link}: {err}");
        assert!(
            matches!(load(&s).unwrap().project, Project::Broken { .. }),
            "{link}"
        );
    }
}
