//! `bot-bottle list active [--json] [--all-homes]`: the running bottles,
//! each with the branches its git gate landed in the operator's
//! repository; this home's, or with `--all-homes` every home's on the
//! engine (the others' read-only, their home's identity shown).

use std::process::ExitCode;

use clap::Subcommand;

use super::Failure;
use crate::backend::{self, ActiveBottle, active};
use crate::state::Home;

#[derive(Debug, Subcommand)]
pub(super) enum ListCommand {
    /// The running bottles: backend, identity, agent, start time, sidecars
    /// up, and the branches each one landed.
    Active {
        /// A JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Also the bottles other homes made on the engine, with their
        /// home's identity (`other_home`); they can be seen, not changed.
        #[arg(long)]
        all_homes: bool,
    },
}

pub(super) fn run(cmd: ListCommand) -> Result<ExitCode, Failure> {
    let ListCommand::Active { json, all_homes } = cmd;
    let home = Home::from_env()?;
    let bottles = backend::enumerate_all(&home, all_homes)?;
    if json {
        let text = serde_json::to_string_pretty(&bottles)
            .map_err(|e| Failure::runtime(e.to_string(), None))?;
        println!("{text}");
    } else if bottles.is_empty() {
        eprintln!("bot-bottle: no bottles are running");
    } else {
        print!("{}", table(&bottles, all_homes, crate::verify::now()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The table; with `homes`, a first column names each bottle's home
/// (`this`, another's identity, `?` for an older bottle without one).
fn table(bottles: &[ActiveBottle], homes: bool, now: u64) -> String {
    let mut header = vec!["BACKEND", "SLUG", "AGENT", "STARTED", "SERVICES"];
    if homes {
        header.insert(0, "HOME");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for b in bottles {
        let mut row = vec![
            b.backend.clone(),
            b.slug.clone(),
            b.agent.clone(),
            b.started_at.clone(),
            active::services_text(b),
        ];
        if homes {
            let home = match b.other_home.as_deref() {
                None => "this",
                Some("") => "?",
                Some(id) => id,
            };
            row.insert(0, home.to_owned());
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let line = |r: &Vec<String>| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        format!("{}\n", cells.join("  ").trim_end())
    };
    let mut out = line(&rows[0]);
    for (row, b) in rows[1..].iter().zip(bottles) {
        out.push_str(&line(row));
        for landed in &b.landed {
            out.push_str(&format!("    landed: {}\n", landed.text()));
        }
        if let Some(usage) = &b.usage {
            out.push_str(&format!("    tokens: {}\n", active::tokens_text(usage)));
        }
        if let Some(seal) = &b.seal {
            out.push_str(&format!("    seal: {}\n", seal.summary(now)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Landed;

    fn bottle(slug: &str, landed: Vec<Landed>) -> ActiveBottle {
        let mut bottle = ActiveBottle::new(
            "docker",
            slug,
            None,
            (Some("shell"), Some("2026-12-03T04:00:00Z")),
            vec!["egress".into(), "git-gate".into()],
        );
        bottle.landed = landed;
        bottle
    }

    fn feature() -> Landed {
        Landed {
            branch: "feature".into(),
            landed_as: "bot-bottle/dev-aaaaa/feature".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            forwarded: vec!["up".into()],
        }
    }

    #[test]
    fn the_table_shows_landed_branches_under_their_bottle() {
        let text = table(
            &[bottle("dev-aaaaa", vec![feature()]), bottle("b-1", vec![])],
            false,
            0,
        );
        assert_eq!(
            text,
            "\
BACKEND  SLUG       AGENT  STARTED               SERVICES
docker   dev-aaaaa  shell  2026-12-03T04:00:00Z  egress,git-gate
    landed: feature → bot-bottle/dev-aaaaa/feature @0123456 (→ up)
docker   b-1        shell  2026-12-03T04:00:00Z  egress,git-gate
"
        );
    }

    #[test]
    fn a_frozen_or_sleeping_bottle_says_so() {
        let frozen = ActiveBottle {
            frozen: true,
            ..bottle("dev-aaaaa", vec![])
        };
        let text = table(std::slice::from_ref(&frozen), false, 0);
        assert!(text.contains("  FROZEN egress,git-gate\n"), "{text}");
        assert_eq!(serde_json::to_value(&frozen).unwrap()["frozen"], true);
        let asleep = ActiveBottle {
            asleep: true,
            ..bottle("dev-aaaaa", vec![])
        };
        let text = table(std::slice::from_ref(&asleep), false, 0);
        assert!(text.contains("  ASLEEP egress,git-gate\n"), "{text}");
        assert_eq!(serde_json::to_value(&asleep).unwrap()["asleep"], true);
    }

    #[test]
    fn the_seal_is_shown_with_its_age_and_in_json() {
        let report = |failed: Vec<crate::verify::Failure>| crate::verify::Report {
            checked_at: 1000,
            probes: 14,
            failed,
            unchecked: Vec::new(),
        };
        let sealed = ActiveBottle {
            seal: Some(report(Vec::new())),
            ..bottle("dev-aaaaa", vec![])
        };
        let text = table(std::slice::from_ref(&sealed), false, 1200);
        assert!(text.ends_with("\n    seal: sealed ✓ 3m\n"), "{text}");
        let json = serde_json::to_value(&sealed).unwrap();
        assert_eq!(json["seal"]["checked_at"], 1000);
        assert_eq!(json["seal"]["probes"], 14);
        assert_eq!(json["seal"]["failed"], serde_json::json!([]));
        let broken = ActiveBottle {
            seal: Some(report(vec![crate::verify::Failure {
                what: "the engine host at 10.0.0.1".into(),
                got: "connected to 10.0.0.1 port 22".into(),
            }])),
            ..bottle("dev-aaaaa", vec![])
        };
        let text = table(std::slice::from_ref(&broken), false, 1010);
        assert!(
            text.ends_with("\n    seal: NOT SEALED 10s: the engine host at 10.0.0.1 (connected to 10.0.0.1 port 22)\n"),
            "{text}"
        );
        assert!(
            serde_json::to_value(bottle("a-1", vec![]))
                .unwrap()
                .get("seal")
                .is_none()
        );
    }

    #[test]
    fn with_all_homes_the_table_names_each_bottles_home() {
        let theirs = |id: &str| ActiveBottle {
            other_home: Some(id.into()),
            ..bottle("c-3", vec![])
        };
        let text = table(
            &[bottle("a-1", vec![]), theirs("0123456789ab"), theirs("")],
            true,
            0,
        );
        assert_eq!(
            text,
            "\
HOME          BACKEND  SLUG  AGENT  STARTED               SERVICES
this          docker   a-1   shell  2026-12-03T04:00:00Z  egress,git-gate
0123456789ab  docker   c-3   shell  2026-12-03T04:00:00Z  egress,git-gate
?             docker   c-3   shell  2026-12-03T04:00:00Z  egress,git-gate
"
        );
        let json = serde_json::to_value([bottle("a-1", vec![]), theirs("0123456789ab")]).unwrap();
        assert!(json[0].get("other_home").is_none(), "this home's: no key");
        assert_eq!(json[1]["other_home"], "0123456789ab");
    }

    #[test]
    fn json_has_the_landed_branches() {
        let (_dir, home) = Home::temp();
        let gate = home.bottle("dev-aaaaa").gate_dir();
        std::fs::create_dir_all(&gate).unwrap();
        let landed = crate::gitgate::Landed {
            branches: vec![crate::gitgate::LandedBranch {
                branch: "feature".into(),
                landed_as: "bot-bottle/dev-aaaaa/feature".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                at: "2026-12-03T04:00:00Z".into(),
                forwarded: vec!["up".into()],
            }],
        };
        std::fs::write(
            gate.join(crate::gitgate::LANDED_FILE),
            serde_json::to_vec(&landed).unwrap(),
        )
        .unwrap();
        let read = crate::backend::active::landed(&home, "dev-aaaaa");
        assert_eq!(read, [feature()]);
        let json = serde_json::to_value([bottle("dev-aaaaa", read)]).unwrap();
        assert_eq!(
            json[0]["landed"],
            serde_json::json!([{"branch": "feature", "landed_as": "bot-bottle/dev-aaaaa/feature",
                "commit": "0123456789abcdef0123456789abcdef01234567", "forwarded": ["up"]}])
        );
        assert!(json[0].get("label").is_none());
    }
}
