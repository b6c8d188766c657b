use super::*;
use crate::egress::config::RouteConfig;
use crate::egress::decisions::{Decision, Log};
use crate::supervise::apply;

fn line(action: &str, tool: Option<&str>, url: &str) -> String {
    let mut v = json!({"time": "t", "action": action, "method": "GET", "url": url});
    if let Some(t) = tool {
        v["tool"] = t.into();
    }
    v.to_string()
}

#[test]
fn only_denials_a_route_could_lift_count() {
    let pip = Some("pipelock-block");
    let egress = Some("egress-block");
    let cases: Vec<(String, Option<(&str, &str)>)> = vec![
        (
            line("deny", pip, "https://PyPI.org/simple/x"),
            Some(("pypi.org", "/simple/x")),
        ),
        (
            line("deny", egress, "https://a.com/b/"),
            Some(("a.com", "/b/")),
        ),
        (line("deny", pip, "https://a.com"), Some(("a.com", "/"))),
        (
            line("deny", pip, "https://a.com:443//x//y"),
            Some(("a.com", "/x/y")),
        ),
        (
            line("deny", pip, "http://plain.test:80/a"),
            Some(("plain.test", "/a")),
        ),
        // Not a denial a route lifts.
        (line("allow", None, "https://a.com/"), None),
        (line("allow", pip, "https://a.com/"), None),
        (line("deny", None, "https://a.com/"), None),
        (
            line("deny", Some("capability-block"), "https://a.com/"),
            None,
        ),
        // Hosts a route cannot name.
        (line("deny", pip, "https://10.0.0.1/"), None),
        (line("deny", pip, "https://[::1]/"), None),
        (line("deny", pip, "https://1.2.3/"), None),
        (line("deny", pip, "https://a.com:8443/"), None),
        (line("deny", pip, "http://a.com:443/"), None),
        (line("deny", pip, "https://user@a.com/"), None),
        (line("deny", pip, "https://a\u{7}.com/"), None),
        (line("deny", pip, "https://a_b.com/"), None),
        (line("deny", pip, "ftp://a.com/"), None),
        (line("deny", pip, "a.com/x"), None),
        // Paths that are not plain, or not whole.
        (line("deny", pip, "https://a.com/a/../b"), None),
        (line("deny", pip, "https://a.com/a%2Fb"), None),
        (line("deny", pip, "https://a.com/a;x=1"), None),
        (line("deny", pip, "https://a.com/\u{1b}[2J"), None),
        (line("deny", pip, "https://a.com/é"), None),
        (line("deny", pip, "https://a.com/a b"), None),
        (line("deny", pip, "https://a.com/cut…"), None),
        (
            line("deny", pip, &format!("https://a.com/{}", "x".repeat(300))),
            None,
        ),
        ("not json".into(), None),
        (
            json!({"action": "deny", "tool": 1, "url": "https://a.com/"}).to_string(),
            None,
        ),
    ];
    for (text, want) in cases {
        let got = denied(&text);
        let want = want.map(|(host, path)| Denied {
            host: host.into(),
            path: path.into(),
        });
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn paths_group_by_folder_and_stay_bounded() {
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["/simple/requests/x.whl"], vec!["/simple/requests/"]),
        (vec!["/simple/requests/"], vec!["/simple/requests/"]),
        (vec!["/favicon.ico"], vec!["/favicon.ico"]),
        (vec!["/"], vec!["/"]),
        (vec!["/", "/a/b"], vec!["/"]),
        (
            vec!["/repos/a/x", "/repos/a/y", "/repos/b/z"],
            vec!["/repos/a/", "/repos/b/"],
        ),
        (vec!["/repos/a/x", "/repos/"], vec!["/repos/"]),
    ];
    for (paths, want) in cases {
        let paths: Vec<String> = paths.into_iter().map(String::from).collect();
        assert_eq!(prefixes(&paths), want, "{paths:?}");
    }
    // Many folders: their first segments; many of those: the first few.
    let many: Vec<String> = (0..20).map(|i| format!("/api/r{i}/x")).collect();
    assert_eq!(prefixes(&many), ["/api/"]);
    let flood: Vec<String> = (0..40).map(|i| format!("/p{i:02}/x/y")).collect();
    let got = prefixes(&flood);
    assert_eq!(got.len(), MAX_PATHS);
    assert_eq!(got[0], "/p00/");
}

