//! The directory's own manifest: `./bot-bottle.json` and `./.bot-bottle/`
//! (agents, skills). Whoever wrote the repository wrote it, so it is
//! loaded apart from the operator's: read and checked, digested with every
//! file it makes bot-bottle read, and used only when the trust record holds
//! that digest for this folder. A failure here is the project's
//! (`Project::Broken`), never the load's.

use std::fs;
use std::path::{Path, PathBuf};

use super::super::trust::{TrustStore, digest, reach};
use super::super::{Defined, ImageSource, Manifest, ManifestError, Origin, Place, Project};
use super::{
    Kind, Level, RawLevel, Sources, Summary, finish_level, markdown_files, parse, read, resolve,
};
use crate::manifest::parse::Source;

/// Where the directory's manifest is, when it has one.
struct Found {
    /// The folder, resolved.
    dir: PathBuf,
    json: bool,
    /// `./.bot-bottle/` is the project's (not `$BOT_BOTTLE_HOME` itself,
    /// as it is when bot-bottle runs from the user's home folder).
    dot: bool,
    /// `./bot-bottle.json`, else `./.bot-bottle/`.
    shown: String,
}

/// `manifest` (the operator's levels, resolved from `base`), with the
/// directory's manifest added when it is trusted, and what was found.
pub(super) fn add(sources: &Sources, base: Vec<Level>, manifest: Manifest) -> Manifest {
    let Some(found) = find(sources) else {
        return manifest;
    };
    let broken = |error: ManifestError, manifest: Manifest| Manifest {
        project: Project::Broken {
            shown: found.shown.clone(),
            error,
        },
        ..manifest
    };
    let (summary, level) = match examine(sources, &found, &manifest) {
        Ok(examined) => examined,
        Err(e) => return broken(e, manifest),
    };
    let store = match TrustStore::read(&sources.home) {
        Ok(store) => store,
        Err(e) => return broken(e, manifest),
    };
    let recorded = store.get(&summary.dir);
    if recorded != Some(summary.digest.as_str()) {
        let changed = recorded.is_some();
        return Manifest {
            project: Project::Untrusted { summary, changed },
            ..manifest
        };
    }
    let mut levels = base;
    levels.push(level);
    match resolve::resolve(levels) {
        Ok(used) => Manifest {
            project: Project::Trusted(summary),
            ..used
        },
        Err(e) => broken(e, manifest),
    }
}

/// The directory's manifest as `trust` shows it, checked as if trusted.
pub(super) fn inspect(
    sources: &Sources,
    base: Vec<Level>,
    manifest: &Manifest,
) -> Result<Option<Summary>, ManifestError> {
    let Some(found) = find(sources) else {
        return Ok(None);
    };
    let (summary, level) = examine(sources, &found, manifest)?;
    let mut levels = base;
    levels.push(level);
    resolve::resolve(levels)?;
    Ok(Some(summary))
}

/// Whether `dir`, when it is in the project, resolves to a place in it
/// (a link may not lead a project's skill elsewhere).
pub(super) fn stays_inside(sources: &Sources, dir: &Path) -> bool {
    if !dir.starts_with(&sources.cwd) {
        return true;
    }
    match (dir.canonicalize(), sources.cwd.canonicalize()) {
        (Ok(dir), Ok(top)) => dir.starts_with(top),
        _ => false,
    }
}

fn find(sources: &Sources) -> Option<Found> {
    let dir = sources.cwd.canonicalize().ok()?;
    let home = sources.home.canonicalize().ok();
    if home.as_ref() == Some(&dir) {
        return None;
    }
    let json = sources.cwd.join("bot-bottle.json").is_file();
    let dot_dir = sources.cwd.join(".bot-bottle");
    let dot = dot_dir.is_dir() && dot_dir.canonicalize().ok() != home;
    let shown = match (json, dot) {
        (false, false) => return None,
        (true, _) => "./bot-bottle.json",
        (false, true) => "./.bot-bottle/",
    };
    Some(Found {
        dir,
        json,
        dot,
        shown: shown.into(),
    })
}

/// Reads, parses and checks the project's files; its summary (digest
/// included) and its level.
fn examine(
    sources: &Sources,
    found: &Found,
    base: &Manifest,
) -> Result<(Summary, Level), ManifestError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let raw = read_raw(sources, found, &mut files)?;
    let level = finish_level(raw, sources, Kind::Project)?;
    resolve::unique(&level)?;
    read_named(sources, found, &level, &mut files)?;
    let agents = level
        .agents
        .iter()
        .map(|a| Defined {
            name: a.name.clone(),
            origin: a.origin.clone(),
            replaces: base.agents.get(&a.name).map(|b| b.origin.clone()),
            uses: a.bottles.clone(),
        })
        .collect();
    let bottles = level
        .bottles
        .iter()
        .map(|(b, extends)| Defined {
            name: b.name.clone(),
            origin: b.origin.clone(),
            replaces: base.bottles.get(&b.name).map(|o| o.origin.clone()),
            uses: extends.iter().cloned().collect(),
        })
        .collect();
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    names.dedup();
    let summary = Summary {
        dir: found.dir.clone(),
        shown: found.shown.clone(),
        digest: digest(&files),
        files: names,
        agents,
        bottles,
        reach: level.bottles.iter().flat_map(|(b, _)| reach(b)).collect(),
    };
    Ok((summary, level))
}

