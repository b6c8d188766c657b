use super::*;
use crate::supervise::proposal::Request;

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
