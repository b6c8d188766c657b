//! `bot-bottle events [--json]`: what the dashboard hears, as a stream for
//! scripts and notification bridges: a bottle up or down, frozen or
//! thawed, asleep or awake, stopped by the engine; a proposal new or
//! decided; a request egress denied; a seal check. One line an event (a
//! JSON object with `--json`), from when the command starts; it runs until
//! interrupted.
//!
//! ```text
//! every second: look (the bottles, the proposals, the new lines of each
//!               decision log) → what changed since the last look → print
//! ```
//!
//! `changes` is pure: two looks in, events out. Everything shown came from
//! a sidecar's file or the agent's requests: made inert first.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::Failure;
use crate::backend::{self, ActiveBottle};
use crate::state::Home;
use crate::supervise::apply;
use crate::text::inert;

#[derive(Debug, Args)]
pub(super) struct EventsArgs {
    /// One JSON object a line instead of text.
    #[arg(long)]
    json: bool,
}

/// What one look saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Look {
    /// This home's bottles, by identity.
    bottles: BTreeMap<String, Bottle>,
    /// The pending proposals: (bottle, id) → (tool, summary).
    proposals: BTreeMap<(String, String), (String, String)>,
    /// The requests egress denied since the last look.
    denied: Vec<Denied>,
}

/// A bottle, as far as events go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Bottle {
    agent: String,
    backend: String,
    frozen: bool,
    asleep: bool,
    stopped: bool,
    /// The last seal check: (when, sealed, what failed first).
    seal: Option<(u64, bool, Option<String>)>,
}

impl Bottle {
    fn from_active(b: &ActiveBottle) -> Bottle {
        Bottle {
            agent: b.agent.clone(),
            backend: b.backend.clone(),
            frozen: b.frozen,
            asleep: b.asleep,
            stopped: b.stopped,
            seal: b.seal.as_ref().map(|r| {
                let first = (r.failed.first())
                    .or(r.unchecked.first())
                    .map(|f| format!("{}: {}", f.what, f.got));
                (r.checked_at, r.sealed(), first)
            }),
        }
    }
}

/// A request egress denied, from its decision log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct Denied {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    reason: Option<String>,
}

/// One event, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    BottleUp {
        slug: String,
        agent: String,
        backend: String,
    },
    BottleDown {
        slug: String,
    },
    Frozen {
        slug: String,
    },
    Thawed {
        slug: String,
    },
    Asleep {
        slug: String,
    },
    Awake {
        slug: String,
    },
    /// The engine stopped its agent (`bot-bottle resume` brings it back).
    Stopped {
        slug: String,
    },
    ProposalNew {
        slug: String,
        id: String,
        tool: String,
        summary: String,
    },
    /// It left the queue: approved, rejected or withdrawn.
    ProposalDecided {
        slug: String,
        id: String,
        tool: String,
    },
    Denied {
        slug: String,
        method: String,
        url: String,
        reason: String,
    },
    Verified {
        slug: String,
        sealed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        failed: Option<String>,
    },
}

impl Event {
    /// The event as one line of text.
    fn text(&self) -> String {
        match self {
            Event::BottleUp {
                slug,
                agent,
                backend,
            } => format!("{slug} up ({agent} on {backend})"),
            Event::BottleDown { slug } => format!("{slug} down"),
            Event::Frozen { slug } => format!("{slug} frozen"),
            Event::Thawed { slug } => format!("{slug} thawed"),
            Event::Asleep { slug } => format!("{slug} asleep"),
            Event::Awake { slug } => format!("{slug} awake"),
            Event::Stopped { slug } => {
                format!("{slug} stopped by the engine (bot-bottle resume {slug})")
            }
            Event::ProposalNew {
                slug,
                id,
                tool,
                summary,
            } => {
                format!("{slug} asks ({tool} {id}): {summary}")
            }
            Event::ProposalDecided { slug, id, tool } => format!("{slug}: {tool} {id} decided"),
            Event::Denied {
                slug,
                method,
                url,
                reason,
            } => {
                format!("{slug} denied {method} {url} ({reason})")
            }
            Event::Verified {
                slug, sealed: true, ..
            } => format!("{slug} sealed ✓"),
            Event::Verified { slug, failed, .. } => {
                format!("{slug} NOT SEALED: {}", failed.as_deref().unwrap_or("?"))
            }
        }
    }
}

