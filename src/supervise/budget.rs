//! Budget proposals: once a bottle used its token budget or its spend
//! budget (egress then refuses its model calls), the host asks the
//! operator to raise it, in its own queue as learning mode's suggestions
//! are, never through a tool the agent has. One raise of each budget waits
//! at a time; a raise the operator rejected is not asked again for the
//! same amount.

use super::apply::queues::{self, Source};
use super::apply::read_routes;
use super::suggest::{MAX_PENDING, SuggestError, planned_under_lock};
use crate::egress::usage::price::{Usd, dollars_text};
use crate::egress::usage::totals::UsageTotals;
use crate::proposal::queue::Queue;
use crate::proposal::{Decision, Origin, Request};
use crate::state::Home;

/// What to ask for, if anything: `budget` doubled (`double`) once it is
/// `used_up`, unless a raise waits already or the same one was rejected.
/// `asked`: the raises of this budget asked before, and whether each
/// still waits.
fn wanted<T: Copy + PartialEq>(
    budget: Option<T>,
    used_up: impl Fn(T) -> bool,
    double: impl Fn(T) -> Option<T>,
    asked: &[(T, bool)],
) -> Option<T> {
    let budget = budget?;
    let raise = double(budget)?;
    let waiting = asked.iter().any(|(_, pending)| *pending);
    let refused = asked.iter().any(|(t, pending)| !pending && *t == raise);
    (used_up(budget) && !waiting && !refused).then_some(raise)
}

/// Twice a token budget; None when it cannot grow.
fn double_tokens(budget: u64) -> Option<u64> {
    Some(budget.saturating_mul(2)).filter(|raise| *raise > budget)
}

/// The raises of each budget asked before: (tokens, spend), each with
/// whether it still waits.
type Asked = (Vec<(u64, bool)>, Vec<(Usd, bool)>);

/// A raise to ask for, and why.
struct Raise {
    request: Request,
    why: String,
}

/// Asks for a raise of bottle `slug`'s token or spend budget when it is
/// used up.
pub(crate) fn sync(home: &Home, slug: &str) -> Result<(), SuggestError> {
    let plan = |home: &Home| -> Result<Option<Vec<Raise>>, SuggestError> {
        let (routes, _) = read_routes(home, slug)?;
        let usage = UsageTotals::read(&home.bottle(slug).egress_usage())
            .ok()
            .flatten()
            .unwrap_or_default();
        let (tokens_asked, spend_asked) = asked(home, slug);
        let mut raises = Vec::new();
        let used = usage.tokens();
        if let Some(raise) = wanted(
            routes.token_budget,
            |budget| used >= budget,
            double_tokens,
            &tokens_asked,
        ) {
            let budget = routes.token_budget.unwrap_or_default();
            raises.push(Raise {
                request: Request::Budget {
                    tokens: Some(raise),
                    spend: None,
                },
                why: format!(
                    "The bottle used {used} of its {budget} tokens, and egress refuses its model calls. Made by bot-bottle from egress's count, not by the agent; approving doubles the budget (another amount: bot-bottle routes edit {slug})."
                ),
            });
        }
        if let Some(spend) = &routes.spend {
            let (spent, unpriced) = spend.prices.cost(&usage);
            if let Some(raise) = wanted(
                Some(spend.budget),
                |budget| spent >= budget.dollars(),
                Usd::doubled,
                &spend_asked,
            ) {
                let unpriced = match unpriced.is_empty() {
                    true => String::new(),
                    false => format!(" (no price for {}: counted as $0)", unpriced.join(", ")),
                };
                raises.push(Raise {
                    request: Request::Budget {
                        tokens: None,
                        spend: Some(raise),
                    },
                    why: format!(
                        "The bottle spent about {} of its {} at the prices in its routes{unpriced}, and egress refuses its model calls. Made by bot-bottle from egress's count, not by the agent; approving doubles the budget (another amount: spend.budget in bot-bottle routes edit {slug}).",
                        dollars_text(spent),
                        spend.budget
                    ),
                });
            }
        }
        Ok((!raises.is_empty()).then_some(raises))
    };
    let Some((_lock, raises)) = planned_under_lock(home, slug, plan)? else {
        return Ok(());
    };
    let queue = Queue::new(&home.bottle(slug).suggestions_dir());
    for raise in raises {
        queue.submit_as(slug, raise.request, raise.why, Origin::Denied, MAX_PENDING)?;
    }
    Ok(())
}

/// The raises asked of bottle `slug` before: those waiting, and those the
/// operator rejected.
fn asked(home: &Home, slug: &str) -> Asked {
    let queue = Queue::new(&home.bottle(slug).suggestions_dir());
    let (mut tokens, mut spend) = (Vec::new(), Vec::new());
    let mut note = |request: &Request, pending: bool| {
        if let Request::Budget {
            tokens: t,
            spend: s,
        } = request
        {
            if let Some(t) = t {
                tokens.push((*t, pending));
            }
            if let Some(s) = s {
                spend.push((*s, pending));
            }
        }
    };
    for p in queue.pending().unwrap_or_default() {
        if let Some(p) = queues::admit(Source::Denied, slug, p) {
            note(&p.request, true);
        }
    }
    for d in queue.decided() {
        if d.response.decision == Decision::Rejected {
            note(&d.proposal.request, false);
        }
    }
    (tokens, spend)
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
            let got = wanted(*budget, |b| *used >= b, double_tokens, asked);
            assert_eq!(got, *want, "{budget:?} {used}");
        }
    }

    #[test]
    fn a_spend_raise_is_asked_once_it_cost_the_budget() {
        let usd = |d: f64| Usd::from_dollars(d).unwrap();
        // (budget, spent, raises asked (dollars, still waiting), asked now)
        type Asked = &'static [(f64, bool)];
        let cases: &[(Option<f64>, f64, Asked, Option<f64>)] = &[
            (None, 100.0, &[], None),
            (Some(5.0), 4.99, &[], None),
            (Some(5.0), 5.0, &[], Some(10.0)),
            (Some(2.35), 7.0, &[], Some(4.7)),
            (Some(5.0), 7.0, &[(10.0, true)], None),
            (Some(5.0), 7.0, &[(10.0, false)], None),
            (Some(10.0), 12.0, &[(10.0, false)], Some(20.0)),
            (Some(1e12), 2e12, &[], None),
        ];
        for (budget, spent, asked, want) in cases {
            let asked: Vec<(Usd, bool)> = asked.iter().map(|(d, p)| (usd(*d), *p)).collect();
            let got = wanted(
                budget.map(usd),
                |b| *spent >= b.dollars(),
                Usd::doubled,
                &asked,
            );
            assert_eq!(got, want.map(usd), "{budget:?} {spent}");
        }
    }
}
