//! The token usage model APIs report, counted as their answers pass
//! through egress: per bottle (each bottle has its own egress), by model.
//!
//! A `Meter` reads an answer's body as it streams to the agent, never
//! holding it: the Anthropic Messages API (`…/v1/messages`), OpenAI Chat
//! Completions (`…/v1/chat/completions`) and OpenAI Responses
//! (`…/v1/responses`), each streamed (server-sent events) or not (one JSON
//! document). It gives what the answer reported at its end, or when it was
//! cut off: see `Usage` for what the numbers mean. `totals` keeps the
//! running sums in `usage.json`.
//!
//! Memory is bounded whatever the upstream sends: JSON is read for the few
//! fields wanted (see `pick`), and SSE lines are read as they come, so an
//! event of any size (an OpenAI `response.completed` carries the whole
//! answer) is still counted.

mod pick;
pub(crate) mod price;
pub(crate) mod totals;

use pick::{Path, Picker};

pub(crate) use totals::Tally;

/// Model names are the upstream's text: kept to this many bytes.
pub(crate) const MODEL_NAME_LIMIT: usize = 128;
/// The name usage is counted under when an answer names no model.
pub(crate) const UNKNOWN_MODEL: &str = "unknown";

/// The tokens one answer reported. `input` counts the input tokens neither
/// read from nor written to the prompt cache, so that input + cache_read +
/// cache_write is the whole input for every API (OpenAI's prompt_tokens
/// include the cached ones, which are taken out of `input` here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Usage {
    /// The model that answered, as it named itself (clipped, no control
    /// characters), or `UNKNOWN_MODEL`.
    pub(crate) model: String,
    /// Input tokens not served from or written to the cache.
    pub(crate) input: u64,
    /// Output tokens (thinking and reasoning included).
    pub(crate) output: u64,
    /// Input tokens read from the prompt cache.
    pub(crate) cache_read: u64,
    /// Input tokens written to the prompt cache (Anthropic).
    pub(crate) cache_write: u64,
}

/// A budget the bottle used up: what it was and how much of it went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Spent {
    /// Model tokens (`token_budget`).
    Tokens {
        /// Tokens counted.
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// US dollars at the prices of `routes.json` (`spend`).
    Dollars {
        /// What the tokens counted cost.
        spent: f64,
        /// The budget.
        budget: price::Usd,
    },
}

impl Spent {
    /// What was spent of what, for the log: `5000 of 4000 tokens`,
    /// `$5.02 of $5.00`.
    pub(crate) fn amounts(&self) -> String {
        match self {
            Spent::Tokens { used, budget } => format!("{used} of {budget} tokens"),
            Spent::Dollars { spent, budget } => {
                format!("{} of {budget}", price::dollars_text(*spent))
            }
        }
    }

    /// What the agent is told.
    fn message(&self) -> String {
        match self {
            Spent::Tokens { .. } => format!(
                "bot-bottle: this bottle's token budget is spent ({}); the operator can raise it (limits.tokens, or token_budget in `bot-bottle routes edit`)",
                self.amounts()
            ),
            Spent::Dollars { .. } => format!(
                "bot-bottle: this bottle's spend budget is spent ({}, estimated at the operator's prices); the operator can raise it (limits.spend, or spend.budget in `bot-bottle routes edit`)",
                self.amounts()
            ),
        }
    }
}

/// A model call past one of the bottle's budgets, refused in its API's own
/// error shape, so that the agent's CLI shows it as an API error: the JSON
/// body; `None` for a request no API here knows.
pub(crate) fn budget_refusal(method: &str, path: &str, spent: &Spent) -> Option<String> {
    if method != "POST" {
        return None;
    }
    let message = spent.message();
    let body = match Api::of(path)? {
        Api::Anthropic => serde_json::json!({
            "type": "error",
            "error": {"type": "permission_error", "message": message},
        }),
        Api::Chat | Api::Responses => serde_json::json!({
            "error": {"message": message, "type": "insufficient_quota", "code": "budget_spent"},
        }),
    };
    Some(body.to_string())
}