/// What changed from `before` to `now`, in a stable order.
fn changes(before: &Look, now: &Look) -> Vec<Event> {
    let mut out = Vec::new();
    for (s, b) in &now.bottles {
        let old = before.bottles.get(s);
        match old {
            None => out.push(Event::BottleUp {
                slug: s.clone(),
                agent: b.agent.clone(),
                backend: b.backend.clone(),
            }),
            Some(old) => {
                let flips = [
                    (
                        old.frozen,
                        b.frozen,
                        Event::Frozen { slug: s.clone() },
                        Event::Thawed { slug: s.clone() },
                    ),
                    (
                        old.asleep,
                        b.asleep,
                        Event::Asleep { slug: s.clone() },
                        Event::Awake { slug: s.clone() },
                    ),
                ];
                for (was, is, on, off) in flips {
                    match (was, is) {
                        (false, true) => out.push(on),
                        (true, false) => out.push(off),
                        _ => {}
                    }
                }
                if b.stopped && !old.stopped {
                    out.push(Event::Stopped { slug: s.clone() });
                }
            }
        }
        // A check not seen before (a new bottle's: its bring-up check).
        let seen_at = old.and_then(|o| o.seal.as_ref()).map(|(at, ..)| *at);
        if let Some((at, sealed, failed)) = &b.seal
            && seen_at != Some(*at)
        {
            out.push(Event::Verified {
                slug: s.clone(),
                sealed: *sealed,
                failed: failed.clone(),
            });
        }
    }
    for s in before
        .bottles
        .keys()
        .filter(|s| !now.bottles.contains_key(*s))
    {
        out.push(Event::BottleDown { slug: s.clone() });
    }
    for ((s, id), (tool, summary)) in &now.proposals {
        if !before.proposals.contains_key(&(s.clone(), id.clone())) {
            out.push(Event::ProposalNew {
                slug: s.clone(),
                id: id.clone(),
                tool: tool.clone(),
                summary: summary.clone(),
            });
        }
    }
    for ((s, id), (tool, _)) in &before.proposals {
        if !now.proposals.contains_key(&(s.clone(), id.clone())) {
            out.push(Event::ProposalDecided {
                slug: s.clone(),
                id: id.clone(),
                tool: tool.clone(),
            });
        }
    }
    for d in &now.denied {
        out.push(Event::Denied {
            slug: d.slug.clone(),
            method: d.method.clone(),
            url: d.url.clone(),
            reason: d.reason.clone().unwrap_or_default(),
        });
    }
    out
}

/// Where each bottle's decision log was read up to.
type Offsets = BTreeMap<String, u64>;

/// The lines of `slug`'s decision log past its offset that are denials
/// (the offset moves to the end; a rotated log starts again at 0). At
/// most 256 KiB a look: the agent decides how many requests there are.
fn new_denials(home: &Home, slug: &str, offsets: &mut Offsets) -> Vec<Denied> {
    let path = home.bottle(slug).egress_decisions();
    let Ok(mut file) = std::fs::File::open(&path) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let Some(from) = offsets.get(slug).copied() else {
        // First seen: what it logged before is history, not an event.
        offsets.insert(slug.to_owned(), len);
        return Vec::new();
    };
    let from = if len < from { 0 } else { from };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err()
        || file.take(256 * 1024).read_to_end(&mut bytes).is_err()
    {
        return Vec::new();
    }
    // Only whole lines: a line being written is read next time.
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    offsets.insert(slug.to_owned(), from + whole as u64);
    parse_denials(slug, &bytes[..whole])
}

/// The denials among decision-log lines, their text made inert.
fn parse_denials(slug: &str, lines: &[u8]) -> Vec<Denied> {
    #[derive(serde::Deserialize)]
    struct Line {
        action: String,
        #[serde(flatten)]
        denied: Denied,
    }
    String::from_utf8_lossy(lines)
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .filter(|l| l.action == "deny")
        .map(|l| Denied {
            slug: slug.to_owned(),
            method: inert(&l.denied.method),
            url: inert(&l.denied.url),
            reason: l.denied.reason.map(|r| inert(&r)),
        })
        .collect()
}

