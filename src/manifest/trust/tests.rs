use std::collections::BTreeMap;

use super::*;
use crate::error::UserError;
use crate::manifest::{
    Auth, Egress, Git, GitRemote, ImageSource, Provenance, Route, Scheme, SshEntry,
};

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect()
}

#[test]
fn the_digest_is_of_paths_and_contents_in_any_order() {
    let base = digest(&files(&[("./a", "one"), ("./b", "two")]));
    assert!(
        base.starts_with("sha256:") && base.len() == 7 + 64,
        "{base}"
    );
    // (files, same digest as base?)
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[("./b", "two"), ("./a", "one")], true),
        (&[("./a", "one"), ("./b", "twO")], false),
        (&[("./a", "one"), ("./b", "two ")], false),
        (&[("./a", "one"), ("./c", "two")], false),
        (&[("./a", "one")], false),
        (&[("./a", "one"), ("./b", "two"), ("./c", "")], false),
        // A byte moved from a content to a path is not the same set.
        (&[("./a", "on"), ("e./b", "two")], false),
        (&[("./a", "onetwo"), ("./b", "")], false),
    ];
    for (list, same) in cases {
        assert_eq!(digest(&files(list)) == base, *same, "{list:?}");
    }
}

#[test]
fn the_trust_record_keeps_one_digest_per_folder() {
    let mut store = TrustStore::default();
    let (a, b) = (Path::new("/p/a"), Path::new("/p/b"));
    store.trust(a, "sha256:1");
    store.trust(b, "sha256:2");
    store.trust(a, "sha256:3");
    let text = store.to_json();
    let back = TrustStore::parse(&text, "t.json").unwrap();
    assert_eq!(back.get(a), Some("sha256:3"));
    assert_eq!(back.get(b), Some("sha256:2"));
    assert_eq!(back.get(Path::new("/p")), None);
    let mut back = back;
    assert!(back.revoke(a));
    assert!(!back.revoke(a));
    assert_eq!(back.get(a), None);
    for (text, want) in [
        (
            "{",
            "t.json:1:1: invalid trust record: EOF while parsing an object",
        ),
        (
            r#"{"version": 1, "projects": {}, "x": 1}"#,
            "t.json:1:34: invalid trust record: unknown field `x`",
        ),
    ] {
        let err = TrustStore::parse(text, "t.json").unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}");
        assert!(
            err.ends_with("remove the file to trust projects afresh"),
            "{err}"
        );
    }
}

fn project_origin() -> Origin {
    Origin::Project("bot-bottle.json".into())
}

fn bottle(origin: Origin) -> Bottle {
    let mut b = Bottle {
        name: "b".into(),
        image: Some(ImageSource::Image("debian".into())),
        env: BTreeMap::from([("A".to_owned(), "1".to_owned())]),
        egress: Egress {
            routes: vec![
                Route {
                    host: "open.test".into(),
                    ..Route::default()
                },
                Route {
                    host: "cred.test".into(),
                    auth: Some(Auth {
                        scheme: Some(Scheme::Bearer),
                        token_env: vec!["T1".into(), "T2".into()],
                    }),
                    ..Route::default()
                },
                Route {
                    host: "lan.test".into(),
                    allow_private_addresses: Some(true),
                    ..Route::default()
                },
            ],
            trust_upstream_ca: vec!["/ca.pem".into()],
        },
        ssh: vec![SshEntry {
            host: "h.test".into(),
            identity_file: "/k".into(),
        }],
        limits: Default::default(),
        git: Git {
            remotes: vec![
                GitRemote {
                    name: "up".into(),
                    url: "https://h.test/r.git".into(),
                    host: "h.test".into(),
                    ssh: false,
                    branches: vec![],
                    auth: Some(Auth {
                        scheme: Some(Scheme::Basic),
                        token_env: vec!["GT".into()],
                    }),
                },
                GitRemote {
                    name: "plain".into(),
                    url: "https://h.test/p.git".into(),
                    host: "h.test".into(),
                    ssh: false,
                    branches: vec![],
                    auth: None,
                },
            ],
            ..Git::default()
        },
        origin,
        provenance: Provenance::default(),
    };
    b.provenance = Provenance::of(&b);
    b
}