fn routes(list: &[(&str, &[&str])]) -> EgressConfig {
    EgressConfig {
        listen: 3128,
        routes: list
            .iter()
            .map(|(host, paths)| RouteConfig {
                host: (*host).into(),
                path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            })
            .collect(),
        trust_upstream_ca: vec![],
        token_budget: None,
        spend: None,
    }
}

fn d(host: &str, path: &str) -> Denied {
    Denied {
        host: host.into(),
        path: path.into(),
    }
}

fn egress(host: &str, paths: &[&str]) -> Request {
    Request::EgressBlock {
        host: host.into(),
        path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
        auth: None,
    }
}

fn pending(id: &str, source: Origin, request: Request) -> Proposal {
    Proposal {
        id: id.into(),
        slug: "dev-aaaaa".into(),
        created_at: "2026-12-03T04:00:00.000Z".into(),
        justification: "why".into(),
        request,
        source,
        replaces: None,
    }
}

/// `new HOST PATHS` or `grow ID HOST PATHS`, one per action.
fn show(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::New { request, .. } => format!("new {}", request.summary()),
            Action::Grow { id, request, .. } => format!("grow {id} {}", request.summary()),
            Action::Withdraw { id } => format!("withdraw {id}"),
        })
        .collect()
}

#[test]
fn suggestions_group_by_host_and_skip_what_is_settled() {
    let none = routes(&[]);
    let pypi = [
        d("pypi.org", "/simple/requests/"),
        d("pypi.org", "/simple/flask/"),
        d("pypi.org", "/simple/requests/"),
        d("files.pythonhosted.org", "/packages/ab/cd/x.whl"),
    ];
    let waiting = [pending(
        "m1-aaaa",
        Origin::Denied,
        egress("pypi.org", &["/simple/requests/"]),
    )];
    let agent_asked = [pending(
        "m1-bbbb",
        Origin::Agent,
        Request::PipelockBlock {
            failed_url: "https://pypi.org/".into(),
            host: "pypi.org".into(),
        },
    )];
    type Case<'a> = (
        &'a str,
        Vec<Denied>,
        EgressConfig,
        Vec<Request>,
        &'a [Proposal],
        Vec<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "one suggestion per host, paths grouped",
            pypi.to_vec(),
            none.clone(),
            vec![],
            &[],
            vec![
                "new route pypi.org /simple/flask/ /simple/requests/",
                "new route files.pythonhosted.org /packages/ab/cd/",
            ],
        ),
        (
            "an allowed host",
            pypi.to_vec(),
            routes(&[
                ("pypi.org", &[]),
                ("files.pythonhosted.org", &["/packages/"]),
            ]),
            vec![],
            &[],
            vec![],
        ),
        (
            "paths the route allows already",
            vec![d("a.com", "/v1/x"), d("a.com", "/v2/y")],
            routes(&[("A.com", &["/v1/"])]),
            vec![],
            &[],
            vec!["new route a.com /v2/"],
        ),
        (
            "a rejected host",
            pypi.to_vec(),
            none.clone(),
            vec![Request::PipelockBlock {
                failed_url: "https://files.pythonhosted.org/x".into(),
                host: "files.pythonhosted.org".into(),
            }],
            &[],
            vec!["new route pypi.org /simple/flask/ /simple/requests/"],
        ),
        (
            "rejected paths do not come back; others do",
            vec![d("a.com", "/b/x"), d("a.com", "/c/y")],
            none.clone(),
            vec![egress("a.com", &["/b/"])],
            &[],
            vec!["new route a.com /c/"],
        ),
        (
            "the same denials again",
            vec![d("pypi.org", "/simple/requests/"); 3],
            none.clone(),
            vec![],
            &waiting,
            vec![],
        ),
        (
            "a waiting suggestion grows",
            pypi[..2].to_vec(),
            none.clone(),
            vec![],
            &waiting,
            vec!["grow m1-aaaa route pypi.org /simple/flask/ /simple/requests/"],
        ),
        (
            "a waiting suggestion the routes now allow is withdrawn",
            vec![
                d("pypi.org", "/simple/requests/"),
                d("pypi.org", "/other/x"),
            ],
            routes(&[("pypi.org", &["/simple/"])]),
            vec![],
            &waiting,
            vec!["withdraw m1-aaaa", "new route pypi.org /other/"],
        ),
        (
            "the agent asked already",
            pypi[..2].to_vec(),
            none.clone(),
            vec![],
            &agent_asked,
            vec![],
        ),
    ];
    for (what, denials, routes, rejected, pending, want) in cases {
        let known = Known {
            routes: &routes,
            rejected: &rejected,
            pending,
        };
        assert_eq!(show(&suggest(&denials, &known)), want, "{what}");
    }
}

