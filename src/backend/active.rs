//! A running bottle as the views show it (`list active`, the dashboard),
//! whatever backend runs it.

use serde::Serialize;

use crate::egress::usage::totals::UsageTotals;
use crate::gitgate::{self, LandedBranch};
use crate::pricing::{self, Estimate, Prices};
use crate::state::{Home, Metadata};
use crate::text::inert;
use crate::verify::Report;

/// A running bottle, as `list active` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveBottle {
    pub backend: String,
    pub slug: String,
    pub agent: String,
    pub started_at: String,
    /// The sidecars that are up; the agent itself is left out.
    pub services: Vec<String>,
    /// What its git gate landed in the operator's repository.
    pub landed: Vec<Landed>,
    /// The operator froze it (`bot-bottle freeze`): egress refuses
    /// everything, its agent is paused.
    pub frozen: bool,
    /// It sleeps (idle: its agent paused until it is wanted).
    pub asleep: bool,
    /// Its agent stopped without `stop` (the engine or the machine
    /// restarted, a crash); its state is kept for `resume`.
    pub stopped: bool,
    /// The tokens its model APIs reported, by model, as egress counted
    /// them, and their estimated cost; none before the first answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<BottleUsage>,
    /// The last check of its seal (`bot-bottle verify`); none before one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<Report>,
    /// The identity of the home that made it, when that is not this one
    /// (`--all-homes`; empty for an older bottle without the label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_home: Option<String>,
    /// From the metadata, for the dashboard.
    #[serde(skip)]
    pub label: String,
    #[serde(skip)]
    pub color: String,
}

impl ActiveBottle {
    /// A running bottle from its metadata, when it has some; else from
    /// what its backend saw (`agent`, `created`), its slug, and cyan.
    pub fn new(
        backend: &str,
        slug: &str,
        meta: Option<&Metadata>,
        seen: (Option<&str>, Option<&str>),
        services: Vec<String>,
    ) -> ActiveBottle {
        let (agent, created) = seen;
        let or = |from_meta: Option<&String>, seen: Option<&str>| {
            from_meta
                .cloned()
                .or_else(|| seen.map(String::from))
                .unwrap_or_default()
        };
        ActiveBottle {
            backend: backend.to_owned(),
            slug: slug.to_owned(),
            agent: or(meta.map(|m| &m.agent), agent),
            started_at: or(meta.map(|m| &m.started_at), created),
            services,
            landed: Vec::new(),
            frozen: false,
            asleep: false,
            stopped: false,
            usage: None,
            seal: None,
            other_home: None,
            label: meta.map_or_else(|| slug.to_owned(), |m| m.label.clone()),
            color: meta.map_or_else(|| "cyan".to_owned(), |m| m.color.clone()),
        }
    }
}

impl ActiveBottle {
    /// What this home's state folder says of it: what its gate landed,
    /// whether it is frozen or asleep, its usage, its seal's last check.
    pub fn read_state(&mut self, home: &Home, prices: &Prices) {
        let bottle = home.bottle(&self.slug);
        self.landed = landed(home, &self.slug);
        self.frozen = bottle.is_frozen();
        self.asleep = bottle.is_asleep();
        self.usage = usage(home, &self.slug, prices);
        self.seal = crate::fileio::read_bounded(&bottle.seal_report(), 1 << 20)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    }
}

/// A branch a bottle brought home, as `list active --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Landed {
    /// The agent's branch.
    pub branch: String,
    /// The operator's branch it landed as.
    pub landed_as: String,
    pub commit: String,
    /// Remotes it went on to.
    pub forwarded: Vec<String>,
}

impl Landed {
    /// From the gate's `landed.json`, which a sidecar wrote: every text
    /// made inert.
    pub fn from_gate(b: &LandedBranch) -> Landed {
        Landed {
            branch: inert(&b.branch),
            landed_as: inert(&b.landed_as),
            commit: inert(&b.commit),
            forwarded: b.forwarded.iter().map(|r| inert(r)).collect(),
        }
    }

    /// `feature → bot-bottle/<slug>/feature @abc1234 (→ up)`.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} → {} @{}",
            self.branch,
            self.landed_as,
            self.commit.get(..7).unwrap_or(&self.commit)
        );
        if !self.forwarded.is_empty() {
            s.push_str(&format!(" (→ {})", self.forwarded.join(", ")));
        }
        s
    }
}

