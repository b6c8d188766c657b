//! The images a Dockerfile reads — the one each stage starts `FROM` and
//! the ones `COPY --from=` copies out of — and the rule for an agent's
//! Dockerfile: it may read only the bottle's own images and the ones the
//! operator listed (`capability.base_images`), each pinned, once the
//! operator approves, to the image id this engine has for it, so the build
//! uses exactly the image that was shown and never fetches one.
//!
//! A stage of the same Dockerfile (by name or number, defined before) and
//! `scratch` read no image. Anything else must be a plain reference (no
//! `$VARIABLE`, quotes or escapes, no `--platform`, which would make the
//! builder pull another variant); it is compared the way docker names
//! images (`debian` is `docker.io/library/debian:latest`).

use serde::{Deserialize, Serialize};

use super::parse::{self, Instruction, is_blank};

/// The tag an approved image is pinned under: `bot-bottle-base:<its id's
/// hex>`. A name of the `library` namespace, which only Docker publishes
/// to, so nothing can be pulled in its stead.
pub(crate) const PIN_REPOSITORY: &str = "bot-bottle-base";

/// Where a bottle's `Allowed` is written, in its folder and supervise's.
pub(crate) const ALLOWED_FILE: &str = "base-images.json";

/// The images an agent's Dockerfile may read, as written at launch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Allowed {
    /// The bottle's own: the image it runs, and the images its current
    /// Dockerfile reads.
    pub(crate) own: Vec<String>,
    /// What the operator listed in `capability.base_images`.
    pub(crate) listed: Vec<String>,
}

/// Why an image may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Own,
    Listed,
}

impl Grant {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Grant::Own => "this bottle's own",
            Grant::Listed => "capability.base_images",
        }
    }
}

/// An image an agent's Dockerfile reads, and the entry that allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub(crate) line: usize,
    /// `FROM` or `COPY --from`.
    pub(crate) how: &'static str,
    /// As the Dockerfile writes it.
    pub(crate) reference: String,
    /// The allowed entry it is (the operator's or the bottle's spelling),
    /// which is what gets resolved to an image id.
    pub(crate) entry: String,
    pub(crate) grant: Grant,
    /// Where the reference is in the Dockerfile, to pin it in place.
    span: std::ops::Range<usize>,
}

/// An image an agent's Dockerfile reads, and its id on this engine (None:
/// the engine has no such image).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) named: Named,
    pub(crate) id: Option<String>,
}

/// What an instruction reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Nothing,
    Image {
        reference: String,
        span: Option<std::ops::Range<usize>>,
    },
    /// Not something the rule can follow; the reason says why.
    Unplain(String),
}

/// One `FROM` or `COPY --from`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    line: usize,
    how: &'static str,
    target: Target,
}

/// Every image the Dockerfile reads, in order; a `FROM` or `--from` the
/// rule cannot follow is an `Unplain` with the reason.
fn reads(dockerfile: &str) -> Vec<Read> {
    // Each stage so far, by number, with its name if it has one.
    let mut stages: Vec<Option<String>> = Vec::new();
    let mut out = Vec::new();
    for instruction in parse::instructions(dockerfile) {
        let read = |how, target| Read {
            line: instruction.line,
            how,
            target,
        };
        match instruction.keyword().as_str() {
            "FROM" => {
                let (target, stage) = from(&instruction, &stages);
                out.push(read("FROM", target));
                stages.push(stage);
            }
            "COPY" => {
                if let Some(target) = copy_from(&instruction, &stages) {
                    out.push(read("COPY --from", target));
                }
            }
            _ => {}
        }
    }
    out
}

/// A `FROM`: what it reads, and the stage name it gives (lower case).
fn from(instruction: &Instruction, stages: &[Option<String>]) -> (Target, Option<String>) {
    let (at, args) = instruction.args();
    let unplain = |why: &str| (Target::Unplain(why.to_owned()), None);
    if args.starts_with("--") {
        return unplain(
            "FROM takes no options (--platform would fetch another variant): the build uses the image as it is on this engine",
        );
    }
    let words: Vec<&str> = args.split(is_blank).filter(|w| !w.is_empty()).collect();
    let stage = match words.as_slice() {
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            if !is_stage_name(&name) || name == "scratch" || is_stage(stages, &name) {
                return unplain(&format!(
                    "'{name}' is not a stage name this Dockerfile can use (a new one: a letter, then letters, digits, '-', '_', '.')"
                ));
            }
            Some(name)
        }
        _ => return unplain("FROM takes an image, then optionally AS and a stage name"),
    };
    let image = words[0];
    let target = if image == "scratch" || is_stage(stages, image) {
        Target::Nothing
    } else {
        image_target(instruction, at, image)
    };
    (target, stage)
}