/// The API an answer comes from, by its request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Anthropic,
    Chat,
    Responses,
}

impl Api {
    fn of(path: &str) -> Option<Api> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let path = path.trim_end_matches('/');
        if path.ends_with("/v1/messages") {
            Some(Api::Anthropic)
        } else if path.ends_with("/v1/chat/completions") {
            Some(Api::Chat)
        } else if path.ends_with("/v1/responses") {
            Some(Api::Responses)
        } else {
            None
        }
    }

    /// The JSON fields read, in any event or document of this API.
    fn wants(self) -> &'static [Path] {
        match self {
            Api::Anthropic => ANTHROPIC_WANTS,
            Api::Chat => &CHAT.0,
            Api::Responses => RESPONSES_WANTS,
        }
    }

    /// Whether `prompt` counts include the cached tokens.
    fn input_includes_cached(self) -> bool {
        self != Api::Anthropic
    }
}

/// Where one shape of document has the model and the four counts:
/// model, input, output, cache read, cache write (empty: not reported).
struct Fields([Path; 5]);

const TYPE: Path = &["type"];

const ANTHROPIC: Fields = Fields([
    &["model"],
    &["usage", "input_tokens"],
    &["usage", "output_tokens"],
    &["usage", "cache_read_input_tokens"],
    &["usage", "cache_creation_input_tokens"],
]);
/// `message_start`: the message, usage so far.
const ANTHROPIC_START: Fields = Fields([
    &["message", "model"],
    &["message", "usage", "input_tokens"],
    &["message", "usage", "output_tokens"],
    &["message", "usage", "cache_read_input_tokens"],
    &["message", "usage", "cache_creation_input_tokens"],
]);
const ANTHROPIC_WANTS: &[Path] = &[
    TYPE,
    ANTHROPIC.0[0],
    ANTHROPIC.0[1],
    ANTHROPIC.0[2],
    ANTHROPIC.0[3],
    ANTHROPIC.0[4],
    ANTHROPIC_START.0[0],
    ANTHROPIC_START.0[1],
    ANTHROPIC_START.0[2],
    ANTHROPIC_START.0[3],
    ANTHROPIC_START.0[4],
];
const CHAT: Fields = Fields([
    &["model"],
    &["usage", "prompt_tokens"],
    &["usage", "completion_tokens"],
    &["usage", "prompt_tokens_details", "cached_tokens"],
    &[],
]);
const RESPONSES: Fields = Fields([
    &["model"],
    &["usage", "input_tokens"],
    &["usage", "output_tokens"],
    &["usage", "input_tokens_details", "cached_tokens"],
    &[],
]);
/// A streamed event's `response`.
const RESPONSES_EVENT: Fields = Fields([
    &["response", "model"],
    &["response", "usage", "input_tokens"],
    &["response", "usage", "output_tokens"],
    &["response", "usage", "input_tokens_details", "cached_tokens"],
    &[],
]);
const RESPONSES_WANTS: &[Path] = &[
    RESPONSES.0[0],
    RESPONSES.0[1],
    RESPONSES.0[2],
    RESPONSES.0[3],
    RESPONSES_EVENT.0[0],
    RESPONSES_EVENT.0[1],
    RESPONSES_EVENT.0[2],
    RESPONSES_EVENT.0[3],
];

/// Reads one answer's body as it passes; see the module's doc.
pub(crate) struct Meter {
    api: Api,
    form: Form,
    model: Option<String>,
    /// input, output, cache read, cache write, as reported.
    counts: [Option<u64>; 4],
}

enum Form {
    /// No content type: the first byte that is not whitespace tells.
    Sniff,
    Json(Picker),
    Sse(Sse),
}

