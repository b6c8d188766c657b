//! Pausing bottles. The kill switch: `freeze` stops bottles at once
//! without losing anything (their processes keep their memory, their state
//! stays), and `thaw` undoes it. Sleep: an idle bottle's agent is paused
//! (`sleep`, by the dashboard) until it is wanted again (`wake`, by
//! selecting, attaching or exec'ing); its egress stays as it is.
//!
//! ```text
//! freeze: marker in each egress folder → every egress reloads (refuses
//!         every request from then on) → every agent's processes paused
//! thaw:   markers removed → every egress reloads → agents resumed
//! ```
//!
//! Egress closes before the agent stops and opens before it runs again,
//! so a thawing agent never meets a frozen egress and a freezing one sends
//! nothing more. Each backend does each step for all its bottles at once
//! (one engine call), and every step is tried even when one fails: a kill
//! switch does all it can, then says what it could not.
//!
//! ```text
//! sleep:  marker in the bottle's folder → its agent paused
//! wake:   its agent resumed → marker removed  (a frozen bottle stays so)
//! ```

use std::collections::BTreeMap;
use std::io;

use super::LaunchError;
use super::service::backend_of;
use crate::backend::{self, Backend, BackendKind};
use crate::error::{Explain, UserError};
use crate::state::Home;

/// Which way the switch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Freeze,
    Thaw,
}

impl Switch {
    fn frozen(self) -> bool {
        self == Switch::Freeze
    }

    /// The verb, as the CLI names it.
    pub fn verb(self) -> &'static str {
        match self {
            Switch::Freeze => "freeze",
            Switch::Thaw => "thaw",
        }
    }
}

/// Why the switch did not fully take, or a frozen bottle was refused.
#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// Some steps failed; the others were done.
    #[error("could not {verb} everything: {}", failures.join("; "))]
    Partly {
        verb: &'static str,
        failures: Vec<String>,
    },
    /// A session or command was asked of a frozen bottle.
    #[error("bottle '{0}' is frozen: nothing runs in it until it is thawed")]
    Frozen(String),
}

impl UserError for FreezeError {
    fn explain(&self) -> Explain<'_> {
        match self {
            FreezeError::Launch(e) => Explain::By(e),
            FreezeError::Partly { verb, .. } => Explain::runtime(match *verb {
                "freeze" | "thaw" => {
                    format!("is the engine running? `bot-bottle {verb}` again does what is left")
                }
                _ => "is the engine running?".to_owned(),
            }),
            FreezeError::Frozen(slug) => Explain::usage(format!("bot-bottle thaw {slug}")),
        }
    }
}

/// Bottles to switch, by the backend that runs them.
pub type Groups = BTreeMap<BackendKind, Vec<String>>;

/// The named bottles by backend; each must be this home's and running.
pub fn named(home: &Home, slugs: &[String]) -> Result<Groups, LaunchError> {
    let mut groups = Groups::new();
    for slug in slugs {
        let kind = backend_of(home, slug)?
            .filter(|k| k.backend().is_running(slug).unwrap_or(false))
            .ok_or_else(|| LaunchError::NotRunning(slug.clone()))?;
        groups.entry(kind).or_default().push(slug.clone());
    }
    Ok(groups)
}

/// Every running bottle of this home, by backend: one query a backend.
pub fn all(home: &Home) -> Result<Groups, backend::ListError> {
    let mut groups = Groups::new();
    for b in backend::enumerate_all(home, false)? {
        if b.stopped {
            continue;
        }
        if let Some(kind) = BackendKind::parse(&b.backend) {
            groups.entry(kind).or_default().push(b.slug);
        }
    }
    Ok(groups)
}

/// Freezes or thaws every bottle of `groups` (see the module's sequence).
pub fn switch(home: &Home, groups: &Groups, to: Switch) -> Result<(), FreezeError> {
    switch_on(home, groups, to, |kind| kind.backend())
}

/// `switch`, with the backends `backend_for` gives (a fake, in tests).
pub(super) fn switch_on<'a>(
    home: &Home,
    groups: &Groups,
    to: Switch,
    backend_for: impl Fn(BackendKind) -> &'a dyn Backend,
) -> Result<(), FreezeError> {
    let mut failures = Vec::new();
    for (kind, slugs) in groups {
        let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
        for slug in &slugs {
            if let Err(e) = mark(home, slug, to) {
                failures.push(format!("{slug}: its egress marker: {e}"));
            }
        }
        let backend = backend_for(*kind);
        if let Err(e) = backend.sidecars().reload_egress(&slugs) {
            failures.push(format!("egress not reloaded: {e}"));
        }
        // Thawing: egress has reloaded before the agents run again.
        if let Err(e) = backend.agent().set_paused(&slugs, to.frozen()) {
            failures.push(format!("agents not {}: {e}", past(to)));
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(FreezeError::Partly {
            verb: to.verb(),
            failures,
        }),
    }
}

/// Puts `slugs` (this home's, running, none frozen) to sleep: each one's
/// marker, then its agent paused; a frozen one is left as it is.
pub fn sleep(home: &Home, slugs: &[String]) -> Result<(), FreezeError> {
    let awake: Vec<String> = slugs
        .iter()
        .filter(|s| !home.bottle(s).is_frozen())
        .cloned()
        .collect();
    let groups = named(home, &awake)?;
    let mut failures = Vec::new();
    for (kind, slugs) in &groups {
        let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
        for slug in &slugs {
            if let Err(e) = std::fs::write(home.bottle(slug).asleep_marker(), b"") {
                failures.push(format!("{slug}: its marker: {e}"));
            }
        }
        if let Err(e) = kind.backend().agent().set_paused(&slugs, true) {
            failures.push(format!("agents not paused: {e}"));
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(FreezeError::Partly {
            verb: "sleep",
            failures,
        }),
    }
}

/// Wakes bottle `slug` if it sleeps (a frozen one stays frozen); whether
/// it slept. Either way its use is recorded, which a dashboard counts as
/// activity (so it does not put to sleep a bottle just exec'd into).
pub fn wake(home: &Home, slug: &str) -> Result<bool, FreezeError> {
    let bottle = home.bottle(slug);
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let _ = std::fs::write(bottle.used_marker(), now);
    if !bottle.is_asleep() || bottle.is_frozen() {
        return Ok(false);
    }
    let kind = backend_of(home, slug)?.ok_or_else(|| LaunchError::NotRunning(slug.to_owned()))?;
    kind.backend()
        .agent()
        .set_paused(&[slug], false)
        .map_err(|e| FreezeError::Partly {
            verb: "wake",
            failures: vec![format!("{slug}: its agent not resumed: {e}")],
        })?;
    match std::fs::remove_file(bottle.asleep_marker()) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(FreezeError::Partly {
            verb: "wake",
            failures: vec![format!("{slug}: its marker: {e}")],
        }),
        _ => Ok(true),
    }
}

/// A session or command in a frozen bottle is refused: its processes are
/// paused, and egress refuses everything.
pub fn refuse_frozen(home: &Home, slug: &str) -> Result<(), FreezeError> {
    match home.bottle(slug).is_frozen() {
        true => Err(FreezeError::Frozen(slug.to_owned())),
        false => Ok(()),
    }
}

fn past(to: Switch) -> &'static str {
    match to {
        Switch::Freeze => "paused",
        Switch::Thaw => "resumed",
    }
}