/// The `--from=` of a `COPY`, if it has one (a `COPY` without it copies
/// from the build context, which `check` refuses).
fn copy_from(instruction: &Instruction, stages: &[Option<String>]) -> Option<Target> {
    let (at, args) = instruction.args();
    let mut offset = at;
    let mut found = None;
    for word in args.split(is_blank) {
        let start = offset;
        offset += word.len() + 1;
        if word.is_empty() {
            continue;
        }
        if !word.starts_with("--") {
            break;
        }
        if word.contains(['\'', '"', '\\']) || !word.is_ascii() {
            return Some(Target::Unplain(format!(
                "COPY option {word} has quotes, escapes or non-ASCII characters: write it plainly"
            )));
        }
        let (name, value) = match word[2..].split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (&word[2..], None),
        };
        match (name, value) {
            ("from", Some(value)) if found.is_none() => {
                let target = if value.is_empty() || value == "scratch" {
                    Target::Unplain(format!("--from={value} names nothing to copy from"))
                } else if is_stage(stages, value) {
                    Target::Nothing
                } else if let Ok(index) = value.parse::<usize>() {
                    if index < stages.len() {
                        Target::Nothing
                    } else {
                        Target::Unplain(format!("COPY --from={value}: no stage {value} before it"))
                    }
                } else {
                    image_target(instruction, start + "--from=".len(), value)
                };
                found = Some(target);
            }
            ("from", _) => {
                return Some(Target::Unplain(
                    "COPY takes one --from=IMAGE_OR_STAGE, written with '='".into(),
                ));
            }
            ("chown" | "chmod" | "exclude", Some(_)) | ("link" | "parents", None) => {}
            _ if name.eq_ignore_ascii_case("from") => {
                return Some(Target::Unplain(format!(
                    "write --from in lower case, not --{name}"
                )));
            }
            _ => {
                return Some(Target::Unplain(format!(
                    "COPY option {word} is not one of --from=, --chown=, --chmod=, --exclude=, --link, --parents"
                )));
            }
        }
    }
    found
}

/// Whether `name` is a stage defined so far (names are lower case; docker
/// matches them regardless of case).
fn is_stage(stages: &[Option<String>], name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    stages.iter().flatten().any(|s| *s == name)
}

/// `text[at..]`, which starts with `reference`, as an image it reads.
fn image_target(instruction: &Instruction, at: usize, reference: &str) -> Target {
    match normalize(reference) {
        Ok(_) => Target::Image {
            reference: reference.to_owned(),
            span: instruction.span(at, at + reference.len()),
        },
        Err(why) => Target::Unplain(format!("'{reference}' {why}")),
    }
}

/// A stage name as docker takes it (lower case).
fn is_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// A plain image reference, as docker names it in full:
/// `[domain/]path[:tag][@sha256:hex]`, the domain `docker.io` and the path
/// under `library/` when none is given, the tag `latest` when neither a
/// tag nor a digest is.
pub(crate) fn normalize(reference: &str) -> Result<String, String> {
    let not = |what: &str| Err(format!("is not a plain image reference: {what}"));
    if reference.is_empty() || reference.len() > 255 {
        return not("empty, or longer than 255 characters");
    }
    if let Some(c) = reference
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@".contains(*c)))
    {
        return not(&format!(
            "'{}' (no variables, quotes or escapes)",
            c.escape_default()
        ));
    }
    let (named, digest) = match reference.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (reference, None),
    };
    if digest.is_some_and(|d| !is_digest(d)) {
        return not("a digest is sha256: and 64 lower-case hex digits");
    }
    let (name, tag) = match named.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (named, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return not("a tag is letters, digits, '_', '.' and '-'");
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let domain = match parts.as_slice() {
        [first, _, ..] if first.contains(['.', ':']) || *first == "localhost" => {
            Some(parts.remove(0))
        }
        _ => None,
    };
    if domain.is_some_and(|d| !is_registry(d)) {
        return not("a registry is a lower-case host name, and a port");
    }
    if !parts.iter().all(|p| is_component(p)) {
        return not("a name is lower-case letters, digits and '.', '_', '-' between '/'");
    }
    if domain.is_none() && parts.len() == 1 && is_hex_id(parts[0]) {
        return not("an image id; name the image");
    }
    Ok(full_name(domain, &parts, tag, digest))
}

