//! What counted tokens cost: a price table keyed by model name prefix,
//! and a spend budget in US dollars. Pure. Egress prices its own count
//! with the table the host put in `routes.json` (it enforces a spend
//! budget while the host is away); the host prices the same count for its
//! listings (`crate::pricing`) with the home's table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::totals::{ModelTotals, UsageTotals};

/// One model's prices, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Price {
    /// Input tokens not served from or written to the cache.
    pub(crate) input: f64,
    /// Output tokens.
    pub(crate) output: f64,
    /// Input tokens read from the prompt cache.
    pub(crate) cache_read: f64,
    /// Input tokens written to the prompt cache.
    pub(crate) cache_write: f64,
}

// A price is finite (checked at load; JSON has no NaN or infinity), so
// equality is total.
impl Eq for Price {}

impl Price {
    /// What `t`'s tokens cost at these prices, in US dollars.
    pub(crate) fn of(&self, t: &ModelTotals) -> f64 {
        (t.input as f64 * self.input
            + t.output as f64 * self.output
            + t.cache_read as f64 * self.cache_read
            + t.cache_write as f64 * self.cache_write)
            / 1e6
    }
}

/// A price table: a model is priced by the entry whose key is the longest
/// prefix of its name. In `routes.json`, `{"<prefix>": {"input": 3, …}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Prices {
    /// Prices by model name prefix.
    pub(crate) by_prefix: BTreeMap<String, Price>,
}

impl Prices {
    /// The price of `model`: the entry with the longest key that starts
    /// its name; None when no key does.
    pub(crate) fn of(&self, model: &str) -> Option<&Price> {
        self.by_prefix
            .iter()
            .filter(|(prefix, _)| model.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, price)| price)
    }

    /// What `usage` cost at these prices, in US dollars, and the models
    /// that have no price (counted as 0), by name.
    pub(crate) fn cost(&self, usage: &UsageTotals) -> (f64, Vec<String>) {
        let mut usd = 0.0;
        let mut unpriced = Vec::new();
        for (model, totals) in &usage.models {
            match self.of(model) {
                Some(price) => usd += price.of(totals),
                None => unpriced.push(model.clone()),
            }
        }
        (usd, unpriced)
    }
}

/// An amount of US dollars, in whole cents (a budget: positive, at most
/// `Usd::MAX_CENTS`). Written as a number of dollars: `5`, `2.5`, `0.75`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd {
    cents: u64,
}

impl Usd {
    /// A trillion dollars: past any bottle's budget, and exact in an f64.
    pub(crate) const MAX_CENTS: u64 = 100_000_000_000_000;

    /// `dollars` as a budget: finite, more than 0, whole cents, at most
    /// `MAX_CENTS`; None otherwise.
    pub(crate) fn from_dollars(dollars: f64) -> Option<Usd> {
        if !dollars.is_finite() || dollars <= 0.0 {
            return None;
        }
        let cents = (dollars * 100.0).round();
        let whole = (dollars * 100.0 - cents).abs() < 1e-6;
        (whole && cents >= 1.0 && cents <= Usd::MAX_CENTS as f64).then_some(Usd {
            cents: cents as u64,
        })
    }

    /// The amount in dollars.
    pub(crate) fn dollars(self) -> f64 {
        self.cents as f64 / 100.0
    }

    /// Twice the amount, None past `MAX_CENTS`.
    pub(crate) fn doubled(self) -> Option<Usd> {
        let cents = self.cents.checked_mul(2)?;
        (cents <= Usd::MAX_CENTS).then_some(Usd { cents })
    }
}

impl std::fmt::Display for Usd {
    /// `$5.00`, `$1234.50`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}.{:02}", self.cents / 100, self.cents % 100)
    }
}

impl Serialize for Usd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.cents.is_multiple_of(100) {
            s.serialize_u64(self.cents / 100)
        } else {
            s.serialize_f64(self.dollars())
        }
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Usd, D::Error> {
        let dollars = f64::deserialize(d)?;
        Usd::from_dollars(dollars).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{dollars} is not a budget in US dollars (more than 0, whole cents, e.g. 5 or 2.50)"
            ))
        })
    }
}

/// Dollars spent, as a refusal and a listing say it: `$4.98`, and
/// `$0.0012` below a cent (so that a spend is never shown as $0.00).
pub(crate) fn dollars_text(usd: f64) -> String {
    if usd > 0.0 && usd < 0.01 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_is_positive_whole_cents() {
        let cases: &[(f64, Option<u64>)] = &[
            (5.0, Some(500)),
            (2.5, Some(250)),
            (0.29, Some(29)),
            (0.01, Some(1)),
            (1e12, Some(Usd::MAX_CENTS)),
            (1e12 + 1.0, None),
            (0.0, None),
            (-5.0, None),
            (0.001, None),
            (2.555, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ];
        for (dollars, cents) in cases {
            assert_eq!(
                Usd::from_dollars(*dollars).map(|u| u.cents),
                *cents,
                "{dollars}"
            );
        }
    }

    #[test]
    fn a_budget_is_written_as_dollars_and_doubles_exactly() {
        let five = Usd::from_dollars(5.0).unwrap();
        assert_eq!(serde_json::to_string(&five).unwrap(), "5");
        assert_eq!(five.to_string(), "$5.00");
        let odd = Usd::from_dollars(2.35).unwrap();
        assert_eq!(serde_json::to_string(&odd).unwrap(), "2.35");
        assert_eq!(odd.doubled().unwrap().to_string(), "$4.70");
        assert_eq!(serde_json::from_str::<Usd>("2.35").unwrap(), odd);
        assert_eq!(serde_json::from_str::<Usd>("5").unwrap(), five);
        assert!(serde_json::from_str::<Usd>("0").is_err());
        assert!(serde_json::from_str::<Usd>("\"5\"").is_err());
        let top = Usd::from_dollars(1e12).unwrap();
        assert_eq!(top.doubled(), None);
    }

    #[test]
    fn dollars_spent_never_read_as_nothing() {
        let cases = [
            (0.0, "$0.00"),
            (0.00012, "$0.0001"),
            (0.0123, "$0.01"),
            (4.987, "$4.99"),
            (12.0, "$12.00"),
        ];
        for (usd, want) in cases {
            assert_eq!(dollars_text(usd), want, "{usd}");
        }
    }

    #[test]
    fn a_table_is_written_as_rows_by_prefix() {
        let json = r#"{"claude":{"input":3.0,"output":15.0,"cache_read":0.3,"cache_write":3.75}}"#;
        let prices: Prices = serde_json::from_str(json).unwrap();
        assert_eq!(prices.of("claude-sonnet-4").unwrap().output, 15.0);
        assert_eq!(serde_json::to_string(&prices).unwrap(), json);
        assert!(serde_json::from_str::<Prices>(r#"{"x":{"input":1}}"#).is_err());
    }
}