#[test]
fn what_reaches_secrets_is_every_credential_key_private_route_and_ca() {
    let got: Vec<(String, String)> = reach(&bottle(project_origin()))
        .into_iter()
        .map(|r| (r.key, r.what))
        .collect();
    let want: &[(&str, &str)] = &[
        (
            "egress.routes[1].auth.token_env",
            "sends $T1 or $T2 to cred.test",
        ),
        (
            "egress.routes[2].allow_private_addresses",
            "lan.test may be a loopback, private or link-local address (your own network)",
        ),
        (
            "ssh[0].identity_file",
            "gives the git gate the key /k for h.test",
        ),
        (
            "git.remotes[0].auth.token_env",
            "sends $GT to h.test (remote up)",
        ),
        (
            "egress.trust_upstream_ca[0]",
            "trusts /ca.pem to vouch for any upstream host (whoever holds its key could read what egress sends, credentials included)",
        ),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, w)| (k.to_string(), w.to_string()))
        .collect();
    assert_eq!(got, want);
}

fn summary() -> Summary {
    let evil = bottle(project_origin());
    Summary {
        dir: "/nowhere/proj".into(),
        shown: "./bot-bottle.json".into(),
        digest: "sha256:0".into(),
        files: vec!["./bot-bottle.json".into()],
        agents: vec![
            Defined {
                name: "dev".into(),
                origin: project_origin(),
                replaces: None,
                uses: vec!["top".into()],
            },
            Defined {
                name: "quiet".into(),
                origin: project_origin(),
                replaces: None,
                uses: vec![],
            },
        ],
        bottles: vec![
            Defined {
                name: "top".into(),
                origin: project_origin(),
                replaces: None,
                uses: vec!["b".into()],
            },
            Defined {
                name: "b".into(),
                origin: project_origin(),
                replaces: Some(Origin::Embedded),
                uses: vec![],
            },
        ],
        reach: reach(&evil),
    }
}

#[test]
fn asking_for_an_unused_projects_definition_says_why_and_names_the_key() {
    let untrusted = Project::Untrusted {
        summary: summary(),
        changed: false,
    };
    let changed = Project::Untrusted {
        summary: summary(),
        changed: true,
    };
    let broken = Project::Broken {
        shown: "./bot-bottle.json".into(),
        error: ManifestError::Read {
            file: "./bot-bottle.json".into(),
            reason: "denied".into(),
        },
    };
    let trusted = Project::Trusted(summary());
    let command = "bot-bottle trust /nowhere/proj";
    // (project, kind, name, the error, or None)
    let cases: Vec<(&Project, &'static str, &str, Option<&str>)> = vec![
        (
            &untrusted,
            "agent",
            "dev",
            Some(
                "./bot-bottle.json: bottle 'b': egress.routes[1].auth.token_env: sends $T1 or $T2 to cred.test, and ./bot-bottle.json is not trusted",
            ),
        ),
        (
            &untrusted,
            "bottle",
            "b",
            Some(
                "./bot-bottle.json: bottle 'b': egress.routes[1].auth.token_env: sends $T1 or $T2 to cred.test, and ./bot-bottle.json is not trusted",
            ),
        ),
        // An agent with no bottles runs in `default`, which this project
        // does not define: nothing of it reaches a secret.
        (
            &untrusted,
            "agent",
            "quiet",
            Some("./bot-bottle.json: agent 'quiet': not used: ./bot-bottle.json is not trusted"),
        ),
        (
            &changed,
            "bottle",
            "top",
            Some(
                "./bot-bottle.json: bottle 'b': egress.routes[1].auth.token_env: sends $T1 or $T2 to cred.test, and ./bot-bottle.json changed since you trusted it",
            ),
        ),
        (&untrusted, "agent", "other", None),
        (
            &broken,
            "agent",
            "dev",
            Some(
                "unknown agent 'dev' (./bot-bottle.json is not used: ./bot-bottle.json: cannot read: denied)",
            ),
        ),
        (&Project::None, "agent", "dev", None),
        (&trusted, "agent", "dev", None),
    ];
    for (project, kind, name, want) in cases {
        let got = project.not_used(kind, name);
        assert_eq!(
            got.as_ref().map(ToString::to_string).as_deref(),
            want,
            "{kind} {name}"
        );
        if let Some(ManifestError::NotTrusted(_)) = &got {
            let hint = got.unwrap().hint().unwrap();
            assert!(hint.contains(command), "{hint}");
        }
    }
}