/// What a bottle's gate landed, from its state folder. For showing only: a
/// file that cannot be read shows nothing (the gate itself stops on it).
pub fn landed(home: &Home, slug: &str) -> Vec<Landed> {
    gitgate::read_landed(&home.bottle(slug).gate_dir())
        .unwrap_or_default()
        .branches
        .iter()
        .map(Landed::from_gate)
        .collect()
}

/// A bottle's model usage as `list active --json` shows it: egress's
/// totals (`models`, `updated_at`) and `cost`, their estimated cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BottleUsage {
    /// What egress counted, by model.
    #[serde(flatten)]
    pub totals: UsageTotals,
    /// What it cost at the home's prices (see `crate::pricing`).
    pub cost: Estimate,
}

/// What egress counted of bottle `slug`'s model usage, with its cost at
/// `prices`; none when it counted nothing yet (or the file cannot be
/// read: the count is a view, never a reason to fail a listing).
pub fn usage(home: &Home, slug: &str, prices: &Prices) -> Option<BottleUsage> {
    UsageTotals::read(&home.bottle(slug).egress_usage())
        .ok()
        .flatten()
        .filter(|u| !u.models.is_empty())
        .map(|totals| BottleUsage {
            cost: pricing::estimate(&totals, prices),
            totals,
        })
}

/// The price table of a listing, read once for all its bottles: the
/// home manifest's `prices`, else the embedded defaults; none when the
/// manifest cannot be read (a listing does not fail on it: its costs
/// read `no price`).
pub fn prices(home: &Home) -> Prices {
    crate::manifest::prices(&home.root).unwrap_or_default()
}

/// `12.3k in · 4.5k out · ~$0.42`: every input token (cached or not) and
/// the output, over every model, and their estimated cost (`~$0.42+` when
/// some model has no price, `no price` when none has).
pub fn tokens_text(usage: &BottleUsage) -> String {
    let models = &usage.totals.models;
    let (input, output) = models.values().fold((0u64, 0u64), |(i, o), m| {
        (
            i.saturating_add(m.input)
                .saturating_add(m.cache_read)
                .saturating_add(m.cache_write),
            o.saturating_add(m.output),
        )
    });
    let cost = &usage.cost;
    let cost = if cost.unpriced.len() >= models.len() {
        "no price".to_owned()
    } else if cost.unpriced.is_empty() {
        format!("~${:.2}", cost.usd)
    } else {
        format!("~${:.2}+", cost.usd)
    };
    format!("{} in · {} out · {cost}", short(input), short(output))
}