#[test]
fn a_flood_of_denials_is_bounded() {
    let none = routes(&[]);
    let hosts: Vec<Denied> = (0..500)
        .map(|i| d(&format!("h{i}.example.com"), "/x"))
        .collect();
    let known = Known {
        routes: &none,
        rejected: &[],
        pending: &[],
    };
    assert_eq!(suggest(&hosts, &known).len(), MAX_PENDING);
    let three: Vec<Proposal> = (0..3)
        .map(|i| {
            pending(
                &format!("m{i}-aaaa"),
                Origin::Denied,
                egress(&format!("w{i}.com"), &["/"]),
            )
        })
        .collect();
    let known = Known {
        pending: &three,
        ..known
    };
    assert_eq!(suggest(&hosts, &known).len(), MAX_PENDING - 3);

    let paths: Vec<Denied> = (0..5000)
        .map(|i| d("a.com", &format!("/r{i}/x/y")))
        .collect();
    let actions = suggest(&paths, &known);
    let [Action::New { request, .. }] = &actions[..] else {
        panic!("{actions:?}")
    };
    let Request::EgressBlock { path_allowlist, .. } = request else {
        panic!("{request:?}")
    };
    assert_eq!(path_allowlist.len(), MAX_PATHS);
}

/// A home with one bottle: routes, and a decision log written by the
/// proxy's own writer.
fn home_with_denials(urls: &[&str]) -> (tempfile::TempDir, Home) {
    let (dir, home) = Home::temp();
    let bottle = home.bottle("dev-aaaaa");
    std::fs::create_dir_all(bottle.egress_dir()).unwrap();
    let config = routes(&[("a.com", &["/v1/"])]);
    std::fs::write(
        bottle.egress_routes(),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let log = Log::open(&bottle.egress_decisions());
    for url in urls {
        let mut d = Decision::new("deny", "GET", url).because("no route");
        d.tool = Some("pipelock-block");
        log.record(&d);
        log.record(&Decision::new("allow", "GET", "https://a.com/v1/ok"));
    }
    (dir, home)
}

#[test]
fn sync_queues_one_suggestion_and_a_rejection_sticks() {
    let (_dir, home) = home_with_denials(&[
        "https://pypi.org/simple/requests/?token=x",
        "https://pypi.org/simple/requests/",
        "https://a.com/v1/fine",
        "https://10.0.0.1/",
    ]);
    sync(&home, "dev-aaaaa").unwrap();
    sync(&home, "dev-aaaaa").unwrap();
    let listed = apply::pending(&home).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let p = &listed[0];
    assert_eq!(p.proposal.source, Origin::Denied);
    assert_eq!(
        p.proposal.request.summary(),
        "route pypi.org /simple/requests/"
    );
    assert!(
        p.preview
            .lines
            .contains(&"a new route to pypi.org, /simple/requests/".to_owned()),
        "{:?}",
        p.preview
    );

    apply::reject(&home, &p.proposal.id, Some("not needed")).unwrap();
    let queue = Queue::new(&home.bottle("dev-aaaaa").suggestions_dir());
    assert!(queue.archived(&p.proposal.id).is_some(), "archived at once");
    let audit = crate::proposal::audit::read(&home, "dev-aaaaa");
    assert_eq!(audit[0].actor, "denied");
    assert_eq!(audit[0].decision, "rejected");
    sync(&home, "dev-aaaaa").unwrap();
    assert!(
        apply::pending(&home).unwrap().is_empty(),
        "rejected stays so"
    );
}

#[test]
fn a_planted_link_is_not_read() {
    let (_dir, home) = home_with_denials(&[]);
    let bottle = home.bottle("dev-aaaaa");
    let elsewhere = bottle.root().join("elsewhere.jsonl");
    std::fs::write(
        &elsewhere,
        line("deny", Some("pipelock-block"), "https://pypi.org/") + "\n",
    )
    .unwrap();
    std::fs::remove_file(bottle.egress_decisions()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, bottle.egress_decisions()).unwrap();
    sync(&home, "dev-aaaaa").unwrap();
    assert!(apply::pending(&home).unwrap().is_empty());
    assert!(tail(&elsewhere).is_some());
}

#[test]
fn the_tail_keeps_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    let one = line("deny", Some("pipelock-block"), "https://pypi.org/x");
    let text = format!("{one}\n").repeat((TAIL as usize / one.len()) + 10);
    std::fs::write(&path, &text).unwrap();
    let got = tail(&path).unwrap();
    assert!(got.len() as u64 <= TAIL);
    assert!(got.lines().all(|l| l == one), "only whole lines");
}

