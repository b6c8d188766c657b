use super::*;
use crate::proposal::Request;

fn proposal(i: usize) -> Proposal {
    Proposal {
        id: format!("m{i}-aaaa"),
        slug: "dev-aaaaa".into(),
        created_at: "2026-12-03T04:00:00.000Z".into(),
        justification: "why".into(),
        request: Request::PipelockBlock {
            failed_url: format!("https://h{i}.com/"),
            host: format!("h{i}.com"),
        },
        source: if i.is_multiple_of(2) {
            Origin::Agent
        } else {
            Origin::Denied
        },
        replaces: None,
    }
}

enum Step {
    /// At this many ms, this many proposals arrive.
    Arrive(u64, usize),
    /// At this many ms, a batch of this count goes out (0: none).
    Take(u64, usize),
}

#[test]
fn a_burst_is_one_run_and_runs_keep_their_distance() {
    use Step::*;
    let settle = Duration::from_millis(1000);
    let gap = Duration::from_millis(30_000);
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "nothing held, nothing sent",
            vec![Take(0, 0), Take(60_000, 0)],
        ),
        (
            "held until it settles",
            vec![Arrive(0, 1), Take(500, 0), Take(1000, 1), Take(1001, 0)],
        ),
        (
            "a burst is one",
            vec![
                Arrive(0, 1),
                Arrive(200, 3),
                Arrive(900, 1),
                Take(1000, 5),
                Take(2000, 0),
            ],
        ),
        (
            "the next waits for the gap, and counts all",
            vec![
                Arrive(0, 1),
                Take(1000, 1),
                Arrive(2000, 2),
                Take(3000, 0),
                Arrive(20_000, 1),
                Take(30_999, 0),
                Take(31_000, 3),
            ],
        ),
        (
            "after a quiet gap, only the settle",
            vec![
                Arrive(0, 1),
                Take(1000, 1),
                Arrive(40_000, 1),
                Take(41_000, 1),
            ],
        ),
        (
            "a flood is counted, listed bounded",
            vec![Arrive(0, 500), Take(1000, 500)],
        ),
    ];
    for (what, steps) in cases {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut t = Throttle::new(settle, gap);
        let mut n = 0;
        for step in steps {
            match step {
                Arrive(ms, count) => {
                    t.arrive(at(ms), (n..n + count).map(proposal).collect());
                    n += count;
                }
                Take(ms, want) => {
                    let got = t.take(at(ms));
                    assert_eq!(got.as_ref().map_or(0, |b| b.count), want, "{what} at {ms}");
                    if let Some(b) = got {
                        assert_eq!(b.proposals.len(), want.min(MAX_LISTED), "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_summary_says_how_many_and_what() {
    let mut t = Throttle::new(Duration::ZERO, Duration::ZERO);
    let now = Instant::now();
    t.arrive(now, (0..5).map(proposal).collect());
    let b = t.take(now).unwrap();
    assert_eq!(
        b.summary,
        "5 new proposals: host h0.com (dev-aaaaa), host h1.com (dev-aaaaa, from denials), host h2.com (dev-aaaaa), ..."
    );
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["count"], 5);
    assert_eq!(json["proposals"][1]["source"], "denied");
    assert_eq!(json["proposals"][1]["request"]["host"], "h1.com");
    assert_eq!(json["proposals"][0]["summary"], "host h0.com (dev-aaaaa)");
}

fn script(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("notify.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_burst_runs_the_command_once_with_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let command = script(
        dir.path(),
        &format!("cat >> '{}'; echo >> '{}'", out.display(), out.display()),
    );
    let (status_tx, mut status_rx) = mpsc::unbounded_channel();
    let tx = spawn(command, move |s| {
        let _ = status_tx.send(s);
    });
    for i in 0..5 {
        tx.send(vec![proposal(i)]).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(SETTLE + Duration::from_millis(1500)).await;
    let text = std::fs::read_to_string(&out).unwrap();
    let runs: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{text}");
    assert_eq!(runs[0]["count"], 5);
    assert_eq!(runs[0]["proposals"].as_array().unwrap().len(), 5);
    assert_eq!(runs[0]["proposals"][4]["id"], "m4-aaaa");
    assert!(status_rx.try_recv().is_err(), "no failure reported");
}

#[tokio::test]
async fn a_failing_or_hanging_command_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Throttle::new(Duration::ZERO, Duration::ZERO);
    let now = Instant::now();
    t.arrive(now, vec![proposal(1)]);
    let batch = t.take(now).unwrap();
    let failing = script(
        dir.path(),
        "cat >/dev/null; echo 'no \x1b[31mwebhook' >&2; exit 3",
    );
    let err = run(&failing, &batch, TIMEOUT).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the notify command failed (exit status: 3): no \\u{1b}[31mwebhook"
    );
    let err = run("sleep 5", &batch, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Timeout), "{err}");
    // A command that ignores its stdin is fine.
    run("true", &batch, TIMEOUT).await.unwrap();
}

/// What an agent could put in a field: an escape sequence (colour, title,
/// clipboard), a bell, DEL, a C1 CSI, a newline, a tab, bidi overrides
/// and a zero-width space.
const NASTY: &str =
    "a\x1b]52;c;ZXZpbA==\x07b\x1b[2J\x7f\u{9b}31m\n\t\u{202e}cod.exe\u{2066}\u{200b}z";

/// Proposals of every kind with `NASTY` in every field an agent (or a
/// sidecar it took over, which writes the queue files) controls.
fn nasty_proposals() -> Vec<Proposal> {
    let n = |s: &str| format!("{s}{NASTY}");
    let requests = [
        Request::EgressBlock {
            host: n("h.com"),
            path_allowlist: vec![n("/p/")],
            auth: Some(crate::proposal::AuthRequest {
                scheme: n("bearer"),
                token_ref: Some(n("TOKEN")),
            }),
        },
        Request::PipelockBlock {
            failed_url: n("https://h.com/"),
            host: n("h.com"),
        },
        Request::CapabilityBlock {
            dockerfile: n("FROM debian\n"),
        },
        Request::GitPush(crate::proposal::GitPush {
            git_ref: n("refs/heads/x"),
            old: n("0"),
            new: n("1"),
            land: true,
            forward: vec![n("up")],
            reasons: vec![n("changes protected path")],
            diffstat: n(" a | 1 +"),
            commits: vec![n("0123456 subject")],
            protected_diff: n("+x"),
        }),
    ];
    requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| {
            let mut p = proposal(i);
            p.id = n("id");
            p.slug = n("slug");
            p.created_at = n("2026");
            p.justification = n("why");
            p.request = request;
            p
        })
        .collect()
}

/// Every string in a JSON value, keys too.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out);
        }),
        _ => {}
    }
}

