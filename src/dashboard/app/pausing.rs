//! The agents' pauses: `f` and `F` (the kill switch: freeze, thaw), and
//! sleep (`idle_after`: an idle agent falls asleep; selected, it wakes).
//! Decisions only; the runtime carries out the effects.

use super::{AgentRow, App, Effect};
use crate::launch::freeze::Switch;

impl App {
    /// When agent `a` falls asleep if nothing happens: `idle_after` past
    /// its last output, request or listing; never for one frozen, asleep,
    /// or with a proposal waiting.
    pub(super) fn falls_asleep_at(&self, a: &AgentRow) -> Option<u64> {
        let idle_after = self.idle_after?;
        let waiting = self.proposals.iter().any(|p| p.proposal.slug == a.slug);
        if a.frozen || a.asleep || a.stopped || waiting {
            return None;
        }
        let last = [self.activity.get(&a.slug), self.listed_at.get(&a.slug)]
            .into_iter()
            .flatten()
            .max()
            .copied()
            .unwrap_or(self.now);
        Some(last + idle_after)
    }

    /// The agents idle past `idle_after`, put to sleep.
    pub(super) fn sleepers(&mut self) -> Vec<Effect> {
        let due: Vec<String> = self
            .agents
            .iter()
            .filter(|a| self.falls_asleep_at(a).is_some_and(|t| t <= self.now))
            .map(|a| a.slug.clone())
            .collect();
        if due.is_empty() {
            return Vec::new();
        }
        for a in self.agents.iter_mut().filter(|a| due.contains(&a.slug)) {
            a.asleep = true;
        }
        self.status = Some(format!(
            "{} idle: asleep until selected, attached or exec'd into",
            due.join(", ")
        ));
        vec![Effect::Sleep { slugs: due }]
    }

    /// The selected agent, if it sleeps, is wanted: woken.
    pub(super) fn wake_selected(&mut self) -> Vec<Effect> {
        let now = self.now;
        let Some(a) = self.agents.get_mut(self.agent_sel) else {
            return Vec::new();
        };
        if !a.asleep || a.frozen {
            return Vec::new();
        }
        a.asleep = false;
        let slug = a.slug.clone();
        self.activity.insert(slug.clone(), now);
        vec![Effect::Wake { slug }]
    }

    /// `f`: the selected agent frozen, or thawed if it is.
    pub(super) fn switch_selected(&mut self) -> Vec<Effect> {
        let Some(a) = self.selected_agent() else {
            self.status = Some("no agent selected; n starts one".into());
            return Vec::new();
        };
        let to = if a.frozen {
            Switch::Thaw
        } else {
            Switch::Freeze
        };
        let slugs = vec![a.slug.clone()];
        self.switch(slugs, to)
    }

    /// `F`: every agent frozen at once (those that are not already).
    pub(super) fn freeze_all(&mut self) -> Vec<Effect> {
        let slugs: Vec<String> = self
            .agents
            .iter()
            .filter(|a| !a.frozen)
            .map(|a| a.slug.clone())
            .collect();
        if slugs.is_empty() {
            self.status = Some("every agent is frozen already; f thaws one".into());
            return Vec::new();
        }
        self.switch(slugs, Switch::Freeze)
    }

    fn switch(&mut self, slugs: Vec<String>, to: Switch) -> Vec<Effect> {
        let frozen = to == Switch::Freeze;
        // Shown at once; the next listing says what the bottles really are.
        for a in self.agents.iter_mut().filter(|a| slugs.contains(&a.slug)) {
            a.frozen = frozen;
        }
        let verb = if frozen { "freezing" } else { "thawing" };
        self.status = Some(format!("{verb} {}…", slugs.join(", ")));
        vec![Effect::Switch { slugs, to }]
    }
}