impl Meter {
    /// A meter for the answer to a request for `path` whose content type
    /// is `content_type`; None when it is no answer of a model API this
    /// counts.
    pub(crate) fn new(path: &str, content_type: Option<&str>) -> Option<Meter> {
        let api = Api::of(path)?;
        let form = match content_type.map(str::to_ascii_lowercase) {
            None => Form::Sniff,
            Some(t) if t.contains("text/event-stream") => Form::Sse(Sse::new()),
            Some(t) if t.contains("json") => Form::Json(Picker::new(api.wants())),
            Some(_) => return None,
        };
        Some(Meter {
            api,
            form,
            model: None,
            counts: [None; 4],
        })
    }

    /// Reads the next bytes of the body.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        if let Form::Sniff = self.form {
            let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
            let Some(start) = start else {
                return;
            };
            bytes = &bytes[start..];
            self.form = if bytes[0] == b'{' {
                Form::Json(Picker::new(self.api.wants()))
            } else {
                Form::Sse(Sse::new())
            };
        }
        match &mut self.form {
            Form::Sniff => {}
            Form::Json(picker) => picker.feed(bytes),
            Form::Sse(sse) => {
                let api = self.api;
                let mut events = Vec::new();
                sse.feed(api, bytes, &mut events);
                for (name, picker) in events {
                    self.take_event(name.as_deref(), &picker);
                }
            }
        }
    }

    /// The body has ended, or was cut off: the usage it reported, if any.
    pub(crate) fn finish(mut self) -> Option<Usage> {
        match std::mem::replace(&mut self.form, Form::Sniff) {
            Form::Sniff => {}
            Form::Json(mut picker) => {
                picker.finish();
                if !picker.failed() {
                    self.take_event(None, &picker);
                }
            }
            Form::Sse(mut sse) => {
                if let Some((name, picker)) = sse.end() {
                    self.take_event(name.as_deref(), &picker);
                }
            }
        }
        self.usage()
    }

    /// What one event (or the whole JSON answer, `event` None) says.
    fn take_event(&mut self, event: Option<&str>, doc: &Picker) {
        if doc.failed() {
            return;
        }
        match self.api {
            Api::Anthropic => {
                let kind = doc.text(TYPE).or(event);
                if kind == Some("message_start") {
                    self.take(doc, &ANTHROPIC_START);
                } else {
                    // The answer whole, or `message_delta` (its counts are
                    // the message's so far: the last one holds).
                    self.take(doc, &ANTHROPIC);
                }
            }
            Api::Chat => self.take(doc, &CHAT),
            Api::Responses => {
                self.take(doc, &RESPONSES);
                self.take(doc, &RESPONSES_EVENT);
            }
        }
    }

    /// The fields of `doc` at `fields`, over what was seen before.
    fn take(&mut self, doc: &Picker, fields: &Fields) {
        let [model, counts @ ..] = &fields.0;
        if let Some(m) = doc.text(model) {
            self.model = Some(m.to_owned());
        }
        for (slot, path) in self.counts.iter_mut().zip(counts) {
            if !path.is_empty()
                && let Some(n) = doc.count(path)
            {
                *slot = Some(n);
            }
        }
    }

    fn usage(&self) -> Option<Usage> {
        if self.counts.iter().all(Option::is_none) {
            return None;
        }
        let [input, output, cache_read, cache_write] = self.counts.map(Option::unwrap_or_default);
        let input = if self.api.input_includes_cached() {
            input.saturating_sub(cache_read)
        } else {
            input
        };
        Some(Usage {
            model: model_name(self.model.as_deref().unwrap_or_default()),
            input,
            output,
            cache_read,
            cache_write,
        })
    }
}

/// A model name as kept: no control characters, at most
/// `MODEL_NAME_LIMIT` bytes, `UNKNOWN_MODEL` when empty.
pub(crate) fn model_name(name: &str) -> String {
    let mut kept = String::new();
    for c in name.trim().chars() {
        let c = if c.is_control() { '?' } else { c };
        if kept.len() + c.len_utf8() > MODEL_NAME_LIMIT {
            break;
        }
        kept.push(c);
    }
    if kept.is_empty() {
        UNKNOWN_MODEL.to_owned()
    } else {
        kept
    }
}

