//! Budget proposals: once a bottle used its token budget (egress then
//! refuses its model calls), the host asks the operator to raise it, in
//! its own queue as learning mode's suggestions are, never through a tool
//! the agent has. One waits at a time; a raise the operator rejected is
//! not asked again for the same budget.

use super::apply::queues::{self, Source};
use super::apply::read_routes;
use super::suggest::{MAX_PENDING, SuggestError, planned_under_lock};
use crate::egress::usage::totals::UsageTotals;
use crate::proposal::queue::Queue;
use crate::proposal::{Decision, Origin, Request};
use crate::state::Home;

/// What to ask for, if anything: the budget doubled once it is used,
/// unless a raise waits already or the same one was rejected.
fn wanted(budget: Option<u64>, used: u64, asked: &[(u64, bool)]) -> Option<u64> {
    let budget = budget?;
    let raise = budget.saturating_mul(2);
    let waiting = asked.iter().any(|(_, pending)| *pending);
    let refused = asked.iter().any(|(t, pending)| !pending && *t == raise);
    (used >= budget && raise > budget && !waiting && !refused).then_some(raise)
}

/// Asks for a raise of bottle `slug`'s token budget when it is used up.
pub(crate) fn sync(home: &Home, slug: &str) -> Result<(), SuggestError> {
    let plan = |home: &Home| -> Result<Option<(u64, u64, u64)>, SuggestError> {
        let (routes, _) = read_routes(home, slug)?;
        let used = UsageTotals::read(&home.bottle(slug).egress_usage())
            .ok()
            .flatten()
            .map_or(0, |u| u.tokens());
        let queue = Queue::new(&home.bottle(slug).suggestions_dir());
        let mut asked = Vec::new();
        for p in queue.pending().unwrap_or_default() {
            if let Some(Request::Budget { tokens }) =
                queues::admit(Source::Denied, slug, p).map(|p| p.request)
            {
                asked.push((tokens, true));
            }
        }
        for d in queue.decided() {
            if let (Request::Budget { tokens }, Decision::Rejected) =
                (&d.proposal.request, &d.response.decision)
            {
                asked.push((*tokens, false));
            }
        }
        Ok(wanted(routes.token_budget, used, &asked)
            .zip(routes.token_budget)
            .map(|(raise, budget)| (raise, budget, used)))
    };
    let Some((_lock, (raise, budget, used))) = planned_under_lock(home, slug, plan)? else {
        return Ok(());
    };
    let why = format!(
        "The bottle used {used} of its {budget} tokens, and egress refuses its model calls. Made by bot-bottle from egress's count, not by the agent; approving doubles the budget (another amount: bot-bottle routes edit {slug})."
    );
    Queue::new(&home.bottle(slug).suggestions_dir()).submit_as(
        slug,
        Request::Budget { tokens: raise },
        why,
        Origin::Denied,
        MAX_PENDING,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raise_is_asked_once_the_budget_is_used() {
        // (budget, used, raises asked (tokens, still waiting), asked now)
        type Asked = &'static [(u64, bool)];
        let cases: &[(Option<u64>, u64, Asked, Option<u64>)] = &[
            (None, 10_000, &[], None),
            (Some(1_000), 999, &[], None),
            (Some(1_000), 1_000, &[], Some(2_000)),
            (Some(1_000), 5_000, &[], Some(2_000)),
            (Some(1_000), 5_000, &[(2_000, true)], None),
            (Some(1_000), 5_000, &[(2_000, false)], None),
            (Some(2_000), 5_000, &[(2_000, false)], Some(4_000)),
            (Some(u64::MAX), u64::MAX, &[], None),
        ];
        for (budget, used, asked, want) in cases {
            assert_eq!(wanted(*budget, *used, asked), *want, "{budget:?} {used}");
        }
    }
}
