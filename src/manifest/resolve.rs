//! Merging: sources (a later one replaces an agent or bottle by name),
//! `extends:` chains, and the bottles composed at launch with `--bottle`.
//!
//! One rule set serves `extends:` and `--bottle`: scalars override, maps
//! merge, routes merge by host, other lists concatenate without duplicates.

use std::collections::BTreeMap;

use super::{
    Agent, Bottle, Git, Limits, Manifest, ManifestError, Origin, Place, Project, Provenance, Route,
};

/// One source level (embedded, home or cwd) after its files are read.
#[derive(Debug, Clone, Default)]
pub(super) struct Level {
    pub agents: Vec<Agent>,
    pub bottles: Vec<(Bottle, Option<String>)>,
}

/// Merges the levels in order and applies every `extends:` chain.
pub(super) fn resolve(levels: Vec<Level>) -> Result<Manifest, ManifestError> {
    let mut agents: BTreeMap<String, Agent> = BTreeMap::new();
    let mut defs: BTreeMap<String, (Bottle, Option<String>)> = BTreeMap::new();
    for level in levels {
        unique(&level)?;
        agents.extend(level.agents.into_iter().map(|a| (a.name.clone(), a)));
        defs.extend(level.bottles.into_iter().map(|d| (d.0.name.clone(), d)));
    }

    let mut bottles = BTreeMap::new();
    for name in defs.keys() {
        let bottle = extend(name, &defs, &mut Vec::new())?;
        check_ssh_remotes(&bottle)?;
        bottles.insert(name.clone(), bottle);
    }
    let known: Vec<String> = bottles.keys().cloned().collect();
    for agent in agents.values() {
        if let Some(missing) = agent.bottles.iter().find(|b| !bottles.contains_key(*b)) {
            return Err(ManifestError::UnknownBottle {
                place: Place::agent(&agent.origin, &agent.name),
                key: "bottle".into(),
                name: missing.clone(),
                known,
            });
        }
    }
    Ok(Manifest {
        agents,
        bottles,
        project: Project::None,
    })
}

/// One level defines each agent and bottle once.
pub(super) fn unique(level: &Level) -> Result<(), ManifestError> {
    defined_once(
        "agent",
        level.agents.iter().map(|a| (a.name.as_str(), &a.origin)),
    )?;
    defined_once(
        "bottle",
        level
            .bottles
            .iter()
            .map(|(b, _)| (b.name.as_str(), &b.origin)),
    )
}

/// The first `kind` named twice in `defined`, as the error that names both
/// places.
fn defined_once<'a>(
    kind: &'static str,
    defined: impl Iterator<Item = (&'a str, &'a Origin)>,
) -> Result<(), ManifestError> {
    let mut seen: BTreeMap<&str, &Origin> = BTreeMap::new();
    for (name, origin) in defined {
        if let Some(first) = seen.insert(name, origin) {
            return Err(duplicate(kind, name, first.clone(), origin.clone()));
        }
    }
    Ok(())
}

fn duplicate(
    kind: &'static str,
    name: &str,
    first: super::Origin,
    second: super::Origin,
) -> ManifestError {
    ManifestError::Duplicate {
        kind,
        name: name.to_owned(),
        first,
        second,
    }
}

/// The bottle `name` with its `extends:` chain applied, base first.
fn extend(
    name: &str,
    defs: &BTreeMap<String, (Bottle, Option<String>)>,
    chain: &mut Vec<String>,
) -> Result<Bottle, ManifestError> {
    let (bottle, parent) = &defs[name];
    let place = || Place::bottle(&bottle.origin, name);
    chain.push(name.to_owned());
    let Some(parent) = parent else {
        return Ok(bottle.clone());
    };
    if let Some(start) = chain.iter().position(|n| n == parent) {
        let mut cycle = chain[start..].to_vec();
        cycle.push(parent.clone());
        let first = &defs[parent].0;
        return Err(ManifestError::ExtendsCycle {
            place: Place::bottle(&first.origin, &first.name),
            chain: cycle.join(" -> "),
        });
    }
    if !defs.contains_key(parent) {
        return Err(ManifestError::UnknownBottle {
            place: place(),
            key: "extends".into(),
            name: parent.clone(),
            known: defs.keys().cloned().collect(),
        });
    }
    let base = extend(parent, defs, chain)?;
    Ok(merge(&base, bottle))
}