/// Server-sent events, read as they come: each event's `data` goes
/// through a `Picker` as it arrives, its `event` name is kept (clipped),
/// other fields and comments are read over.
struct Sse {
    line: Line,
    /// The line's field name so far (short ones only matter).
    field: Vec<u8>,
    /// The last line ended with CR: a LF right after it belongs to it.
    after_cr: bool,
    /// The event's name, clipped.
    name: Vec<u8>,
    /// The event's data, once a data line came.
    data: Option<Picker>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Reading the field name.
    Field,
    /// After the colon; a space may come first.
    Space(Value),
    /// In the value.
    Value(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Data,
    Event,
    Ignored,
}

const FIELD_LIMIT: usize = 8;
const EVENT_NAME_LIMIT: usize = 64;

/// An event that ended: its name and its data, read.
type Event = (Option<String>, Picker);

impl Sse {
    fn new() -> Sse {
        Sse {
            line: Line::Field,
            field: Vec::new(),
            after_cr: false,
            name: Vec::new(),
            data: None,
        }
    }

    /// Reads on; the events that ended go to `events`.
    fn feed(&mut self, api: Api, bytes: &[u8], events: &mut Vec<Event>) {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                i += 1;
                continue;
            }
            if let Line::Value(value) = self.line {
                let run = bytes[i..]
                    .iter()
                    .position(|b| *b == b'\n' || *b == b'\r')
                    .unwrap_or(bytes.len() - i);
                let part = &bytes[i..i + run];
                match value {
                    Value::Data => {
                        if let Some(p) = &mut self.data {
                            p.feed(part);
                        }
                    }
                    Value::Event => {
                        let room = EVENT_NAME_LIMIT.saturating_sub(self.name.len());
                        self.name.extend_from_slice(&part[..part.len().min(room)]);
                    }
                    Value::Ignored => {}
                }
                i += run;
                if i == bytes.len() {
                    break;
                }
            }
            let b = bytes[i];
            i += 1;
            if b == b'\n' || b == b'\r' {
                self.after_cr = b == b'\r';
                self.line_end(api, events);
                continue;
            }
            match self.line {
                Line::Field if b == b':' => self.line = Line::Space(self.start_value(api)),
                Line::Field => {
                    if self.field.len() < FIELD_LIMIT {
                        self.field.push(b);
                    } else {
                        // No field that matters is this long.
                        self.line = Line::Value(Value::Ignored);
                    }
                }
                Line::Space(value) => {
                    self.line = Line::Value(value);
                    if b != b' ' {
                        i -= 1;
                    }
                }
                Line::Value(_) => {}
            }
        }
    }

    /// A field's name has been read: what its value is.
    fn start_value(&mut self, api: Api) -> Value {
        match self.field.as_slice() {
            b"data" => {
                match &mut self.data {
                    // The data of several lines is one, joined by a newline.
                    Some(p) => p.feed(b"\n"),
                    None => self.data = Some(Picker::new(api.wants())),
                }
                Value::Data
            }
            b"event" => {
                self.name.clear();
                Value::Event
            }
            _ => Value::Ignored,
        }
    }

    fn line_end(&mut self, api: Api, events: &mut Vec<Event>) {
        match self.line {
            Line::Field if self.field.is_empty() => events.extend(self.dispatch()),
            // A field with no colon has an empty value.
            Line::Field => {
                self.start_value(api);
            }
            Line::Space(_) | Line::Value(_) => {}
        }
        self.line = Line::Field;
        self.field.clear();
    }

    /// A blank line ends the event.
    fn dispatch(&mut self) -> Option<Event> {
        let name = std::mem::take(&mut self.name);
        let mut data = self.data.take()?;
        data.finish();
        let name = (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned());
        Some((name, data))
    }

    /// The stream has ended: an event it cut short still counts for what
    /// it read.
    fn end(&mut self) -> Option<Event> {
        self.dispatch()
    }
}

#[cfg(test)]
mod tests;