/// 999, 1.2k, 45.6k, 7.8M.
fn short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// The services column: the sidecars, or `(starting)` while only the agent
/// is up; `FROZEN` first when the operator froze it, `ASLEEP` when it
/// sleeps.
pub fn services_text(bottle: &ActiveBottle) -> String {
    if bottle.stopped {
        return format!("STOPPED by the engine (bot-bottle resume {})", bottle.slug);
    }
    let services = if bottle.services.is_empty() {
        "(starting)".into()
    } else {
        bottle.services.join(",")
    };
    match (bottle.frozen, bottle.asleep) {
        (true, _) => format!("FROZEN {services}"),
        (false, true) => format!("ASLEEP {services}"),
        (false, false) => services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_every_input_and_the_output_over_every_model() {
        use crate::egress::usage::totals::ModelTotals;
        use crate::pricing::Price;
        let (_dir, home) = Home::temp();
        let prices = Prices {
            by_prefix: [(
                "m1".to_owned(),
                Price {
                    input: 10.0,
                    output: 100.0,
                    cache_read: 1.0,
                    cache_write: 10.0,
                },
            )]
            .into(),
        };
        assert_eq!(usage(&home, "a-1", &prices), None, "nothing counted yet");
        let egress = home.bottle("a-1").egress_dir();
        std::fs::create_dir_all(&egress).unwrap();
        std::fs::write(
            home.bottle("a-1").egress_usage(),
            r#"{"models": {"m1": {"requests": 2, "input": 900, "output": 4500, "cache_read": 11000, "cache_write": 400},
                           "m2": {"requests": 1, "input": 2000000, "output": 999}}}"#,
        )
        .unwrap();
        let counted = usage(&home, "a-1", &prices).unwrap();
        assert_eq!(
            counted.totals.models["m1"],
            ModelTotals {
                requests: 2,
                input: 900,
                output: 4500,
                cache_read: 11000,
                cache_write: 400,
            }
        );
        // m1: 9000 + 450000 + 11000 + 4000 millionths of a dollar; m2 has
        // no price.
        assert_eq!(counted.cost.unpriced, ["m2"]);
        assert_eq!(tokens_text(&counted), "2.0M in · 5.5k out · ~$0.47+");
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1.0k"),
            (45_650, "45.6k"),
            (7_800_000, "7.8M"),
        ];
        for (n, want) in cases {
            assert_eq!(short(n), want);
        }
        std::fs::write(home.bottle("a-1").egress_usage(), "not json").unwrap();
        assert_eq!(usage(&home, "a-1", &prices), None, "unreadable: not shown");
    }

    #[test]
    fn the_cost_is_estimated_or_says_what_has_no_price() {
        let totals: UsageTotals =
            serde_json::from_str(r#"{"models": {"m1": {"input": 1000}, "m2": {"output": 2000}}}"#)
                .unwrap();
        let cases = [
            (0.4249, vec![], "1.0k in · 2.0k out · ~$0.42"),
            (0.0, vec![], "1.0k in · 2.0k out · ~$0.00"),
            (12.5, vec!["m2"], "1.0k in · 2.0k out · ~$12.50+"),
            (0.0, vec!["m1", "m2"], "1.0k in · 2.0k out · no price"),
        ];
        for (usd, unpriced, want) in cases {
            let usage = BottleUsage {
                totals: totals.clone(),
                cost: Estimate {
                    usd,
                    unpriced: unpriced.into_iter().map(String::from).collect(),
                },
            };
            assert_eq!(tokens_text(&usage), want);
        }
        let usage = BottleUsage {
            totals,
            cost: Estimate {
                usd: 0.5,
                unpriced: vec!["m2".into()],
            },
        };
        let json = serde_json::to_value(&usage).unwrap();
        assert_eq!(
            json["cost"],
            serde_json::json!({"usd": 0.5, "unpriced": ["m2"]})
        );
        assert_eq!(json["models"]["m1"]["input"], 1000);
    }

    #[test]
    fn a_listing_prices_at_the_home_table_or_the_embedded_one() {
        let (_dir, home) = Home::temp();
        let embedded = prices(&home);
        assert!(embedded.of("claude-sonnet-4-5-20250929").is_some());
        std::fs::create_dir_all(&home.root).unwrap();
        std::fs::write(
            home.root.join("bot-bottle.json"),
            r#"{"prices": {"mine": {"input": 1, "output": 2}}}"#,
        )
        .unwrap();
        let mine = prices(&home);
        assert_eq!(
            mine.by_prefix.len(),
            1,
            "the home's table replaces the embedded one"
        );
        assert_eq!(mine.of("mine-1").map(|p| p.cache_read), Some(1.0));
        std::fs::write(home.root.join("bot-bottle.json"), r#"{"prices": []}"#).unwrap();
        assert_eq!(prices(&home), Prices::default(), "a bad table: no price");
    }

    #[test]
    fn landed_branches_are_read_from_the_gate_and_made_inert() {
        let (_dir, home) = Home::temp();
        assert!(landed(&home, "a-1").is_empty(), "no gate, nothing landed");
        let gate = home.bottle("a-1").gate_dir();
        std::fs::create_dir_all(&gate).unwrap();
        std::fs::write(gate.join(crate::gitgate::LANDED_FILE), "{not json").unwrap();
        assert!(
            landed(&home, "a-1").is_empty(),
            "a bad file: nothing landed"
        );
        std::fs::write(
            gate.join(crate::gitgate::LANDED_FILE),
            r#"{"branches": [
                {"branch": "feature", "landed_as": "bot-bottle/a-1/feature",
                 "commit": "0123456789abcdef0123456789abcdef01234567", "at": "2026-12-03T04:00:00Z",
                 "forwarded": ["up"]},
                {"branch": "x\u001b[2J", "landed_as": "bot-bottle/a-1/x", "commit": "abc", "at": ""}
            ]}"#,
        )
        .unwrap();
        let got = landed(&home, "a-1");
        assert_eq!(
            got.iter().map(Landed::text).collect::<Vec<_>>(),
            [
                "feature → bot-bottle/a-1/feature @0123456 (→ up)",
                "x\\u{1b}[2J → bot-bottle/a-1/x @abc",
            ]
        );
        let json = serde_json::to_value(&got[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"branch": "feature", "landed_as": "bot-bottle/a-1/feature",
                "commit": "0123456789abcdef0123456789abcdef01234567", "forwarded": ["up"]})
        );
    }
}