/// `over` laid on `base`; the result keeps `over`'s name and origin.
pub(super) fn merge(base: &Bottle, over: &Bottle) -> Bottle {
    let mut env = base.env.clone();
    env.extend(over.env.clone());
    let mut routes = base.egress.routes.clone();
    for route in &over.egress.routes {
        match routes.iter_mut().find(|r| r.host == route.host) {
            Some(existing) => *existing = merge_route(existing, route),
            None => routes.push(route.clone()),
        }
    }
    Bottle {
        name: over.name.clone(),
        image: over.image.clone().or_else(|| base.image.clone()),
        env,
        egress: super::Egress {
            routes,
            trust_upstream_ca: union(
                &base.egress.trust_upstream_ca,
                &over.egress.trust_upstream_ca,
            ),
        },
        ssh: union(&base.ssh, &over.ssh),
        limits: Limits {
            memory: over.limits.memory.or(base.limits.memory),
            pids: over.limits.pids.or(base.limits.pids),
            cpus: over.limits.cpus.or(base.limits.cpus),
            tokens: over.limits.tokens.or(base.limits.tokens),
            spend: over.limits.spend.or(base.limits.spend),
        },
        git: merge_git(&base.git, &over.git),
        origin: over.origin.clone(),
        provenance: Provenance::merge(&base.provenance, &over.provenance),
    }
}

/// Remotes by name (the later replaces), every other key the later's when
/// it sets one.
fn merge_git(base: &Git, over: &Git) -> Git {
    let mut remotes = base.remotes.clone();
    for remote in &over.remotes {
        match remotes.iter_mut().find(|r| r.name == remote.name) {
            Some(existing) => *existing = remote.clone(),
            None => remotes.push(remote.clone()),
        }
    }
    Git {
        remotes,
        protected_paths: over
            .protected_paths
            .clone()
            .or_else(|| base.protected_paths.clone()),
        allow_force_push: over.allow_force_push.or(base.allow_force_push),
        allow_delete: over.allow_delete.or(base.allow_delete),
        allow_tags: over.allow_tags.or(base.allow_tags),
        max_push: over.max_push.or(base.max_push),
    }
}

/// An ssh remote's key is the bottle's `ssh` entry for its host.
fn check_ssh_remotes(bottle: &Bottle) -> Result<(), ManifestError> {
    for (i, remote) in bottle.git.remotes.iter().enumerate() {
        if remote.ssh && !bottle.ssh.iter().any(|e| e.host == remote.host) {
            return Err(ManifestError::Invalid {
                place: Place::bottle(&bottle.origin, &bottle.name),
                key: format!("git.remotes[{i}].url"),
                message: format!(
                    "'{}' is an ssh URL and the bottle has no `ssh` entry for {}",
                    remote.url, remote.host
                ),
                hint: Some(format!(
                    "add \"ssh\": [{{\"host\": \"{}\", \"identity_file\": \"~/.ssh/id_ed25519\"}}] to the bottle: its key is the gate's, never the agent's",
                    remote.host
                )),
            });
        }
    }
    Ok(())
}

fn merge_route(base: &Route, over: &Route) -> Route {
    Route {
        host: base.host.clone(),
        path_allowlist: union(&base.path_allowlist, &over.path_allowlist),
        auth: over.auth.clone().or_else(|| base.auth.clone()),
        role: over.role.or(base.role),
        allow_private_addresses: over
            .allow_private_addresses
            .or(base.allow_private_addresses),
        block_server_tools: over.block_server_tools.or(base.block_server_tools),
    }
}

