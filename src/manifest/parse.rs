//! Text to definitions: `bot-bottle.json` and markdown agents. Pure: file
//! existence and `extends:` are checked later, by `load` and `resolve`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::error::closest;
use super::{Agent, Git, Limits, ManifestError, Origin, Place, Route};

mod fields;
mod git;
mod home;
mod limits;
mod route;
use crate::provider::Provider;
use fields::{Fields, kind};
pub(super) use home::{capability_base_images, idle_after, notify_command, prices};
use route::route;
pub(crate) use route::{parse_scheme, validate_host};

/// A file being parsed: who it is, and what its relative paths are against.
#[derive(Debug, Clone)]
pub(super) struct Source {
    pub origin: Origin,
    /// The folder relative paths start from; None for embedded defaults.
    pub base_dir: Option<PathBuf>,
    /// The user's home folder, for paths written as `~/...`.
    pub home: Option<PathBuf>,
}

impl Source {
    /// A path as written in the file, made absolute.
    fn path(&self, written: &str) -> PathBuf {
        if let (Some(rest), Some(home)) = (written.strip_prefix("~/"), &self.home) {
            return home.join(rest);
        }
        match &self.base_dir {
            Some(base) => base.join(written),
            None => PathBuf::from(written),
        }
    }
}

/// An agent as written: its skills named, not yet looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawAgent {
    /// The agent, its `skills` still empty.
    pub agent: Agent,
    /// The skills it names.
    pub skills: Vec<String>,
    /// Where this agent's skills are looked up first.
    pub skills_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RawImage {
    Image(String),
    Dockerfile(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawBottle {
    pub name: String,
    pub extends: Option<String>,
    pub image: Option<RawImage>,
    pub env: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    pub trust_upstream_ca: Vec<PathBuf>,
    pub ssh: Vec<(String, PathBuf)>,
    pub limits: Limits,
    pub git: Git,
    pub origin: Origin,
}

const TOP_KEYS: &[&str] = &[
    "agents",
    "bottles",
    "notify",
    "capability",
    "idle_after",
    "prices",
];
const JSON_AGENT_KEYS: &[&str] = &[
    "provider",
    "prompt",
    "bottle",
    "skills",
    "startup_args",
    "description",
    "model",
    "color",
];
/// Markdown agents also take Claude Code's own keys, so its agent files work.
const MD_AGENT_KEYS: &[&str] = &[
    "provider",
    "bottle",
    "skills",
    "startup_args",
    "description",
    "model",
    "color",
    "name",
    "tools",
];
const BOTTLE_KEYS: &[&str] = &[
    "extends",
    "image",
    "dockerfile",
    "env",
    "egress",
    "ssh",
    "limits",
    "git",
];
const EGRESS_KEYS: &[&str] = &["routes", "trust_upstream_ca"];
const ROUTE_KEYS: &[&str] = &[
    "host",
    "path_allowlist",
    "auth",
    "role",
    "allow_private_addresses",
    "block_server_tools",
];
const AUTH_KEYS: &[&str] = &["scheme", "token_env"];
const SSH_KEYS: &[&str] = &["host", "identity_file"];
/// The colors an agent (or `start --color`) may name, besides `#rrggbb`.
pub(crate) const COLORS: &[&str] = &[
    "red", "green", "yellow", "blue", "magenta", "cyan", "white", "orange", "purple", "pink",
    "gray",
];

/// A `bot-bottle.json`'s document; a syntax error names the file, line
/// and column.
fn json_doc(text: &str, src: &Source) -> Result<Value, ManifestError> {
    serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
        file: src.origin.to_string(),
        format: "JSON",
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })
}

/// Parses a `bot-bottle.json`.
pub(super) fn parse_json(
    text: &str,
    src: &Source,
) -> Result<(Vec<RawAgent>, Vec<RawBottle>), ManifestError> {
    let doc = json_doc(text, src)?;
    let place = Place::file(&src.origin);
    let top = Fields::new(&doc, &place, "", TOP_KEYS)?;
    home::check(&top)?;

    let mut agents = Vec::new();
    for (name, value) in top.entries("agents")? {
        check_name(&place, "agents", name)?;
        let place = Place::agent(&src.origin, name);
        let fields = Fields::new(value, &place, "", JSON_AGENT_KEYS)?;
        let prompt = fields.string("prompt")?.unwrap_or_default();
        agents.push(agent(name, prompt, &fields, src)?);
    }

    let mut bottles = Vec::new();
    for (name, value) in top.entries("bottles")? {
        check_name(&place, "bottles", name)?;
        bottles.push(bottle(name, value, src)?);
    }
    Ok((agents, bottles))
}

