//! The labels bot-bottle puts on what it makes for a bottle (containers,
//! networks, machines), so one query per kind finds all of its own.

/// The bottle's identity.
pub const LABEL_SLUG: &str = "dev.bot-bottle.slug";
/// The agent the bottle runs.
pub const LABEL_AGENT: &str = "dev.bot-bottle.agent";
/// Its part in the bottle: a service's name (`agent`, `egress`…), or
/// `seal` for the short-lived container that seals its bridge.
pub const LABEL_ROLE: &str = "dev.bot-bottle.role";
/// The identity of the home that made it (`state::Home::id`).
pub const LABEL_HOME: &str = "dev.bot-bottle.home";

/// Which of the bottles on an engine a home owns: those labelled with its
/// identity and, of those made before bottles carried one, those whose
/// state folder it holds. Another home's bottles are seen only with
/// `--all-homes`, read-only: never stopped or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Homes {
    /// This home's identity (`state::Home::id`).
    pub id: String,
    /// Whether other homes' bottles are seen too.
    pub all: bool,
}

impl Homes {
    /// Whether a bottle labelled `label` (none on an older bottle) is
    /// this home's; `has_state` says whether it has the state folder.
    pub fn owns(&self, label: Option<&str>, has_state: impl FnOnce() -> bool) -> bool {
        match label {
            Some(label) => label == self.id,
            None => has_state(),
        }
    }

    /// Whether it is seen: this home's, or any with `all`.
    pub fn sees(&self, label: Option<&str>, has_state: impl FnOnce() -> bool) -> bool {
        self.all || self.owns(label, has_state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_owns_its_own_and_its_older_bottles() {
        let ours = |all| Homes {
            id: "0123456789ab".into(),
            all,
        };
        // (label, has state, owned)
        let cases = [
            (Some("0123456789ab"), false, true),
            (Some("ba9876543210"), true, false),
            (None, true, true),
            (None, false, false),
        ];
        for (label, has_state, owned) in cases {
            let what = format!("{label:?} {has_state}");
            assert_eq!(ours(false).owns(label, || has_state), owned, "{what}");
            assert_eq!(ours(false).sees(label, || has_state), owned, "{what}");
            assert!(ours(true).sees(label, || has_state), "{what}");
        }
    }
}
