//! Pushing to an upstream remote with the gate's credentials. A credential
//! never appears in an argument list (`ps` shows those) nor in a message:
//! headers go to git through `GIT_CONFIG_*` variables, keys by file name.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::git::{GateError, Git};
use super::hooks::{GateEnv, line};
use super::scan::{self, Outcome};
use super::{GateConfig, RemoteAuth, RemoteConfig};
use crate::exec::GIT;
use crate::state::bottle_dir::gate_files::{SSH_DIR, TOKENS_FILE, UPSTREAM_CA_FILE};

/// The system's CA bundle, which extra CAs are added to.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Pushes `new` to `refs/heads/<branch>` of `remote`, once every commit
/// the remote does not have yet has passed the DLP scan (`Refused` when
/// one has not). A plain push (the remote refuses a non-fast-forward)
/// unless the bottle allows force-pushes: then a forced push with a lease
/// on the value the remote had just before.
pub(crate) fn push(
    env: &GateEnv,
    config: &GateConfig,
    remote: &RemoteConfig,
    branch: &str,
    new: &str,
    out: &mut dyn Write,
) -> Result<(), GateError> {
    let vars = credentials(env, remote, out)?;
    let gate = Git::at(&env.repo());
    let theirs = remote_refs(&gate, remote, &vars)?;
    if let Some(why) = unsent_refusal(env, config, &gate, new, &theirs)? {
        return Err(GateError::Refused(why));
    }
    let target = format!("refs/heads/{branch}");
    let mut args = vec!["push".to_owned(), "--quiet".into(), "--no-verify".into()];
    if config.allow.force_push {
        let expected = theirs.get(&target).map_or("", String::as_str);
        args.push(format!("--force-with-lease={target}:{expected}"));
    }
    args.extend(["--".into(), remote.url.clone(), format!("{new}:{target}")]);
    let mut cmd = gate.command(args);
    cmd.envs(vars.iter().map(|(k, v)| (k, v)));
    GIT.output(&mut cmd).map(|_| ())?;
    Ok(())
}

/// Every ref of the remote and the object it points at (`ls-remote`, with
/// the gate's credential).
fn remote_refs(
    gate: &Git,
    remote: &RemoteConfig,
    vars: &[(String, String)],
) -> Result<BTreeMap<String, String>, GateError> {
    let mut ls = gate.command(["ls-remote", "--", &remote.url]);
    ls.envs(vars.iter().map(|(k, v)| (k, v)));
    let out = GIT.output(&mut ls)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(oid, name)| (name.to_owned(), oid.to_owned()))
        .collect())
}

/// The DLP scan of what a push of `new` brings the remote: every commit
/// reachable from it and from none of the remote's refs (those the gate,
/// or the operator's repository, has; a ref neither has excludes nothing,
/// so more is scanned, never less). The operator's commits are scanned
/// too: the gate mirrors their branches, pushed upstream or not. The
/// refusal, if any.
fn unsent_refusal(
    env: &GateEnv,
    config: &GateConfig,
    gate: &Git,
    new: &str,
    theirs: &BTreeMap<String, String>,
) -> Result<Option<String>, GateError> {
    let walk = match &env.operator {
        Some(operator) => gate.reading(&operator.join("objects")),
        None => gate.clone(),
    };
    let mut revs = format!("{new}\n");
    let tips: BTreeSet<&String> = theirs.values().collect();
    for tip in tips {
        revs.push_str(&format!("^{tip}\n"));
    }
    let args = ["--ignore-missing".to_owned()];
    let budget = scan::budget(config.max_push_bytes);
    let outcome = match scan::range_commits(&walk, &args, &revs)? {
        Some(commits) => scan::scan_commits(gate, &commits, &env.scanner()?, budget)?,
        None => Outcome::TooMany,
    };
    Ok(match outcome {
        Outcome::Clean => None,
        Outcome::Found(hit) => Some(format!(
            "{}, and the remote does not have that commit yet (every commit it lacks is scanned, the operator's too); the operator can push it themselves",
            hit.found()
        )),
        Outcome::TooLarge { budget } => Some(format!(
            "the remote lacks more than {} MiB of its commits, more than the gate scans for secrets at once; the operator can push it themselves",
            budget >> 20
        )),
        Outcome::TooMany => Some(format!(
            "the remote lacks more than {} of its commits, more than the gate scans for secrets at once; the operator can push it themselves",
            scan::MAX_COMMITS
        )),
    })
}

