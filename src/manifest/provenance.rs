//! Which file set each part of a bottle. A bottle is often several
//! definitions merged (`extends:`, `--bottle`), from the embedded defaults,
//! the operator's files and a project's: the preflight marks the parts a
//! project contributed, and `compose_bottles` refuses a part that reaches
//! the operator's secrets from a project that is not trusted. Pure data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{Bottle, Origin};

/// A part of a bottle that a definition sets or adds to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// `image` or `dockerfile`.
    Image,
    /// One variable of `env`.
    Env(String),
    /// The route to a host (its paths, credential and switches).
    Route(String),
    /// An `ssh` entry: host and key file.
    Ssh(String, PathBuf),
    /// A `git.remotes` entry, by name.
    Remote(String),
    /// An `egress.trust_upstream_ca` file.
    Ca(PathBuf),
}

impl Part {
    /// Whether a later definition adds to this part (a route's paths, the
    /// same ssh entry or CA) rather than replacing it (an image, a
    /// variable's value, a remote of the same name).
    fn accumulates(&self) -> bool {
        matches!(self, Part::Route(_) | Part::Ssh(..) | Part::Ca(_))
    }
}

/// For each part, every file that set it (for a replaced part, the one
/// whose value is in force), in merge order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance(BTreeMap<Part, Vec<Origin>>);

impl Provenance {
    /// One definition's parts, all from its own file.
    pub fn of(bottle: &Bottle) -> Provenance {
        let mut parts = Vec::new();
        if bottle.image.is_some() {
            parts.push(Part::Image);
        }
        parts.extend(bottle.env.keys().cloned().map(Part::Env));
        parts.extend(
            bottle
                .egress
                .routes
                .iter()
                .map(|r| Part::Route(r.host.clone())),
        );
        parts.extend(
            bottle
                .ssh
                .iter()
                .map(|e| Part::Ssh(e.host.clone(), e.identity_file.clone())),
        );
        parts.extend(
            bottle
                .git
                .remotes
                .iter()
                .map(|r| Part::Remote(r.name.clone())),
        );
        parts.extend(
            bottle
                .egress
                .trust_upstream_ca
                .iter()
                .cloned()
                .map(Part::Ca),
        );
        Provenance(
            parts
                .into_iter()
                .map(|p| (p, vec![bottle.origin.clone()]))
                .collect(),
        )
    }

    /// `over`'s parts laid on `base`'s, by the rules `resolve::merge`
    /// merges the parts themselves.
    pub fn merge(base: &Provenance, over: &Provenance) -> Provenance {
        let mut out = base.0.clone();
        for (part, origins) in &over.0 {
            let entry = out.entry(part.clone()).or_default();
            if !part.accumulates() {
                entry.clear();
            }
            for origin in origins {
                if !entry.contains(origin) {
                    entry.push(origin.clone());
                }
            }
        }
        Provenance(out)
    }

    /// The files that set `part`; empty when none is recorded.
    fn origins(&self, part: &Part) -> &[Origin] {
        self.0.get(part).map_or(&[], Vec::as_slice)
    }

    /// The project file that set or added to `part`, if one did.
    pub fn project(&self, part: &Part) -> Option<&Origin> {
        self.origins(part).iter().find(|o| o.is_project())
    }

    /// What the preflight adds to the line of `part` (see `Origin::mark`).
    pub(crate) fn mark(&self, part: &Part) -> String {
        self.project(part).map(Origin::mark).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prov(parts: &[(Part, &[&Origin])]) -> Provenance {
        Provenance(
            parts
                .iter()
                .map(|(p, o)| (p.clone(), o.iter().map(|o| (*o).clone()).collect()))
                .collect(),
        )
    }

    #[test]
    fn merging_keeps_every_contributor_of_what_adds_up_and_the_last_of_what_is_replaced() {
        let home = Origin::File("/h/bot-bottle.json".into());
        let proj = Origin::Project("bot-bottle.json".into());
        let base = prov(&[
            (Part::Image, &[&Origin::Embedded]),
            (Part::Env("A".into()), &[&home]),
            (Part::Route("a.test".into()), &[&Origin::Embedded]),
            (Part::Remote("up".into()), &[&home]),
            (Part::Ca("/ca".into()), &[&home]),
        ]);
        let over = prov(&[
            (Part::Image, &[&proj]),
            (Part::Env("B".into()), &[&proj]),
            (Part::Route("a.test".into()), &[&proj]),
            (Part::Remote("up".into()), &[&proj]),
            (Part::Ca("/ca".into()), &[&proj]),
        ]);
        let m = Provenance::merge(&base, &over);
        let cases: &[(Part, &[&Origin])] = &[
            (Part::Image, &[&proj]),
            (Part::Env("A".into()), &[&home]),
            (Part::Env("B".into()), &[&proj]),
            (Part::Route("a.test".into()), &[&Origin::Embedded, &proj]),
            (Part::Remote("up".into()), &[&proj]),
            (Part::Ca("/ca".into()), &[&home, &proj]),
            (Part::Env("C".into()), &[]),
        ];
        for (part, want) in cases {
            let want: Vec<Origin> = want.iter().map(|o| (*o).clone()).collect();
            assert_eq!(m.origins(part), want.as_slice(), "{part:?}");
        }
        assert_eq!(
            m.mark(&Part::Route("a.test".into())),
            " (from ./bot-bottle.json)"
        );
        assert_eq!(m.mark(&Part::Env("A".into())), "");
        // A project part laid under the operator's is still the project's
        // contribution to a route, but not to a replaced value.
        let m = Provenance::merge(&over, &base);
        assert!(m.project(&Part::Route("a.test".into())).is_some());
        assert!(m.project(&Part::Image).is_none());
    }
}