/// Parses a markdown agent: YAML frontmatter between `---` lines, then the
/// prompt. The agent is named after the file stem.
pub(super) fn parse_agent_md(
    text: &str,
    name: &str,
    src: &Source,
) -> Result<RawAgent, ManifestError> {
    let file = src.origin.to_string();
    let (front, body) =
        split_frontmatter(text).ok_or(ManifestError::UnclosedFrontmatter { file: file.clone() })?;
    let place = Place::agent(&src.origin, name);
    check_name(&Place::file(&src.origin), "agent file name", name)?;
    let meta = match front {
        None => Value::Object(Map::new()),
        Some(yaml) => yaml_to_json(yaml, &file)?,
    };
    let fields = Fields::new(&meta, &place, "", MD_AGENT_KEYS)?;
    // Claude Code's own keys: `name` is informational (the file stem names
    // the agent); `tools` is not enforced (the bottle is the boundary).
    fields.string("name")?;
    agent(name, body.trim().to_owned(), &fields, src)
}

fn agent(name: &str, prompt: String, f: &Fields, src: &Source) -> Result<RawAgent, ManifestError> {
    let provider = match f.string("provider")? {
        None => Provider::Claude,
        Some(p) => Provider::parse(&p).ok_or_else(|| {
            f.invalid(
                "provider",
                format!("unknown provider '{p}'"),
                Some(suggest(&p, Provider::NAMES, "providers")),
            )
        })?,
    };
    let bottles = f.string_or_list("bottle")?;
    for b in &bottles {
        check_name(f.place, "bottle", b)?;
    }
    let skills = f.string_or_list("skills")?;
    for s in &skills {
        check_name(f.place, "skills", s)?;
    }
    let color = f.string("color")?;
    if let Some(c) = color.as_deref().filter(|c| !is_color(c)) {
        return Err(f.invalid(
            "color",
            format!("unknown color '{c}'"),
            Some(suggest(c, COLORS, "colors (or #rrggbb)")),
        ));
    }
    let model = f.string("model")?;
    if model.as_deref() == Some("") {
        return Err(f.invalid(
            "model",
            "is empty".into(),
            Some("name a model or remove the key".into()),
        ));
    }
    Ok(RawAgent {
        agent: Agent {
            name: name.to_owned(),
            provider,
            prompt,
            bottles,
            skills: Vec::new(),
            startup_args: f.list("startup_args")?,
            description: f.string("description")?,
            model,
            color,
            origin: src.origin.clone(),
        },
        skills,
        skills_dir: src.base_dir.as_ref().map(|b| b.join("skills")),
    })
}

/// One entry of `bottles`, its keys checked and its paths resolved
/// against `src`.
fn bottle(name: &str, value: &Value, src: &Source) -> Result<RawBottle, ManifestError> {
    let place = Place::bottle(&src.origin, name);
    let f = Fields::new(value, &place, "", BOTTLE_KEYS)?;
    let image = bottle_image(&f, src)?;
    let env = bottle_env(&f)?;
    let (routes, trust_upstream_ca) = match f.get("egress") {
        None => (Vec::new(), Vec::new()),
        Some(egress) => egress_section(egress, &place, src)?,
    };
    let mut ssh = Vec::new();
    for (i, entry) in f.array("ssh")?.iter().enumerate() {
        ssh.push(ssh_entry(entry, &place, &format!("ssh[{i}]."), src)?);
    }
    let limits = match f.get("limits") {
        None => Limits::default(),
        Some(value) => limits::parse(&Fields::new(value, &place, "limits.", limits::KEYS)?)?,
    };
    let git = match f.get("git") {
        None => Git::default(),
        Some(value) => git::parse(&Fields::new(value, &place, "git.", git::KEYS)?, &place)?,
    };
    let extends = f.string("extends")?;
    if let Some(e) = &extends {
        check_name(&place, "extends", e)?;
    }
    Ok(RawBottle {
        name: name.to_owned(),
        extends,
        image,
        env,
        routes,
        trust_upstream_ca,
        ssh,
        limits,
        git,
        origin: src.origin.clone(),
    })
}

/// A bottle's `image` or `dockerfile` (not both), if it has one.
fn bottle_image(f: &Fields, src: &Source) -> Result<Option<RawImage>, ManifestError> {
    match (f.string("image")?, f.string("dockerfile")?) {
        (Some(_), Some(_)) => Err(f.invalid(
            "image",
            "both 'image' and 'dockerfile' are set".into(),
            Some("keep one: 'image' uses an existing image, 'dockerfile' builds one".into()),
        )),
        (Some(image), None) if image.trim().is_empty() || image.contains(char::is_whitespace) => {
            Err(f.invalid(
                "image",
                format!("'{image}' is not an image reference"),
                None,
            ))
        }
        (Some(image), None) => Ok(Some(RawImage::Image(image))),
        (None, Some(path)) if path.is_empty() => {
            Err(f.invalid("dockerfile", "is empty".into(), None))
        }
        (None, Some(path)) => Ok(Some(RawImage::Dockerfile(src.path(&path)))),
        (None, None) => Ok(None),
    }
}