#[test]
fn a_bottle_being_changed_is_left_for_the_next_change() {
    let (_dir, home) = home_with_denials(&["https://pypi.org/simple/x"]);
    let held = home.lock_bottle("dev-aaaaa").unwrap();
    sync(&home, "dev-aaaaa").unwrap();
    assert!(
        apply::pending(&home).unwrap().is_empty(),
        "waits, does not block"
    );
    drop(held);
    sync(&home, "dev-aaaaa").unwrap();
    assert_eq!(apply::pending(&home).unwrap().len(), 1);
}

#[test]
fn a_suggestion_the_routes_came_to_allow_is_withdrawn() {
    let (_dir, home) = home_with_denials(&["https://pypi.org/simple/x"]);
    sync(&home, "dev-aaaaa").unwrap();
    let id = apply::pending(&home).unwrap()[0].proposal.id.clone();
    // The operator approved the agent's own ask for the host meanwhile.
    let bottle = home.bottle("dev-aaaaa");
    let config = routes(&[("a.com", &["/v1/"]), ("pypi.org", &[])]);
    std::fs::write(
        bottle.egress_routes(),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    sync(&home, "dev-aaaaa").unwrap();
    assert!(apply::pending(&home).unwrap().is_empty());
    let queue = Queue::new(&bottle.suggestions_dir());
    assert!(queue.find(&id).is_none());
    let archived = queue.archived(&id).unwrap();
    assert_eq!(
        (archived.response.decision, archived.response.replaced_by),
        (crate::proposal::Decision::Withdrawn, None)
    );
}

/// A suggestion that grows is a new suggestion: the one the operator may
/// have read is withdrawn, not rewritten, so approving it by its id
/// cannot grant the grown paths.
#[test]
fn a_grown_suggestion_is_a_new_one_and_the_old_is_withdrawn() {
    let (_dir, home) = home_with_denials(&["https://pypi.org/simple/x"]);
    sync(&home, "dev-aaaaa").unwrap();
    let first = apply::pending(&home).unwrap().remove(0).proposal;
    assert_eq!(first.request.summary(), "route pypi.org /simple/");
    let bottle = home.bottle("dev-aaaaa");
    let mut d = Decision::new("deny", "GET", "https://pypi.org/").because("no route");
    d.tool = Some("pipelock-block");
    Log::open(&bottle.egress_decisions()).record(&d);
    sync(&home, "dev-aaaaa").unwrap();
    let listed = apply::pending(&home).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let grown = &listed[0].proposal;
    assert_ne!(grown.id, first.id, "a new id");
    assert_eq!(grown.replaces.as_deref(), Some(first.id.as_str()));
    assert_eq!(grown.request.summary(), "route pypi.org /");
    let queue = Queue::new(&bottle.suggestions_dir());
    let old = queue.archived(&first.id).unwrap();
    assert_eq!(old.proposal, first, "the old one as it was read");
    assert_eq!(old.response.decision, crate::proposal::Decision::Withdrawn);
    assert_eq!(old.response.replaced_by.as_deref(), Some(grown.id.as_str()));
    assert!(matches!(
        apply::locate(&home, &first.id),
        Err(apply::ApplyError::NotFound(_))
    ));
}