/// `a` then the items of `b` not already in it.
fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    for item in b {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// The bottles named, merged in order into the one a launch runs in. It
/// must end up with an image, and what of it reaches the operator's
/// secrets must come from the operator's files or a trusted project.
pub(crate) fn compose_bottles(
    manifest: &Manifest,
    names: &[String],
) -> Result<Bottle, ManifestError> {
    let mut composed: Option<Bottle> = None;
    for name in names {
        let bottle = manifest.bottles.get(name).ok_or_else(|| {
            manifest
                .project
                .not_used("bottle", name)
                .unwrap_or_else(|| ManifestError::UnknownBottleFlag {
                    name: name.clone(),
                    known: manifest.bottles.keys().cloned().collect(),
                })
        })?;
        composed = Some(match composed {
            None => bottle.clone(),
            Some(base) => merge(&base, bottle),
        });
    }
    let mut bottle = composed.ok_or_else(|| ManifestError::NoImage {
        bottles: "(none selected)".into(),
    })?;
    if bottle.image.is_none() {
        return Err(ManifestError::NoImage {
            bottles: names.join(" + "),
        });
    }
    bottle.name = names.join("+");
    manifest.project.check_parts(&bottle)?;
    Ok(bottle)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::error::UserError;
    use crate::manifest::{Auth, Egress, ImageSource, Origin, Scheme, SshEntry};

    fn bottle(name: &str) -> Bottle {
        Bottle {
            name: name.into(),
            image: None,
            env: BTreeMap::new(),
            egress: Egress::default(),
            ssh: Vec::new(),
            limits: Default::default(),
            git: Default::default(),
            origin: Origin::File("m.json".into()),
            provenance: Default::default(),
        }
    }

    fn route(host: &str, paths: &[&str]) -> Route {
        Route {
            host: host.into(),
            path_allowlist: paths.iter().map(|p| p.to_string()).collect(),
            ..Route::default()
        }
    }

    fn level(bottles: Vec<(Bottle, Option<&str>)>) -> Level {
        Level {
            agents: Vec::new(),
            bottles: bottles
                .into_iter()
                .map(|(b, e)| (b, e.map(String::from)))
                .collect(),
        }
    }

    #[test]
    fn merge_rules() {
        let mut base = bottle("base");
        base.image = Some(ImageSource::Image("debian".into()));
        base.env.insert("A".into(), "1".into());
        base.env.insert("B".into(), "1".into());
        base.egress.routes = vec![route("a.com", &["/x"]), route("b.com", &[])];
        base.egress.trust_upstream_ca = vec![PathBuf::from("/ca1")];
        base.ssh = vec![SshEntry {
            host: "github.com".into(),
            identity_file: "/k".into(),
        }];

        let mut over = bottle("over");
        over.env.insert("B".into(), "2".into());
        let mut a = route("a.com", &["/x", "/y"]);
        a.auth = Some(Auth {
            scheme: Some(Scheme::Bearer),
            token_env: vec!["T".into()],
        });
        over.egress.routes = vec![a, route("c.com", &[])];
        over.egress.trust_upstream_ca = vec![PathBuf::from("/ca1"), PathBuf::from("/ca2")];
        over.ssh = base.ssh.clone();

        let m = merge(&base, &over);
        assert_eq!(m.name, "over");
        assert_eq!(
            m.image,
            Some(ImageSource::Image("debian".into())),
            "scalar kept when not overridden"
        );
        assert_eq!(m.env["A"], "1");
        assert_eq!(m.env["B"], "2", "maps merge, later wins");
        let hosts: Vec<&str> = m.egress.routes.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(
            hosts,
            ["a.com", "b.com", "c.com"],
            "routes merge by host, in order"
        );
        assert_eq!(m.egress.routes[0].path_allowlist, ["/x", "/y"]);
        assert!(m.egress.routes[0].auth.is_some());
        assert_eq!(
            m.egress.trust_upstream_ca.len(),
            2,
            "lists concatenate without duplicates"
        );
        assert_eq!(m.ssh.len(), 1);

        over.image = Some(ImageSource::Image("alpine".into()));
        assert_eq!(
            merge(&base, &over).image,
            Some(ImageSource::Image("alpine".into()))
        );
    }

    #[test]
    fn extends_chain_and_errors() {
        let mut root = bottle("root");
        root.image = Some(ImageSource::Image("debian".into()));
        let m = resolve(vec![level(vec![
            (root.clone(), None),
            (bottle("mid"), Some("root")),
            (bottle("leaf"), Some("mid")),
        ])])
        .unwrap();
        assert_eq!(m.bottles["leaf"].image, root.image);

        let err = resolve(vec![level(vec![
            (bottle("a"), Some("b")),
            (bottle("b"), Some("c")),
            (bottle("c"), Some("a")),
        ])])
        .unwrap_err();
        assert!(
            matches!(err, ManifestError::ExtendsCycle { ref chain, .. } if chain == "a -> b -> c -> a"),
            "{err}"
        );

        let err = resolve(vec![level(vec![(bottle("a"), Some("nope"))])]).unwrap_err();
        assert!(matches!(err, ManifestError::UnknownBottle { ref name, .. } if name == "nope"));
    }

    #[test]
    fn later_levels_replace_by_name_and_duplicates_in_one_level_fail() {
        let mut home = bottle("dev");
        home.env.insert("FROM".into(), "home".into());
        let mut cwd = bottle("dev");
        cwd.env.insert("FROM".into(), "cwd".into());
        let m = resolve(vec![
            level(vec![(home.clone(), None)]),
            level(vec![(cwd.clone(), None)]),
        ])
        .unwrap();
        assert_eq!(m.bottles["dev"].env["FROM"], "cwd");
        assert!(!m.bottles["dev"].env.contains_key("X"));

        let err = resolve(vec![level(vec![(home, None), (cwd, None)])]).unwrap_err();
        assert!(matches!(err, ManifestError::Duplicate { .. }));
    }

    #[test]
    fn compose_needs_an_image_and_known_names() {
        let mut base = bottle("default");
        base.image = Some(ImageSource::Image("debian".into()));
        let mut gh = bottle("gh");
        gh.egress.routes = vec![route("api.github.com", &[])];
        let m = resolve(vec![level(vec![(base, None), (gh, None)])]).unwrap();

        let b = compose_bottles(&m, &["default".into(), "gh".into()]).unwrap();
        assert_eq!(b.name, "default+gh");
        assert_eq!(b.egress.routes.len(), 1);
        assert!(matches!(
            compose_bottles(&m, &["gh".into()]),
            Err(ManifestError::NoImage { .. })
        ));
        assert!(matches!(
            compose_bottles(&m, &["ghh".into()]),
            Err(ManifestError::UnknownBottleFlag { .. })
        ));
    }

    fn remote(name: &str, url: &str, ssh: bool) -> crate::manifest::GitRemote {
        crate::manifest::GitRemote {
            name: name.into(),
            url: url.into(),
            host: "h.test".into(),
            ssh,
            branches: vec![],
            auth: None,
        }
    }

    #[test]
    fn git_merges_remotes_by_name_and_later_values_win() {
        let mut base = bottle("base");
        base.image = Some(ImageSource::Image("debian".into()));
        base.git.remotes = vec![
            remote("up", "https://h.test/a", false),
            remote("b", "https://h.test/b", false),
        ];
        base.git.max_push = Some(1 << 20);
        base.git.allow_tags = Some(true);
        let mut over = bottle("over");
        over.git.remotes = vec![remote("up", "https://h.test/new", false)];
        over.git.allow_tags = Some(false);
        over.git.protected_paths = Some(vec!["x".into()]);
        let m = merge(&base, &over);
        let urls: Vec<&str> = m.git.remotes.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls, ["https://h.test/new", "https://h.test/b"]);
        assert_eq!(m.git.max_push, Some(1 << 20));
        assert_eq!(m.git.allow_tags, Some(false));
        assert_eq!(m.git.protected_paths, Some(vec!["x".to_owned()]));
    }

    #[test]
    fn an_ssh_remote_needs_an_ssh_entry_for_its_host_through_extends() {
        let mut keys = bottle("keys");
        keys.ssh = vec![SshEntry {
            host: "h.test".into(),
            identity_file: "/k".into(),
        }];
        let mut up = bottle("up");
        up.git.remotes = vec![remote("up", "git@h.test:r.git", true)];
        let err = resolve(vec![level(vec![(up.clone(), None)])]).unwrap_err();
        assert!(
            err.to_string()
                .contains("bottle 'up': git.remotes[0].url: 'git@h.test:r.git' is an ssh URL"),
            "{err}"
        );
        assert!(err.hint().unwrap().contains("\"host\": \"h.test\""));
        let m = resolve(vec![level(vec![(keys, None), (up, Some("keys"))])]).unwrap();
        assert_eq!(m.bottles["up"].git.remotes.len(), 1);
    }
}
