//! What a bottle's tokens cost, estimated: prices per million tokens from
//! a table keyed by model name prefix (`prices` in
//! `$BOT_BOTTLE_HOME/bot-bottle.json`, else the embedded defaults), applied
//! to the totals egress counted. Pure: nothing is read or fetched here.
//! The table and its arithmetic are egress's (`egress::usage::price`),
//! which prices its own count against a spend budget.

use serde::Serialize;

pub(crate) use crate::egress::usage::price::{Price, Prices};
use crate::egress::usage::totals::UsageTotals;

/// What a bottle's usage cost, estimated.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Estimate {
    /// The cost of the priced models, in US dollars (shown to the
    /// millionth: an estimate has no use for float noise).
    #[serde(serialize_with = "micro_dollars")]
    pub(crate) usd: f64,
    /// The models the table has no price for (counted as 0), by name.
    pub(crate) unpriced: Vec<String>,
}

fn micro_dollars<S: serde::Serializer>(usd: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((usd * 1e6).round() / 1e6)
}

/// The cost of `usage` at `prices`: each model at the entry whose key is
/// the longest prefix of its name; models with none are listed in
/// `unpriced` and cost 0.
pub(crate) fn estimate(usage: &UsageTotals, prices: &Prices) -> Estimate {
    let (usd, unpriced) = prices.cost(usage);
    Estimate { usd, unpriced }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_estimate_is_shown_to_the_millionth() {
        let e = Estimate {
            usd: 0.474_000_000_000_000_03,
            unpriced: vec![],
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"usd":0.474,"unpriced":[]}"#
        );
    }

    use super::*;
    use crate::egress::usage::totals::ModelTotals;

    fn price(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Price {
        Price {
            input,
            output,
            cache_read,
            cache_write,
        }
    }

    fn table(entries: &[(&str, Price)]) -> Prices {
        Prices {
            by_prefix: entries.iter().map(|(k, p)| ((*k).to_owned(), *p)).collect(),
        }
    }

    fn usage(models: &[(&str, ModelTotals)]) -> UsageTotals {
        UsageTotals {
            models: models.iter().map(|(m, t)| ((*m).to_owned(), *t)).collect(),
            updated_at: None,
        }
    }

    fn tokens(input: u64, output: u64, cache_read: u64, cache_write: u64) -> ModelTotals {
        ModelTotals {
            requests: 1,
            input,
            output,
            cache_read,
            cache_write,
        }
    }

    #[test]
    fn each_model_is_priced_by_its_longest_prefix() {
        let prices = table(&[
            ("claude-opus-4", price(15.0, 75.0, 1.5, 18.75)),
            ("claude-opus-4-5", price(5.0, 25.0, 0.5, 6.25)),
            ("claude", price(1.0, 1.0, 1.0, 1.0)),
            ("gpt-5", price(1.25, 10.0, 0.125, 0.0)),
        ]);
        let million = tokens(1_000_000, 0, 0, 0);
        // What, the usage, its cost, and the models with no price.
        type Case<'a> = (&'a str, Vec<(&'a str, ModelTotals)>, f64, Vec<&'a str>);
        let cases: Vec<Case> = vec![
            ("nothing counted", vec![], 0.0, vec![]),
            (
                "the longer prefix wins",
                vec![("claude-opus-4-5-20251101", million)],
                5.0,
                vec![],
            ),
            (
                "a shorter one where the longer does not match",
                vec![("claude-opus-4-1-20250805", million)],
                15.0,
                vec![],
            ),
            (
                "the shortest as a fallback",
                vec![("claude-haiku-4-5", million)],
                1.0,
                vec![],
            ),
            (
                "a prefix must start the name",
                vec![("my-gpt-5", million)],
                0.0,
                vec!["my-gpt-5"],
            ),
            (
                "every kind of token at its own price",
                vec![("gpt-5.1", tokens(2_000_000, 100_000, 4_000_000, 1_000))],
                2.5 + 1.0 + 0.5,
                vec![],
            ),
            (
                "cache writes and reads",
                vec![("claude-opus-4-5", tokens(0, 0, 10_000_000, 400_000))],
                5.0 + 2.5,
                vec![],
            ),
            (
                "unpriced models cost nothing and are named",
                vec![
                    ("other", million),
                    ("claude-opus-4-5", tokens(0, 1_000_000, 0, 0)),
                    ("llama-3", million),
                ],
                25.0,
                vec!["llama-3", "other"],
            ),
        ];
        for (what, models, usd, unpriced) in cases {
            let got = estimate(&usage(&models), &prices);
            assert!((got.usd - usd).abs() < 1e-9, "{what}: {} != {usd}", got.usd);
            assert_eq!(got.unpriced, unpriced, "{what}");
        }
    }

    #[test]
    fn an_empty_table_prices_nothing() {
        let got = estimate(
            &usage(&[("claude-opus-4-5", tokens(1, 2, 3, 4))]),
            &Prices::default(),
        );
        assert_eq!(
            got,
            Estimate {
                usd: 0.0,
                unpriced: vec!["claude-opus-4-5".into()],
            }
        );
    }
}