#[test]
fn a_part_reaching_secrets_from_a_project_is_refused_unless_it_is_trusted() {
    let home = Origin::File("/h/bot-bottle.json".into());
    let untrusted = Project::Untrusted {
        summary: summary(),
        changed: false,
    };
    let trusted = Project::Trusted(summary());
    let plain = || {
        let mut b = bottle(project_origin());
        b.egress = Egress {
            routes: vec![Route {
                host: "open.test".into(),
                ..Route::default()
            }],
            trust_upstream_ca: vec![],
        };
        b.ssh.clear();
        b.git = Git::default();
        b.provenance = Provenance::of(&b);
        b
    };
    // The operator's bottle with a project's laid on it, and the other way.
    let over = |base: &Bottle, over: &Bottle| {
        let mut b = base.clone();
        b.provenance = Provenance::merge(&base.provenance, &over.provenance);
        b.name = format!("{}+{}", base.name, over.name);
        b
    };
    let mine = bottle(home.clone());
    // (project status, bottle, refused with)
    let cases: Vec<(&Project, Bottle, Option<&str>)> = vec![
        (&untrusted, mine.clone(), None),
        (
            &untrusted,
            bottle(project_origin()),
            Some("./bot-bottle.json: bottle 'b': egress.routes[1].auth.token_env"),
        ),
        (&trusted, bottle(project_origin()), None),
        (&Project::None, plain(), None),
        (
            &Project::None,
            bottle(project_origin()),
            Some("./bot-bottle.json: bottle 'b': egress.routes[1].auth.token_env"),
        ),
        // The project added only to an open route and a variable: nothing
        // of it reaches a secret.
        (&untrusted, over(&mine, &plain()), None),
        // The project's parts under the operator's keep their origin.
        (
            &untrusted,
            over(&bottle(project_origin()), &mine),
            Some("./bot-bottle.json: bottle 'b+b': egress.routes[1].auth.token_env"),
        ),
    ];
    for (i, (project, b, want)) in cases.into_iter().enumerate() {
        let got = project.check_parts(&b).map_err(|e| e.to_string());
        match want {
            None => assert_eq!(got, Ok(()), "case {i}"),
            Some(want) => {
                let err = got.unwrap_err();
                assert!(err.starts_with(want), "case {i}: {err}");
            }
        }
    }
}

#[test]
fn the_summary_lists_files_definitions_and_what_reaches_secrets() {
    let text = summary().render();
    for want in [
        "./bot-bottle.json in /nowhere/proj makes bot-bottle read:\n  ./bot-bottle.json\n",
        "It defines:\n  agent dev\n  agent quiet\n  bottle top\n  bottle b (replaces the built-in one)\n",
        "What reaches your secrets and network:\n  ./bot-bottle.json: bottle 'b': egress.routes[1].auth.token_env: sends $T1 or $T2 to cred.test\n",
        "digest sha256:0\n",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let mut quiet = summary();
    quiet.reach.clear();
    assert!(
        quiet
            .render()
            .contains("Nothing in it reaches your secrets or network")
    );
}