/// The variables that give git the remote's credentials and CAs.
fn credentials(
    env: &GateEnv,
    remote: &RemoteConfig,
    out: &mut dyn Write,
) -> Result<Vec<(String, String)>, GateError> {
    let mut config: Vec<(String, String)> = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    let slot = |slot: &str| -> Result<String, GateError> {
        env.tokens()?
            .remove(slot)
            .ok_or_else(|| GateError::Misconfigured {
                path: env.state.join(TOKENS_FILE),
                reason: format!("no credential in slot {slot:?} for remote {}", remote.name),
            })
    };
    match &remote.auth {
        None => {}
        Some(RemoteAuth::Ssh { key }) => {
            let (command, note) = ssh_command(&env.state.join(SSH_DIR), key)?;
            if let Some(note) = note {
                line(out, &format!("{}: {note}", remote.name));
            }
            vars.push(("GIT_SSH_COMMAND".into(), command));
        }
        Some(RemoteAuth::Basic { slot: s }) => {
            let value = base64::engine::general_purpose::STANDARD.encode(slot(s)?);
            config.push((
                "http.extraHeader".into(),
                format!("Authorization: Basic {value}"),
            ));
        }
        Some(RemoteAuth::Bearer { slot: s }) => {
            config.push((
                "http.extraHeader".into(),
                format!("Authorization: Bearer {}", slot(s)?),
            ));
        }
    }
    if let Some(bundle) = ca_bundle(&env.state)? {
        config.push(("http.sslCAInfo".into(), bundle.display().to_string()));
    }
    vars.push(("GIT_CONFIG_COUNT".into(), config.len().to_string()));
    for (i, (key, value)) in config.into_iter().enumerate() {
        vars.push((format!("GIT_CONFIG_KEY_{i}"), key));
        vars.push((format!("GIT_CONFIG_VALUE_{i}"), value));
    }
    Ok(vars)
}

/// `GIT_SSH_COMMAND` for a key in `ssh/`, and a note when there is no
/// `known_hosts` (then a host key is accepted on first use).
pub(crate) fn ssh_command(
    ssh_dir: &Path,
    key: &str,
) -> Result<(String, Option<String>), GateError> {
    if key.is_empty() || key.contains('/') || key.starts_with('.') {
        return Err(GateError::Misconfigured {
            path: ssh_dir.to_path_buf(),
            reason: format!("{key:?} is not a key file name"),
        });
    }
    let known = ssh_dir.join("known_hosts");
    let (known, strict, note) = if known.is_file() {
        (known, "yes", None)
    } else {
        (
            // Kept between pushes, so the key first seen is the one held
            // to; in a folder no one else can plant a key in.
            scratch()?.join("known_hosts"),
            "accept-new",
            Some(
                "no known_hosts in the gate's ssh folder: the host key is accepted on first use"
                    .to_owned(),
            ),
        )
    };
    let words: Vec<String> = vec![
        "ssh".into(),
        "-i".into(),
        ssh_dir.join(key).display().to_string(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known.display()),
        "-o".into(),
        format!("StrictHostKeyChecking={strict}"),
        "-o".into(),
        "BatchMode=yes".into(),
    ];
    Ok((crate::text::shell_join(&words), note))
}

/// The system's CAs plus `upstream-ca.pem`, written to the gate's private
/// temporary folder; `None` when there are no extra CAs.
fn ca_bundle(state: &Path) -> Result<Option<PathBuf>, GateError> {
    let extra = state.join(UPSTREAM_CA_FILE);
    let Ok(extra) = std::fs::read(&extra) else {
        return Ok(None);
    };
    let mut bundle = std::fs::read(SYSTEM_CAS).unwrap_or_default();
    bundle.push(b'\n');
    bundle.extend(extra);
    let path = scratch()?.join("upstream-cas.pem");
    crate::state::write_atomic(&path, &bundle, 0o600).map_err(|e| GateError::state(&path, e))?;
    Ok(Some(path))
}

