//! What a launch adds to the plan's preflight: the label and color the
//! operator chose, which definitions a project's manifest made, and the
//! backend's own rows in place of docker's. Pure: rows in, rows out.

use crate::manifest::{self, Agent, Manifest};
use crate::state::Metadata;

/// Adds the label row after the identity (or second, when there is no
/// identity row), then marks the agent's and the bottles' rows with the
/// project that defined them.
pub(super) fn add_launch_rows(
    rows: &mut Vec<(String, String)>,
    manifest: &Manifest,
    agent: &Agent,
    metadata: &Metadata,
) {
    // What the operator chose to tell this bottle by, after its identity.
    let at = rows
        .iter()
        .position(|(l, _)| l == "identity")
        .map_or(rows.len().min(1), |i| i + 1);
    rows.insert(
        at,
        (
            "label".to_owned(),
            format!("{} (color {})", metadata.label, metadata.color),
        ),
    );
    mark_definitions(rows, manifest, agent, &metadata.bottles);
}

/// Puts each of `lines` in place of the row with its label, or at the end
/// when there is none.
pub(super) fn put_rows(rows: &mut Vec<(String, String)>, lines: Vec<(String, String)>) {
    for (label, value) in lines {
        match rows.iter_mut().find(|(l, _)| *l == label) {
            Some(row) => row.1 = value,
            None => rows.push((label, value)),
        }
    }
}

/// The agent's and the bottles' rows say which of them a project's
/// manifest defined, and what of the operator's (or built-in) each
/// replaced.
fn mark_definitions(
    rows: &mut [(String, String)],
    manifest: &Manifest,
    agent: &Agent,
    bottles: &[String],
) {
    let mark = |kind: &str, name: &str, origin: &manifest::Origin| match (
        origin.is_project(),
        manifest.project.replaces(kind, name),
    ) {
        (false, _) => String::new(),
        (true, Some(replaced)) => format!(" (from {origin}, replaces {})", replaced.described()),
        (true, None) => origin.mark(),
    };
    for (label, value) in rows.iter_mut() {
        match label.as_str() {
            "agent" => value.push_str(&mark("agent", &agent.name, &agent.origin)),
            "bottles" => {
                *value = bottles
                    .iter()
                    .map(|b| {
                        let origin = manifest.bottles.get(b).map(|x| &x.origin);
                        let marked = origin.map(|o| mark("bottle", b, o)).unwrap_or_default();
                        format!("{b}{marked}")
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Origin;
    use crate::plan::testing;
    use crate::provider::Provider;

    fn metadata(bottles: &[&str]) -> Metadata {
        Metadata {
            agent: "dev".into(),
            bottles: bottles.iter().map(|b| b.to_string()).collect(),
            cwd: "/proj".into(),
            copy_cwd: false,
            include_ignored: false,
            label: "Fix".into(),
            color: "cyan".into(),
            backend: "docker".into(),
            started_at: "1970-01-01T00:00:00Z".into(),
            provider: Provider::Shell,
            session: Default::default(),
        }
    }

    fn rows(labels: &[&str]) -> Vec<(String, String)> {
        labels
            .iter()
            .map(|l| (l.to_string(), format!("v-{l}")))
            .collect()
    }

    fn labels(rows: &[(String, String)]) -> Vec<&str> {
        rows.iter().map(|(l, _)| l.as_str()).collect()
    }

    #[test]
    fn backend_rows_replace_rows_of_their_label_or_come_last() {
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&["agent", "network"], &["network"], &["agent", "network"]),
            (&["agent"], &["networks"], &["agent", "networks"]),
            (&[], &["a", "b"], &["a", "b"]),
            (&["a", "b"], &[], &["a", "b"]),
        ];
        for (before, lines, after) in cases {
            let mut r = rows(before);
            let new: Vec<(String, String)> = lines
                .iter()
                .map(|l| (l.to_string(), "new".to_owned()))
                .collect();
            put_rows(&mut r, new);
            assert_eq!(labels(&r), *after, "{before:?} + {lines:?}");
            for (l, v) in &r {
                let replaced = lines.contains(&l.as_str());
                assert_eq!(v == "new", replaced, "{l}: {v}");
            }
        }
    }

    #[test]
    fn the_label_comes_after_the_identity_or_second() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["agent", "identity", "bottles"],
                &["agent", "identity", "label", "bottles"],
            ),
            (&["agent", "bottles"], &["agent", "label", "bottles"]),
            (&[], &["label"]),
        ];
        let agent = testing::agent(Provider::Shell);
        for (before, after) in cases {
            let mut r = rows(before);
            add_launch_rows(&mut r, &Manifest::default(), &agent, &metadata(&[]));
            assert_eq!(labels(&r), *after, "{before:?}");
            let label = r
                .iter()
                .find(|(l, _)| l == "label")
                .map(|(_, v)| v.as_str());
            assert_eq!(label, Some("Fix (color cyan)"));
        }
    }

    #[test]
    fn a_project_s_agent_and_bottles_are_marked_and_the_operator_s_are_not() {
        let project = Origin::Project("bot-bottle.json".into());
        let mut manifest = Manifest::default();
        for (name, origin) in [("ours", Origin::Embedded), ("theirs", project.clone())] {
            let mut b = testing::bottle();
            b.origin = origin;
            manifest.bottles.insert(name.into(), b);
        }
        let cases = [
            (Origin::Embedded, "dev"),
            (project.clone(), "dev (from ./bot-bottle.json)"),
        ];
        for (origin, agent_row) in cases {
            let mut agent = testing::agent(Provider::Shell);
            agent.origin = origin;
            let mut r = rows(&["agent", "bottles"]);
            r[0].1 = "dev".into();
            let meta = metadata(&["ours", "theirs", "gone"]);
            add_launch_rows(&mut r, &manifest, &agent, &meta);
            assert_eq!(r[0], ("agent".into(), agent_row.into()));
            assert_eq!(
                r[2],
                (
                    "bottles".into(),
                    "ours + theirs (from ./bot-bottle.json) + gone".into()
                )
            );
        }
    }
}