/// Writes (freeze) or removes (thaw) the marker egress reads.
fn mark(home: &Home, slug: &str, to: Switch) -> io::Result<()> {
    let bottle = home.bottle(slug);
    match to {
        Switch::Freeze => std::fs::write(bottle.egress_frozen(), b""),
        // Thawed, the agent runs: asleep no more either.
        Switch::Thaw => [bottle.egress_frozen(), bottle.asleep_marker()]
            .iter()
            .try_for_each(|marker| match std::fs::remove_file(marker) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitKind;
    use crate::launch::testing::Fake;

    fn two_bottles() -> (tempfile::TempDir, Home, Groups) {
        let (dir, home) = Home::temp();
        let slugs = ["dev-aaaaa", "dev-bbbbb"].map(String::from);
        for slug in &slugs {
            std::fs::create_dir_all(home.bottle(slug).egress_dir()).unwrap();
        }
        let groups = Groups::from([(BackendKind::Docker, slugs.to_vec())]);
        (dir, home, groups)
    }

    #[test]
    fn egress_closes_first_then_every_step_is_tried() {
        let both = |step: &str| format!("{step} dev-aaaaa dev-bbbbb");
        let freeze = [both("reload_egress"), both("set_paused true")];
        let thaw = [both("reload_egress"), both("set_paused false")];
        // (switch, the step that fails, the calls made, frozen after, error)
        let cases = [
            (Switch::Freeze, String::new(), &freeze, true, None),
            (
                Switch::Freeze,
                freeze[0].clone(),
                &freeze,
                true,
                Some("could not freeze everything: egress not reloaded:"),
            ),
            (Switch::Thaw, String::new(), &thaw, false, None),
            (
                Switch::Thaw,
                thaw[1].clone(),
                &thaw,
                false,
                Some("could not thaw everything: agents not resumed:"),
            ),
        ];
        for (to, fail, calls, frozen, error) in cases {
            let (_dir, home, groups) = two_bottles();
            let fake = Fake::new(fail.clone().leak());
            let result = switch_on(&home, &groups, to, |_| &fake);
            assert_eq!(fake.calls(), *calls, "{to:?} failing at {fail:?}");
            for slug in ["dev-aaaaa", "dev-bbbbb"] {
                assert_eq!(home.bottle(slug).is_frozen(), frozen, "{to:?} {fail:?}");
            }
            match error {
                None => result.unwrap(),
                Some(want) => {
                    let got = result.unwrap_err().to_string();
                    assert!(got.starts_with(want), "{got}");
                }
            }
        }
    }

    #[test]
    fn the_marker_is_written_once_and_removed_once() {
        let (_dir, home) = Home::temp();
        std::fs::create_dir_all(home.bottle("dev-aaaaa").egress_dir()).unwrap();
        let bottle = home.bottle("dev-aaaaa");
        for (to, want) in [
            (Switch::Freeze, true),
            (Switch::Freeze, true),
            (Switch::Thaw, false),
            (Switch::Thaw, false),
        ] {
            mark(&home, "dev-aaaaa", to).unwrap();
            assert_eq!(bottle.is_frozen(), want, "{to:?}");
            assert_eq!(refuse_frozen(&home, "dev-aaaaa").is_err(), want, "{to:?}");
        }
    }

    #[test]
    fn a_bottle_without_state_cannot_be_marked() {
        let (_dir, home) = Home::temp();
        assert!(mark(&home, "dev-bbbbb", Switch::Freeze).is_err());
        assert!(mark(&home, "dev-bbbbb", Switch::Thaw).is_ok());
    }

    #[test]
    fn errors_say_what_to_do() {
        let frozen = FreezeError::Frozen("dev-aaaaa".into());
        assert_eq!(frozen.kind(), ExitKind::Usage);
        assert_eq!(frozen.hint().as_deref(), Some("bot-bottle thaw dev-aaaaa"));
        let partly = FreezeError::Partly {
            verb: "freeze",
            failures: vec!["egress not reloaded: no".into(), "x".into()],
        };
        assert_eq!(
            partly.to_string(),
            "could not freeze everything: egress not reloaded: no; x"
        );
    }
}