#[tokio::test]
async fn no_field_reaches_the_command_raw() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stdin");
    let command = script(dir.path(), &format!("cat > '{}'", out.display()));
    let mut t = Throttle::new(Duration::ZERO, Duration::ZERO);
    let now = Instant::now();
    let proposals = nasty_proposals();
    t.arrive(now, proposals.clone());
    let batch = t.take(now).unwrap();
    run(&command, &batch, TIMEOUT).await.unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() || crate::text::inert(&c.to_string()) != c.to_string())
        .collect();
    assert!(
        raw.is_empty(),
        "{} raw characters on stdin, the first: {:?}",
        raw.len(),
        &raw[..raw.len().min(5)]
    );
    // And once the command decodes the JSON: nothing it would act on.
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut all = Vec::new();
    strings(&json, &mut all);
    for s in &all {
        assert_eq!(&crate::text::inert(s), s, "a field is not inert");
    }
    // Every field is there, made visible rather than dropped.
    assert_eq!(json["proposals"].as_array().unwrap().len(), proposals.len());
    let visible = crate::text::inert(NASTY);
    for (i, kind) in [
        "egress-block",
        "pipelock-block",
        "capability-block",
        "git-push",
    ]
    .iter()
    .enumerate()
    {
        let p = &json["proposals"][i];
        assert_eq!(p["request"]["tool"], *kind);
        assert_eq!(p["justification"], format!("why{visible}"));
        assert_eq!(p["slug"], format!("slug{visible}"));
    }
    assert_eq!(
        json["proposals"][3]["request"]["commits"][0],
        format!("0123456 subject{visible}")
    );
}
