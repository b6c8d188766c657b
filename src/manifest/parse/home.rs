//! The settings only the operator's own manifest
//! (`$BOT_BOTTLE_HOME/bot-bottle.json`) may make: `notify`, `capability`,
//! `idle_after` and `prices`. A project's manifest that sets one is
//! refused (`load::project`); every manifest's are checked when it loads.

use std::time::Duration;

use serde_json::Value;

use super::fields::{Fields, kind};
use super::{Source, TOP_KEYS, json_doc};
use crate::manifest::{ManifestError, Place};
use crate::pricing::{Price, Prices};

/// `notify`: operator settings, read from `$BOT_BOTTLE_HOME` only.
const NOTIFY_KEYS: &[&str] = &["command"];
/// `capability`: which images an agent's Dockerfile may read besides the
/// bottle's own; from `$BOT_BOTTLE_HOME` only.
const CAPABILITY_KEYS: &[&str] = &["base_images"];
/// One entry of `prices`: US dollars per million tokens of each kind.
const PRICE_KEYS: &[&str] = &["input", "output", "cache_read", "cache_write"];

/// Checks every home-only setting of a manifest's top level.
pub(super) fn check(top: &Fields) -> Result<(), ManifestError> {
    notify(top)?;
    capability(top)?;
    idle(top)?;
    price_table(top)?;
    Ok(())
}

/// `read` over the top level of a `bot-bottle.json`.
fn top<T>(
    text: &str,
    src: &Source,
    read: impl Fn(&Fields) -> Result<T, ManifestError>,
) -> Result<T, ManifestError> {
    let doc = json_doc(text, src)?;
    let place = Place::file(&src.origin);
    read(&Fields::new(&doc, &place, "", TOP_KEYS)?)
}

/// The `notify.command` of a `bot-bottle.json`: run on new proposals
/// (see `crate::notify`).
pub(in crate::manifest) fn notify_command(
    text: &str,
    src: &Source,
) -> Result<Option<String>, ManifestError> {
    top(text, src, notify)
}

fn notify(top: &Fields) -> Result<Option<String>, ManifestError> {
    let Some(value) = top.get("notify") else {
        return Ok(None);
    };
    let fields = Fields::new(value, top.place, "notify.", NOTIFY_KEYS)?;
    let command = fields.required_string("command")?;
    if command.trim().is_empty() || command.contains('\0') {
        return Err(fields.invalid(
            "command",
            "must be a shell command".into(),
            Some("for example: \"notify-send bot-bottle\"".into()),
        ));
    }
    Ok(Some(command))
}

/// The `capability.base_images` of a `bot-bottle.json`, None when it has
/// no `capability` (see `crate::dockerfile::images`).
pub(in crate::manifest) fn capability_base_images(
    text: &str,
    src: &Source,
) -> Result<Option<Vec<String>>, ManifestError> {
    top(text, src, capability)
}

fn capability(top: &Fields) -> Result<Option<Vec<String>>, ManifestError> {
    let Some(value) = top.get("capability") else {
        return Ok(None);
    };
    let fields = Fields::new(value, top.place, "capability.", CAPABILITY_KEYS)?;
    let images = fields.list("base_images")?;
    for (i, image) in images.iter().enumerate() {
        crate::dockerfile::images::normalize(image).map_err(|why| {
            fields.invalid(
                &format!("base_images[{i}]"),
                format!("'{image}' {why}"),
                Some("name each image as docker does: node:20, ghcr.io/acme/tools:1.2".into()),
            )
        })?;
    }
    Ok(Some(images))
}

/// The `idle_after` of a `bot-bottle.json`: how long an agent may be idle
/// before the dashboard puts it to sleep; None when it has none (off).
pub(in crate::manifest) fn idle_after(
    text: &str,
    src: &Source,
) -> Result<Option<Duration>, ManifestError> {
    top(text, src, idle)
}

fn idle(top: &Fields) -> Result<Option<Duration>, ManifestError> {
    let Some(text) = top.string("idle_after")? else {
        return Ok(None);
    };
    match humantime::parse_duration(&text) {
        Ok(d) if d >= MIN_IDLE_AFTER => Ok(Some(d)),
        _ => Err(top.invalid(
            "idle_after",
            format!("'{text}' is not a duration of 10s or more"),
            Some("for example: \"30m\", \"2h\"; leave it out to keep agents awake".into()),
        )),
    }
}

/// The shortest `idle_after`: an agent thinking between two outputs is
/// not idle.
const MIN_IDLE_AFTER: Duration = Duration::from_secs(10);

/// The `prices` of a `bot-bottle.json`: what a million tokens of each
/// kind cost, by model name prefix (see `crate::pricing`); None when it
/// has none.
pub(in crate::manifest) fn prices(
    text: &str,
    src: &Source,
) -> Result<Option<Prices>, ManifestError> {
    top(text, src, price_table)
}

fn price_table(top: &Fields) -> Result<Option<Prices>, ManifestError> {
    if top.get("prices").is_none() {
        return Ok(None);
    }
    let mut prices = Prices::default();
    for (prefix, value) in top.entries("prices")? {
        let f = Fields::new(value, top.place, &format!("prices.{prefix}."), PRICE_KEYS)?;
        let input = dollars(&f, "input")?;
        let output = dollars(&f, "output")?;
        let (Some(input), Some(output)) = (input, output) else {
            let missing = if input.is_none() { "input" } else { "output" };
            return Err(f.invalid(
                missing,
                "is missing: input and output are required; cache_read and cache_write default to input".into(),
                Some(r#"for example: "claude-sonnet-4": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}"#.into()),
            ));
        };
        let price = Price {
            input,
            output,
            cache_read: dollars(&f, "cache_read")?.unwrap_or(input),
            cache_write: dollars(&f, "cache_write")?.unwrap_or(input),
        };
        prices.by_prefix.insert(prefix.clone(), price);
    }
    Ok(Some(prices))
}

/// A price in `f`: US dollars per million tokens, finite and 0 or more.
fn dollars(f: &Fields, key: &str) -> Result<Option<f64>, ManifestError> {
    let Some(value) = f.get(key) else {
        return Ok(None);
    };
    match value.as_f64() {
        Some(usd) if usd.is_finite() && usd >= 0.0 => Ok(Some(usd)),
        _ => Err(f.invalid(
            key,
            match value {
                Value::Number(n) => format!("{n} is not a price"),
                v => format!("expected a number, found {}", kind(v)),
            },
            Some(format!(
                "a price is US dollars per million tokens, 0 or more, e.g. \"{key}\": 3.0"
            )),
        )),
    }
}
