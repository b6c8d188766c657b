//! The seals' checks: `s` (the selected agent's, now) and the schedule
//! (each running agent's, every `verify_every`), at most one in flight per
//! bottle; a bottle that fails rings like a new proposal. Decisions only;
//! the runtime runs the checks (`launch::verify::check`, which freezes a
//! bottle that fails).

use super::{AgentRow, App, Checked, Effect, Focus, GUARD_MS};

/// Why `a`'s seal is not checked from here, if it is not.
fn not_checkable(a: &AgentRow) -> Option<&'static str> {
    if a.other_home {
        Some("another home made it; check it from there")
    } else if a.stopped {
        Some("it is stopped; R resumes it")
    } else if a.frozen {
        Some("it is frozen; thaw it first (f)")
    } else {
        None
    }
}

impl App {
    /// The wall clock at `now`, in seconds since the epoch (as reports
    /// count time).
    pub(crate) fn wall_now(&self) -> u64 {
        self.epoch + self.now / 1000
    }

    /// When (ms since start) `a`'s seal is checked on the schedule:
    /// `verify_every` after its last check, or after it was first listed
    /// when it has none (bring-up checked it), and after the last check
    /// started here; never for one asleep, frozen, stopped, another
    /// home's, or being checked.
    pub(super) fn seal_due_at(&self, a: &AgentRow) -> Option<u64> {
        let every = self.verify_every?;
        if not_checkable(a).is_some() || a.asleep || self.verifying.contains_key(&a.slug) {
            return None;
        }
        let after_check = match &a.seal {
            Some(r) => (r.checked_at + every / 1000)
                .saturating_sub(self.epoch)
                .saturating_mul(1000),
            None => self.listed_at.get(&a.slug).copied().unwrap_or(self.now) + every,
        };
        let after_try = self.tried_at.get(&a.slug).map_or(0, |t| t + every);
        Some(after_check.max(after_try))
    }

    /// When (ms since start) the age in `a`'s row (`sealed ✓ 2m`) next
    /// changes its minutes, hours or days; the seconds of the first minute
    /// are not kept up (that would tick every second).
    pub(super) fn seal_age_changes_at(&self, a: &AgentRow) -> Option<u64> {
        let checked_at = a.seal.as_ref()?.checked_at;
        let age = self.wall_now().saturating_sub(checked_at);
        let unit = match age {
            0..3_600 => 60,
            3_600..86_400 => 3_600,
            _ => 86_400,
        };
        let next = checked_at + (age / unit + 1) * unit;
        Some(next.saturating_sub(self.epoch).saturating_mul(1000))
    }

    /// The agents whose seal is due on the schedule, their checks started.
    pub(super) fn due_checks(&mut self) -> Vec<Effect> {
        let due: Vec<String> = self
            .agents
            .iter()
            .filter(|a| self.seal_due_at(a).is_some_and(|t| t <= self.now))
            .map(|a| a.slug.clone())
            .collect();
        due.into_iter()
            .map(|slug| self.start_check(slug, false))
            .collect()
    }

    /// `s`: the selected agent's seal checked now; or why not.
    pub(super) fn verify_selected(&mut self) -> Vec<Effect> {
        let Some(a) = self.selected_agent() else {
            self.status = Some("no agent selected; n starts one".into());
            return Vec::new();
        };
        let slug = a.slug.clone();
        if let Some(why) = not_checkable(a) {
            self.status = Some(format!("{slug}: seal not checked: {why}"));
            return Vec::new();
        }
        if self.verifying.contains_key(&slug) {
            self.status = Some(format!("{slug}: its seal is being checked already"));
            return Vec::new();
        }
        self.status = Some(format!("checking the seal of {slug}…"));
        vec![self.start_check(slug, true)]
    }

    /// A check of `slug`'s seal in flight from now; `asked` by the
    /// operator (`s`), or on the schedule.
    fn start_check(&mut self, slug: String, asked: bool) -> Effect {
        self.verifying.insert(slug.clone(), asked);
        self.tried_at.insert(slug.clone(), self.now);
        Effect::Verify { slug }
    }

    /// A check ended: said (a scheduled one that passed says nothing); a
    /// bottle that failed is shown frozen at once, selected, and rings.
    pub(super) fn verified(&mut self, slug: String, outcome: Checked) -> Vec<Effect> {
        let asked = self.verifying.remove(&slug).unwrap_or(false);
        match outcome {
            Checked::Sealed { probes } => {
                if asked {
                    self.status = Some(format!("{slug}: sealed ✓ ({probes} probes)"));
                }
                Vec::new()
            }
            Checked::Failed(why) => {
                self.status = Some(format!("{slug}: seal not checked: {why}"));
                Vec::new()
            }
            Checked::Unsealed(text) => {
                self.status = Some(text);
                self.focus = Focus::Agents;
                if let Some(i) = self.agents.iter().position(|a| a.slug == slug) {
                    self.agents[i].frozen = true;
                    self.agent_sel = i;
                }
                self.guard_until = self.guard_until.max(self.now + GUARD_MS);
                vec![Effect::Bell, Effect::FocusDashboard]
            }
        }
    }
}