/// A bottle's `env`: variable names to string values.
fn bottle_env(f: &Fields) -> Result<BTreeMap<String, String>, ManifestError> {
    let mut env = BTreeMap::new();
    for (key, value) in f.entries("env")? {
        check_env_name(f, &format!("env.{key}"), key)?;
        let Value::String(v) = value else {
            return Err(f.invalid(
                &format!("env.{key}"),
                format!("expected a string, found {}", kind(value)),
                None,
            ));
        };
        env.insert(key.clone(), v.clone());
    }
    Ok(env)
}

/// A bottle's `egress`: its routes (one a host) and the upstream CAs it
/// trusts.
fn egress_section(
    egress: &Value,
    place: &Place,
    src: &Source,
) -> Result<(Vec<Route>, Vec<PathBuf>), ManifestError> {
    let eg = Fields::new(egress, place, "egress.", EGRESS_KEYS)?;
    let routes = named_entries(
        &eg,
        "routes",
        "host",
        |r, prefix| route(r, place, prefix),
        |r: &Route| r.host.as_str(),
        "has two routes",
        "merge them into one route",
    )?;
    let cas = eg
        .list("trust_upstream_ca")?
        .iter()
        .map(|p| src.path(p))
        .collect();
    Ok((routes, cas))
}

/// The entries of the list `key` in `f`, each read by `read` from its
/// value and its keys' prefix; two that `name` names alike are refused at
/// the second's `field`: "'NAME' {twice}", and `hint`.
fn named_entries<T>(
    f: &Fields,
    key: &str,
    field: &str,
    read: impl Fn(&Value, &str) -> Result<T, ManifestError>,
    name: impl Fn(&T) -> &str,
    twice: &str,
    hint: &str,
) -> Result<Vec<T>, ManifestError> {
    let mut entries: Vec<T> = Vec::new();
    for (i, value) in f.array(key)?.iter().enumerate() {
        let entry = read(value, &format!("{}{key}[{i}].", f.prefix))?;
        if entries.iter().any(|e| name(e) == name(&entry)) {
            return Err(f.invalid(
                &format!("{key}[{i}].{field}"),
                format!("'{}' {twice}", name(&entry)),
                Some(hint.into()),
            ));
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// One entry of a bottle's `ssh`: the host (lower-cased) and its
/// identity file.
fn ssh_entry(
    entry: &Value,
    place: &Place,
    prefix: &str,
    src: &Source,
) -> Result<(String, PathBuf), ManifestError> {
    let s = Fields::new(entry, place, prefix, SSH_KEYS)?;
    let host = s.required_string("host")?;
    validate_host(&host)
        .map_err(|problem| s.invalid("host", format!("'{host}' {problem}"), None))?;
    let identity = s.required_string("identity_file")?;
    Ok((host.to_ascii_lowercase(), src.path(&identity)))
}

/// Splits off YAML frontmatter. Returns None when it is opened and never
/// closed; otherwise the YAML (if any) and the body.
pub(super) fn split_frontmatter(text: &str) -> Option<(Option<&str>, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let Some(first) = lines.next() else {
        return Some((None, text));
    };
    if first.trim_end() != "---" {
        return Some((None, text));
    }
    let start = first.len();
    let mut pos = start;
    for line in lines {
        if line.trim_end() == "---" {
            return Some((Some(&text[start..pos]), &text[pos + line.len()..]));
        }
        pos += line.len();
    }
    None
}

fn yaml_to_json(yaml: &str, file: &str) -> Result<Value, ManifestError> {
    let syntax = |line: usize, column: usize, message: String| ManifestError::Syntax {
        file: file.to_owned(),
        format: "YAML frontmatter",
        // The frontmatter starts on the line after the opening `---`.
        line: line + 1,
        column,
        message,
    };
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        syntax(line, column, strip_position(&e.to_string()))
    })?;
    if value.is_null() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::to_value(value).map_err(|e| syntax(1, 1, e.to_string()))
}

/// Drops the " at line X column Y" both parsers append; we print our own.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn check_name(place: &Place, key: &str, name: &str) -> Result<(), ManifestError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.starts_with(['.', '-']);
    if ok {
        return Ok(());
    }
    Err(ManifestError::Invalid {
        place: place.clone(),
        key: key.to_owned(),
        message: format!("'{name}' is not a valid name"),
        hint: Some(
            "names use letters, digits, '.', '_' and '-', and start with a letter or digit".into(),
        ),
    })
}

fn check_env_name(f: &Fields, key: &str, name: &str) -> Result<(), ManifestError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(f.invalid(key, format!("'{name}' is not a variable name"), None))
    }
}

/// One of `COLORS` or `#rrggbb`.
pub(crate) fn is_color(c: &str) -> bool {
    let hex = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    hex || COLORS.contains(&c)
}

fn suggest(word: &str, options: &[&str], what: &str) -> String {
    match closest(word, options.iter().copied()) {
        Some(s) => format!("did you mean '{s}'?"),
        None => format!("{what}: {}", options.join(", ")),
    }
}

#[cfg(test)]
mod tests;