/// The gate's own folder under the temporary folder (see
/// `state::scratch::user_dir`).
fn scratch() -> Result<PathBuf, GateError> {
    crate::state::scratch::user_dir("gate").map_err(|e| GateError::state(&std::env::temp_dir(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(auth: Option<RemoteAuth>) -> RemoteConfig {
        RemoteConfig {
            name: "up".into(),
            url: "https://example.test/r.git".into(),
            branches: vec!["**".into()],
            auth,
        }
    }

    #[test]
    fn credentials_travel_as_config_variables_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokens.json"),
            r#"{"basic": "user:pw-123456789", "bearer": "tok-123456789"}"#,
        )
        .unwrap();
        let env = GateEnv {
            state: dir.path().to_path_buf(),
            operator: None,
            audit: None,
        };
        let mut out = Vec::new();
        let get = |vars: &[(String, String)], k: &str| {
            vars.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let none = credentials(&env, &remote(None), &mut out).unwrap();
        assert_eq!(get(&none, "GIT_CONFIG_COUNT").as_deref(), Some("0"));
        let basic = Some(RemoteAuth::Basic {
            slot: "basic".into(),
        });
        let vars = credentials(&env, &remote(basic), &mut out).unwrap();
        assert_eq!(get(&vars, "GIT_CONFIG_COUNT").as_deref(), Some("1"));
        assert_eq!(
            get(&vars, "GIT_CONFIG_KEY_0").as_deref(),
            Some("http.extraHeader")
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("user:pw-123456789");
        assert_eq!(
            get(&vars, "GIT_CONFIG_VALUE_0"),
            Some(format!("Authorization: Basic {encoded}"))
        );
        let bearer = Some(RemoteAuth::Bearer {
            slot: "bearer".into(),
        });
        let vars = credentials(&env, &remote(bearer), &mut out).unwrap();
        assert_eq!(
            get(&vars, "GIT_CONFIG_VALUE_0").as_deref(),
            Some("Authorization: Bearer tok-123456789")
        );
        // A missing slot is named, and no secret is in the message.
        let missing = Some(RemoteAuth::Bearer {
            slot: "nope".into(),
        });
        let e = credentials(&env, &remote(missing), &mut out)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && !e.contains("123456789"), "{e}");
        // Extra CAs: the bundle is named by a variable too.
        std::fs::write(dir.path().join(UPSTREAM_CA_FILE), "PEM").unwrap();
        let vars = credentials(&env, &remote(None), &mut out).unwrap();
        assert_eq!(
            get(&vars, "GIT_CONFIG_KEY_0").as_deref(),
            Some("http.sslCAInfo")
        );
        assert!(out.is_empty());
    }

    #[test]
    fn ssh_command_names_the_key_and_refuses_paths() {
        let dir = tempfile::tempdir().unwrap();
        let (cmd, note) = ssh_command(dir.path(), "id_0").unwrap();
        assert!(cmd.contains("id_0") && cmd.contains("accept-new"), "{cmd}");
        assert!(note.is_some());
        std::fs::write(dir.path().join("known_hosts"), "").unwrap();
        let (cmd, note) = ssh_command(dir.path(), "id_0").unwrap();
        assert!(cmd.contains("StrictHostKeyChecking=yes"), "{cmd}");
        assert!(note.is_none());
        for bad in ["", "../x", "a/b", ".hidden"] {
            assert!(ssh_command(dir.path(), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn its_temporary_files_are_private_and_planted_ones_are_not_used() {
        use crate::state::scratch::planted::Planted;
        use std::os::unix::fs::MetadataExt;
        let private = |path: &Path| {
            let folder = std::fs::symlink_metadata(path.parent().unwrap()).unwrap();
            // SAFETY: geteuid cannot fail and touches no memory.
            let uid = unsafe { libc::geteuid() };
            folder.is_dir() && folder.mode() & 0o077 == 0 && folder.uid() == uid
        };
        let watched = tempfile::tempdir().unwrap();
        let watched = watched.path().join("watched");
        std::fs::write(&watched, "another user's").unwrap();

        // Host keys learned on first use, where another user could plant
        // theirs.
        let planted = Planted::at("bot-bottle-known_hosts", &watched);
        let ssh = tempfile::tempdir().unwrap();
        let (cmd, _) = ssh_command(ssh.path(), "id_0").unwrap();
        let words = shlex::split(&cmd).unwrap();
        let known = words
            .iter()
            .find_map(|w| w.strip_prefix("UserKnownHostsFile="))
            .map(PathBuf::from)
            .unwrap();
        assert_ne!(known, planted.0);
        assert!(private(&known), "{}", known.display());
        let (again, _) = ssh_command(ssh.path(), "id_0").unwrap();
        assert_eq!(again, cmd, "learned keys are kept between pushes");
        drop(planted);

        // The CA bundle.
        let planted = Planted::at("bot-bottle-gate-cas.pem", &watched);
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join(UPSTREAM_CA_FILE), "EXTRA CA\n").unwrap();
        let bundle = ca_bundle(state.path()).unwrap().unwrap();
        assert!(planted.intact(&watched), "the planted link is left alone");
        assert_eq!(std::fs::read_to_string(&watched).unwrap(), "another user's");
        assert_ne!(bundle, planted.0);
        assert!(private(&bundle), "{}", bundle.display());
        assert!(
            std::fs::read_to_string(&bundle)
                .unwrap()
                .ends_with("EXTRA CA\n")
        );
        std::fs::remove_file(&bundle).unwrap();
    }
}