/// `sha256:` and 64 lower-case hex digits.
fn is_digest(digest: &str) -> bool {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// At most 128 letters, digits, '_', '.' and '-', not starting with '.'
/// or '-'.
fn is_tag(tag: &str) -> bool {
    tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A lower-case host name, with a port after ':' if there is a ':'.
fn is_registry(domain: &str) -> bool {
    let (host, port) = domain.split_once(':').unwrap_or((domain, ""));
    host.starts_with(|c: char| c.is_ascii_alphanumeric())
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-".contains(c))
        && port.chars().all(|c| c.is_ascii_digit())
        && port.is_empty() != domain.contains(':')
}

/// One '/'-separated part of a name: lower-case letters, digits and
/// '.', '_', '-', starting and ending with a letter or digit.
fn is_component(part: &str) -> bool {
    !part.is_empty()
        && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// The name in full from its checked parts: `docker.io` when there is no
/// registry, `library/` before a one-part path there, `:latest` when there
/// is neither tag nor digest.
fn full_name(
    domain: Option<&str>,
    parts: &[&str],
    tag: Option<&str>,
    digest: Option<&str>,
) -> String {
    let domain = match domain {
        None | Some("index.docker.io") => "docker.io",
        Some(d) => d,
    };
    let path = if domain == "docker.io" && parts.len() == 1 {
        format!("library/{}", parts[0])
    } else {
        parts.join("/")
    };
    let mut full = format!("{domain}/{path}");
    match (tag, digest) {
        (Some(tag), _) => full.push_str(&format!(":{tag}")),
        (None, None) => full.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(digest) = digest {
        full.push('@');
        full.push_str(digest);
    }
    full
}

fn is_hex_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every image an agent's Dockerfile reads, each with the allowed entry it
/// is; the error says what is not allowed and what is, for the agent to
/// act on.
pub(crate) fn check(dockerfile: &str, allowed: &Allowed) -> Result<Vec<Named>, String> {
    // Only a Dockerfile that docker and this check read alike.
    super::check(dockerfile)?;
    let entries: Vec<(String, &String, Grant)> = allowed
        .own
        .iter()
        .map(|e| (e, Grant::Own))
        .chain(allowed.listed.iter().map(|e| (e, Grant::Listed)))
        .filter_map(|(e, grant)| normalize(e).ok().map(|full| (full, e, grant)))
        .collect();
    let mut named = Vec::new();
    for read in reads(dockerfile) {
        let at = |problem: String| format!("line {}: {} {problem}", read.line, read.how);
        let (reference, span) = match read.target {
            Target::Nothing => continue,
            Target::Unplain(why) => return Err(at(why)),
            Target::Image { reference, span } => (reference, span),
        };
        let full = normalize(&reference).map_err(|why| at(format!("'{reference}' {why}")))?;
        let Some((_, entry, grant)) = entries.iter().find(|(f, ..)| *f == full) else {
            return Err(at(format!(
                "{reference}: not an image this bottle may build from. It may use its own ({}) and the ones the operator listed in capability.base_images ({}); ask the operator to list it",
                list(&allowed.own),
                list(&allowed.listed)
            )));
        };
        let Some(span) = span else {
            return Err(at(format!(
                "{reference}: write the image name on one line (not cut by a line continuation)"
            )));
        };
        named.push(Named {
            line: read.line,
            how: read.how,
            reference,
            entry: (*entry).clone(),
            grant: *grant,
            span,
        });
    }
    Ok(named)
}

fn list(entries: &[String]) -> String {
    if entries.is_empty() {
        "none".into()
    } else {
        entries.join(", ")
    }
}

/// The tag an image id is pinned under.
pub(crate) fn pin_tag(id: &str) -> String {
    format!(
        "{PIN_REPOSITORY}:{}",
        id.strip_prefix("sha256:").unwrap_or(id)
    )
}

/// The Dockerfile with each image it reads replaced by the tag its image
/// id is pinned under (`ids[i]` for `named[i]`, both from `check`), and
/// nothing else changed.
pub(crate) fn pin(dockerfile: &str, named: &[Named], ids: &[String]) -> String {
    let mut out = dockerfile.to_owned();
    let mut edits: Vec<(&std::ops::Range<usize>, String)> = named
        .iter()
        .zip(ids)
        .map(|(n, id)| (&n.span, pin_tag(id)))
        .collect();
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    for (span, tag) in edits {
        out.replace_range(span.clone(), &tag);
    }
    out
}

/// The image ids an approved Dockerfile is pinned to, checked before it is
/// built: every image it reads must be a pin (`pin_tag`).
pub(crate) fn pinned_ids(dockerfile: &str) -> Result<Vec<String>, String> {
    super::check(dockerfile)?;
    let mut ids = Vec::new();
    for read in reads(dockerfile) {
        let at = |problem: String| format!("line {}: {} {problem}", read.line, read.how);
        match read.target {
            Target::Nothing => {}
            Target::Unplain(why) => return Err(at(why)),
            Target::Image { reference, .. } => {
                let hex = reference
                    .strip_prefix(PIN_REPOSITORY)
                    .and_then(|r| r.strip_prefix(':'))
                    .filter(|hex| is_hex_id(hex) && !hex.bytes().any(|b| b.is_ascii_uppercase()));
                match hex {
                    Some(hex) => ids.push(format!("sha256:{hex}")),
                    None => {
                        return Err(at(format!(
                            "{reference} is not pinned to an image id (an approved Dockerfile reads {PIN_REPOSITORY}:<id> only)"
                        )));
                    }
                }
            }
        }
    }
    Ok(ids)
}

/// The images a Dockerfile reads that are plain references, each once, in
/// order: what a bottle built from it may read again. What the rule cannot
/// follow (an `ARG` in `FROM`) is left out.
pub(crate) fn plain_images(dockerfile: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for read in reads(dockerfile) {
        if let Target::Image { reference, .. } = read.target
            && !out.contains(&reference)
        {
            out.push(reference);
        }
    }
    out
}

#[cfg(test)]
mod tests;