/// `./bot-bottle.json` and `./.bot-bottle/agents/*.md`, parsed; their
/// text goes into `files`.
fn read_raw(
    sources: &Sources,
    found: &Found,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<RawLevel, ManifestError> {
    let mut level = RawLevel::default();
    let source = |origin: Origin, base_dir: PathBuf| Source {
        origin,
        base_dir: Some(base_dir),
        home: sources.user_home.clone(),
    };
    if found.json {
        let path = sources.cwd.join("bot-bottle.json");
        let src = source(
            Origin::Project("bot-bottle.json".into()),
            sources.cwd.clone(),
        );
        inside(sources, &path, &src.origin)?;
        let text = read(&path, &src.origin)?;
        files.push((shown(found, &path), text.clone().into_bytes()));
        for (sets, key, what) in HOME_ONLY {
            if sets(&text, &src)? {
                return Err(home_only(sources, &src, key, what));
            }
        }
        let (agents, bottles) = parse::parse_json(&text, &src)?;
        level.agents.extend(agents);
        level.bottles.extend(bottles);
    }
    if found.dot {
        let dot = sources.cwd.join(".bot-bottle");
        for (path, stem) in markdown_files(&dot.join("agents"))? {
            let rel = PathBuf::from(".bot-bottle/agents").join(format!("{stem}.md"));
            let src = source(Origin::Project(rel), dot.clone());
            inside(sources, &path, &src.origin)?;
            let text = read(&path, &src.origin)?;
            files.push((shown(found, &path), text.clone().into_bytes()));
            level
                .agents
                .push(parse::parse_agent_md(&text, &stem, &src)?);
        }
    }
    Ok(level)
}

/// What only the operator's own manifest may set: whether a manifest's
/// text sets it, its key, and what it would let a project do.
type HomeOnly = (
    fn(&str, &Source) -> Result<bool, ManifestError>,
    &'static str,
    &'static str,
);

const HOME_ONLY: [HomeOnly; 4] = [
    (
        |text, src| Ok(parse::notify_command(text, src)?.is_some()),
        "notify",
        "run commands on your machine",
    ),
    (
        |text, src| Ok(parse::capability_base_images(text, src)?.is_some()),
        "capability",
        "choose which of your images an agent's Dockerfile can read",
    ),
    (
        |text, src| Ok(parse::idle_after(text, src)?.is_some()),
        "idle_after",
        "pause your agents",
    ),
    (
        |text, src| Ok(parse::prices(text, src)?.is_some()),
        "prices",
        "set what your agents' tokens are said to cost",
    ),
];

/// The error for `key` in a project's manifest, which only the operator's
/// own may set: it would let the project `what`.
fn home_only(sources: &Sources, src: &Source, key: &str, what: &str) -> ManifestError {
    ManifestError::Invalid {
        place: Place::file(&src.origin),
        key: key.into(),
        message: format!(
            "is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not {what}"
        ),
        hint: Some(format!(
            "move it to {}",
            sources.home.join("bot-bottle.json").display()
        )),
    }
}

/// A project's own file may not be a link to one elsewhere (a key file
/// read as an agent's prompt).
fn inside(sources: &Sources, path: &Path, origin: &Origin) -> Result<(), ManifestError> {
    match stays_inside(sources, path) {
        true => Ok(()),
        false => Err(ManifestError::Read {
            file: origin.to_string(),
            reason: "it leads outside the project (a link?); a project's manifest is its own files"
                .into(),
        }),
    }
}

/// The other files the project makes bot-bottle read: its Dockerfiles,
/// its upstream CAs, and the files of its agents' skills that are in it.
fn read_named(
    sources: &Sources,
    found: &Found,
    level: &Level,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), ManifestError> {
    for (bottle, _) in &level.bottles {
        if let Some(ImageSource::Dockerfile(d)) = &bottle.image {
            let path = PathBuf::from(&d.shown_as);
            files.push((shown(found, &path), d.contents.clone().into_bytes()));
        }
        for (i, ca) in bottle.egress.trust_upstream_ca.iter().enumerate() {
            let bytes = fs::read(ca).map_err(|e| ManifestError::Invalid {
                place: Place::bottle(&bottle.origin, &bottle.name),
                key: format!("egress.trust_upstream_ca[{i}]"),
                message: format!("cannot read {}: {e}", ca.display()),
                hint: None,
            })?;
            files.push((shown(found, ca), bytes));
        }
    }
    for agent in &level.agents {
        for skill in &agent.skills {
            if skill.dir.starts_with(&sources.cwd) {
                skill_files(found, &skill.dir, files)?;
            }
        }
    }
    Ok(())
}

/// Every regular file under a skill's folder (links are not followed,
/// and not copied into bottles either).
fn skill_files(
    found: &Found,
    dir: &Path,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), ManifestError> {
    let failed = |path: &Path, e: std::io::Error| ManifestError::Read {
        file: shown(found, path),
        reason: e.to_string(),
    };
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(|e| failed(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| failed(dir, e))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| failed(&path, e))?;
        if kind.is_dir() {
            skill_files(found, &path, files)?;
        } else if kind.is_file() {
            let bytes = fs::read(&path).map_err(|e| failed(&path, e))?;
            files.push((shown(found, &path), bytes));
        }
    }
    Ok(())
}

/// A file as the summary names it: `./PATH` inside the project, else its
/// resolved absolute path.
fn shown(found: &Found, path: &Path) -> String {
    let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match real.strip_prefix(&found.dir) {
        Ok(rel) => format!("./{}", rel.display()),
        Err(_) => real.display().to_string(),
    }
}

#[cfg(test)]
mod tests;