/// One look at this home: its bottles, the pending proposals, and the new
/// denials.
fn look(home: &Home, offsets: &mut Offsets) -> Result<Look, Failure> {
    let mut out = Look::default();
    for b in backend::enumerate_all(home, false)? {
        out.denied.extend(new_denials(home, &b.slug, offsets));
        out.bottles.insert(b.slug.clone(), Bottle::from_active(&b));
    }
    offsets.retain(|slug, _| out.bottles.contains_key(slug));
    for p in apply::pending(home)? {
        let p = p.proposal;
        let request = &p.request;
        out.proposals.insert(
            (inert(&p.slug), inert(&p.id)),
            (request.tool().to_owned(), inert(&request.summary())),
        );
    }
    Ok(out)
}

pub(super) fn run(args: EventsArgs) -> Result<ExitCode, Failure> {
    let home = Home::from_env()?;
    let mut offsets = Offsets::new();
    let mut before = look(&home, &mut offsets)?;
    let mut stdout = std::io::stdout();
    let mut failing = false;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        // A look that fails (the engine restarting) is said once, and the
        // stream goes on.
        let now = match look(&home, &mut offsets) {
            Ok(now) => now,
            Err(e) => {
                if !failing {
                    eprintln!(
                        "bot-bottle: events: {}; trying again every second",
                        e.message
                    );
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        let time = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        for event in changes(&before, &now) {
            let line = match args.json {
                true => {
                    let mut value = serde_json::to_value(&event).unwrap_or_default();
                    if let Some(map) = value.as_object_mut() {
                        map.insert("time".into(), time.clone().into());
                    }
                    value.to_string()
                }
                false => format!("{time} {}", event.text()),
            };
            // A closed pipe (the reader went away) ends the stream.
            if writeln!(stdout, "{line}")
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return Ok(ExitCode::SUCCESS);
            }
        }
        before = Look {
            denied: Vec::new(),
            ..now
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bottle() -> Bottle {
        Bottle {
            agent: "shell".into(),
            backend: "docker".into(),
            ..Bottle::default()
        }
    }

    fn look(bottles: &[(&str, Bottle)], proposals: &[(&str, &str, &str)]) -> Look {
        Look {
            bottles: bottles
                .iter()
                .map(|(s, b)| ((*s).to_owned(), b.clone()))
                .collect(),
            proposals: proposals
                .iter()
                .map(|(s, id, tool)| {
                    (
                        ((*s).to_owned(), (*id).to_owned()),
                        ((*tool).to_owned(), "route x".to_owned()),
                    )
                })
                .collect(),
            denied: Vec::new(),
        }
    }

    #[test]
    fn each_change_is_one_event() {
        let frozen = Bottle {
            frozen: true,
            ..bottle()
        };
        let asleep = Bottle {
            asleep: true,
            ..bottle()
        };
        let stopped = Bottle {
            stopped: true,
            ..bottle()
        };
        let checked = |at, sealed| Bottle {
            seal: Some((
                at,
                sealed,
                (!sealed).then(|| "the engine host: connected".to_owned()),
            )),
            ..bottle()
        };
        let json = |before: Look, now: Look| -> Vec<String> {
            changes(&before, &now)
                .iter()
                .map(|e| serde_json::to_string(e).unwrap())
                .collect()
        };
        let cases: Vec<(Look, Look, Vec<&str>)> = vec![
            (look(&[], &[]), look(&[], &[]), vec![]),
            (
                look(&[], &[]),
                look(&[("a-1", bottle())], &[]),
                vec![r#"{"event":"bottle_up","slug":"a-1","agent":"shell","backend":"docker"}"#],
            ),
            (
                look(&[], &[]),
                look(&[("a-1", checked(10, true))], &[]),
                vec![
                    r#"{"event":"bottle_up","slug":"a-1","agent":"shell","backend":"docker"}"#,
                    r#"{"event":"verified","slug":"a-1","sealed":true}"#,
                ],
            ),
            (
                look(&[("a-1", bottle())], &[]),
                look(&[], &[]),
                vec![r#"{"event":"bottle_down","slug":"a-1"}"#],
            ),
            (
                look(&[("a-1", bottle())], &[]),
                look(&[("a-1", frozen.clone())], &[]),
                vec![r#"{"event":"frozen","slug":"a-1"}"#],
            ),
            (
                look(&[("a-1", frozen)], &[]),
                look(&[("a-1", bottle())], &[]),
                vec![r#"{"event":"thawed","slug":"a-1"}"#],
            ),
            (
                look(&[("a-1", bottle())], &[]),
                look(&[("a-1", asleep.clone())], &[]),
                vec![r#"{"event":"asleep","slug":"a-1"}"#],
            ),
            (
                look(&[("a-1", asleep)], &[]),
                look(&[("a-1", bottle())], &[]),
                vec![r#"{"event":"awake","slug":"a-1"}"#],
            ),
            (
                look(&[("a-1", bottle())], &[]),
                look(&[("a-1", stopped)], &[]),
                vec![r#"{"event":"stopped","slug":"a-1"}"#],
            ),
            (
                look(&[("a-1", bottle())], &[]),
                look(&[("a-1", checked(10, true))], &[]),
                vec![r#"{"event":"verified","slug":"a-1","sealed":true}"#],
            ),
            // The same check seen again is no event; a new one is.
            (
                look(&[("a-1", checked(10, true))], &[]),
                look(&[("a-1", checked(10, true))], &[]),
                vec![],
            ),
            (
                look(&[("a-1", checked(10, true))], &[]),
                look(&[("a-1", checked(20, false))], &[]),
                vec![
                    r#"{"event":"verified","slug":"a-1","sealed":false,"failed":"the engine host: connected"}"#,
                ],
            ),
            (
                look(&[], &[("a-1", "p1", "egress-block")]),
                look(&[], &[("a-1", "p2", "budget")]),
                vec![
                    r#"{"event":"proposal_new","slug":"a-1","id":"p2","tool":"budget","summary":"route x"}"#,
                    r#"{"event":"proposal_decided","slug":"a-1","id":"p1","tool":"egress-block"}"#,
                ],
            ),
        ];
        for (before, now, want) in cases {
            assert_eq!(
                json(before.clone(), now.clone()),
                want,
                "{before:?} → {now:?}"
            );
        }
    }

    #[test]
    fn denials_are_read_from_new_whole_lines_and_made_inert() {
        let (_dir, home) = Home::temp();
        let slug = "a-1";
        let log = home.bottle(slug).egress_decisions();
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let deny = |url: &str| {
            format!(
                "{{\"time\":\"t\",\"action\":\"deny\",\"method\":\"GET\",\"url\":\"{url}\",\"reason\":\"no route\"}}\n"
            )
        };
        let allow =
            "{\"time\":\"t\",\"action\":\"allow\",\"method\":\"GET\",\"url\":\"https://ok/\"}\n";
        std::fs::write(&log, deny("https://old/")).unwrap();
        let mut offsets = Offsets::new();
        assert!(new_denials(&home, slug, &mut offsets).is_empty(), "history");
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let half = "{\"action\":\"deny\",\"url\":\"https://half";
        write!(file, "{}{allow}{half}", deny("https://a/\\u001b[2J")).unwrap();
        let got = new_denials(&home, slug, &mut offsets);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].url, inert("https://a/\u{1b}[2J"));
        assert!(!got[0].url.contains('\u{1b}'));
        writeln!(file, "/\"}}").unwrap();
        let got = new_denials(&home, slug, &mut offsets);
        assert_eq!(got.len(), 1, "the half line, once whole");
        assert_eq!(got[0].url, "https://half/");
        // Rotated: shorter than the offset, read from the start.
        std::fs::write(&log, deny("https://new/")).unwrap();
        let got = new_denials(&home, slug, &mut offsets);
        assert_eq!(
            got.iter().map(|d| d.url.as_str()).collect::<Vec<_>>(),
            ["https://new/"]
        );
    }
}
