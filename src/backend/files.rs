//! A bottle's files: what a plan says to write (`PlannedFile`), and
//! writing them under `state/<slug>/`: metadata, the bottle's CA, each
//! service's folder. (The backend writes its own documents, such as
//! docker's compose file, when it brings the bottle up.) A fresh bottle's folder is
//! removed again if any write fails, so nothing half-written stays.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde_json::{Map, Value};

use crate::contract::services::AGENT;
use crate::egress::ca;
use crate::plan::{BottlePlan, FileContent, TokenSlot};
use crate::state::{BottleDir, Home, Metadata, StateError, write_atomic};

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ca(#[from] ca::CaError),
}

/// Writes everything the bottle's containers mount. The agent's folder is
/// world-readable (its user is not the host's); the rest is the user's own.
pub fn write_state(home: &Home, metadata: &Metadata, plan: &BottlePlan) -> Result<(), FilesError> {
    let root = home.state_root();
    make_dir(&root, 0o700)?;
    let dir = home.bottle(&plan.slug);
    let fresh = !dir.root().exists();
    let result = write_all(home, &dir, metadata, plan);
    if result.is_err() && fresh {
        let _ = fs::remove_dir_all(dir.root());
    }
    result
}

fn write_all(
    home: &Home,
    dir: &BottleDir,
    metadata: &Metadata,
    plan: &BottlePlan,
) -> Result<(), FilesError> {
    make_dir(dir.root(), 0o700)?;
    home.write_metadata(&plan.slug, metadata)?;
    let needs_ca = plan
        .files
        .iter()
        .any(|f| matches!(f.content, FileContent::CaCert | FileContent::CaKey));
    let (ca_cert, ca_key) = if needs_ca {
        ca::new_ca()?
    } else {
        Default::default()
    };
    for file in &plan.files {
        let path = dir.root().join(&file.path);
        let in_service = file.path.components().count() > 1;
        if let Some(service) = file.path.components().next().filter(|_| in_service) {
            let service = service.as_os_str().to_string_lossy();
            let mode = if service == AGENT { 0o755 } else { 0o700 };
            make_dir(&dir.service(&service), mode)?;
        }
        if let Some(parent) = path.parent() {
            make_dir(parent, 0o755)?;
        }
        match &file.content {
            FileContent::Text(text) => write_atomic(&path, text.as_bytes(), file.mode)?,
            FileContent::CaCert => write_atomic(&path, ca_cert.as_bytes(), file.mode)?,
            FileContent::CaKey => write_atomic(&path, ca_key.as_bytes(), file.mode)?,
            FileContent::Tokens(slots) => {
                write_atomic(&path, tokens_json(slots).as_bytes(), file.mode)?
            }
            FileContent::Copy(from) => {
                let bytes = fs::read(from).map_err(|e| io(from, e))?;
                write_atomic(&path, &bytes, file.mode)?;
            }
            FileContent::CopyDir(from) => copy_dir(from, &path)?,
            FileContent::Concat(from) => {
                let mut bytes = Vec::new();
                for file in from {
                    bytes.extend(fs::read(file).map_err(|e| io(file, e))?);
                    if !bytes.ends_with(b"\n") {
                        bytes.push(b'\n');
                    }
                }
                write_atomic(&path, &bytes, file.mode)?;
            }
        }
    }
    if let Some(gate) = &plan.git_gate {
        // Mounted into the gate: a file, or docker would make a folder.
        touch(&gate.audit_log)?;
    }
    Ok(())
}

/// `{slot: token}`, each token read from the host variable the plan names.
fn tokens_json(slots: &[TokenSlot]) -> String {
    let map: Map<String, Value> = slots
        .iter()
        .filter_map(|s| {
            let value = std::env::var(&s.host_env).ok()?;
            Some((s.slot.clone(), Value::String(value)))
        })
        .collect();
    serde_json::to_string(&Value::Object(map)).unwrap_or_default()
}

/// Removes what may hold a secret (`BottleDir::secrets`) even when the
/// state is kept for resume; a launch writes them again.
pub fn remove_secrets(home: &Home, slug: &str) {
    for path in home.bottle(slug).secrets() {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                let _ = fs::remove_dir_all(&path);
            }
            Ok(_) => {
                let _ = fs::remove_file(&path);
            }
            Err(_) => {}
        }
    }
}

/// Makes `path` (and its folder) an empty file unless it exists.
fn touch(path: &Path) -> Result<(), StateError> {
    if let Some(parent) = path.parent() {
        make_dir(parent, 0o700)?;
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .map_err(|e| io(path, e))
}

fn make_dir(dir: &Path, mode: u32) -> Result<(), StateError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    // The umask may have taken bits the containers need.
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(|e| io(dir, e))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), StateError> {
    make_dir(to, 0o755)?;
    for entry in fs::read_dir(from).map_err(|e| io(from, e))? {
        let entry = entry.map_err(|e| io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().map_err(|e| io(&src, e))?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst).map_err(|e| io(&src, e))?;
            fs::set_permissions(&dst, fs::Permissions::from_mode(0o644))
                .map_err(|e| io(&dst, e))?;
        }
    }
    Ok(())
}

fn io(path: &Path, e: std::io::Error) -> StateError {
    StateError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::manifest::{Agent, Auth, Bottle, ImageSource, Route, Scheme, Skill};
    use crate::plan::{GateInput, PlanInput, plan, testing};
    use crate::provider::{Provider, SessionSpec};

    #[test]
    fn writes_every_planned_file_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let skill = dir.path().join("skills/review");
        fs::create_dir_all(&skill).unwrap();
        fs::write(skill.join("SKILL.md"), "# review").unwrap();
        let home = Home {
            root: dir.path().join("home"),
        };
        let mut agent = testing::agent(Provider::Shell);
        agent.skills = vec![Skill {
            name: "review".into(),
            dir: skill,
        }];
        let plan = plan_in(&home, "dev-aaaaa", &agent, debian_bottle(), &[], None);
        let meta = metadata(None);
        write_state(&home, &meta, &plan).unwrap();

        let state = home.bottle("dev-aaaaa");
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(state.root()), 0o700);
        assert_eq!(mode(&state.agent_dir()), 0o755);
        assert_eq!(mode(&state.egress_dir()), 0o700);
        assert_eq!(mode(&state.egress_ca_key()), 0o600);
        assert_eq!(
            fs::read_to_string(state.agent_dir().join("skills/review/SKILL.md")).unwrap(),
            "# review"
        );
        let cert = fs::read_to_string(state.agent_ca()).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(cert, fs::read_to_string(state.egress_ca()).unwrap());
        assert!(home.existing_bottle_dir("dev-aaaaa").is_ok());
        assert_eq!(home.read_metadata("dev-aaaaa").unwrap(), meta);
    }

    /// The test bottle, running the image `debian`.
    fn debian_bottle() -> Bottle {
        let mut bottle = testing::bottle();
        bottle.image = Some(ImageSource::Image("debian".into()));
        bottle
    }

    /// `agent` in `bottle` (selected as `b`) planned as `slug` in `home`,
    /// with the host variables `env` set; with a gate, its operator's
    /// repository is the folder copied in.
    fn plan_in(
        home: &Home,
        slug: &str,
        agent: &Agent,
        bottle: Bottle,
        env: &[&str],
        gate: Option<GateInput>,
    ) -> BottlePlan {
        let state_dir = home.bottle_dir(slug);
        let env: BTreeSet<String> = env.iter().map(|v| v.to_string()).collect();
        let names = ["b".to_owned()];
        let copy_cwd = gate.as_ref().map(|g| g.repo.top.clone());
        plan(&PlanInput {
            slug,
            state_dir: &state_dir,
            sidecar_image: "s",
            host_user: (0, 0),
            copy_cwd: copy_cwd.as_deref(),
            git_gate: gate,
            ..testing::input(agent, &bottle, &env, &names)
        })
        .unwrap()
    }

    /// Bottle `b`'s metadata for agent `dev`, its folder copied in from
    /// `copied` (else none).
    fn metadata(copied: Option<&Path>) -> Metadata {
        Metadata {
            agent: "dev".into(),
            bottles: vec!["b".into()],
            cwd: copied.unwrap_or(Path::new("/")).to_path_buf(),
            copy_cwd: copied.is_some(),
            include_ignored: false,
            label: "dev".into(),
            color: "cyan".into(),
            backend: "docker".into(),
            started_at: "now".into(),
            provider: Provider::Shell,
            session: SessionSpec::default(),
        }
    }

    /// A bottle with a git gate, an ssh key, two upstream CAs and a route
    /// whose token is `$PATH` (set wherever tests run), planned and its
    /// state written.
    fn gate_bottle(dir: &Path) -> (Home, BottlePlan) {
        let home = Home {
            root: dir.join("home"),
        };
        let key = dir.join("id_ed25519");
        fs::write(&key, "PRIVATE ssh key").unwrap();
        let (ca1, ca2) = (dir.join("ca1.pem"), dir.join("ca2.pem"));
        fs::write(&ca1, "ONE").unwrap();
        fs::write(&ca2, "TWO\n").unwrap();
        let mut agent = testing::agent(Provider::Shell);
        agent.prompt = String::new();
        let mut bottle = debian_bottle();
        bottle.ssh = vec![crate::manifest::SshEntry {
            host: "h.test".into(),
            identity_file: key,
        }];
        bottle.egress.trust_upstream_ca = vec![ca1, ca2];
        bottle.egress.routes.push(Route {
            host: "api.example.com".into(),
            path_allowlist: vec![],
            auth: Some(Auth {
                scheme: Some(Scheme::Bearer),
                token_env: vec!["PATH".into()],
            }),
            role: None,
            allow_private_addresses: None,
            block_server_tools: None,
        });
        let repo = crate::gitgate::operator::OperatorRepo {
            top: dir.join("proj"),
            git_dir: dir.join("proj/.git"),
            common_dir: dir.join("proj/.git"),
            head: None,
        };
        let audit = home.audit_log("dev-ggggg");
        let gate = testing::gate(&repo, &audit);
        let plan = plan_in(&home, "dev-ggggg", &agent, bottle, &["PATH"], Some(gate));
        write_state(&home, &metadata(Some(&repo.top)), &plan).unwrap();
        (home, plan)
    }

    #[test]
    fn a_gate_gets_its_files_the_audit_log_and_loses_its_secrets_at_teardown() {
        let dir = tempfile::tempdir().unwrap();
        let (home, _) = gate_bottle(dir.path());
        let state = home.bottle("dev-ggggg");
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&state.gate_dir()), 0o700);
        assert_eq!(mode(&state.gate_ssh().join("id_0")), 0o600);
        assert_eq!(mode(&state.gate_tokens()), 0o600);
        assert_eq!(
            fs::read_to_string(state.gate_upstream_ca()).unwrap(),
            "ONE\nTWO\n"
        );
        assert!(state.gate_config().is_file());
        assert!(state.git_policy().is_file());
        assert!(
            home.audit_log("dev-ggggg").is_file(),
            "a file for docker to mount, not a folder"
        );
        assert!(!state.agent_dir().join("ssh").exists());

        remove_secrets(&home, "dev-ggggg");
        assert!(!state.gate_tokens().exists());
        assert!(!state.gate_ssh().exists());
        assert!(state.gate_config().is_file());
    }

    /// Whatever the writer writes that holds a secret (a token, a private
    /// key, a copied ssh key) is gone after `remove_secrets`, wherever the
    /// layout puts it; what is not secret stays.
    #[test]
    fn remove_secrets_leaves_no_secret_the_writer_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let (home, plan) = gate_bottle(dir.path());
        let state = home.bottle("dev-ggggg");
        let secret: Vec<&Path> = plan
            .files
            .iter()
            .filter(|f| match &f.content {
                FileContent::Tokens(_) | FileContent::CaKey => true,
                FileContent::Copy(_) => f.mode & 0o077 == 0,
                _ => false,
            })
            .map(|f| f.path.as_path())
            .collect();
        assert!(
            secret.len() >= 4,
            "tokens twice, the CA key, the ssh key: {secret:?}"
        );
        let token = std::env::var("PATH").unwrap();
        for rel in &secret {
            assert!(state.root().join(rel).is_file(), "{}", rel.display());
        }
        assert!(
            fs::read_to_string(state.egress_tokens())
                .unwrap()
                .contains(&token)
        );

        remove_secrets(&home, "dev-ggggg");
        for rel in &secret {
            assert!(
                !state.root().join(rel).exists(),
                "left behind: {}",
                rel.display()
            );
        }
        let mut left = Vec::new();
        let mut todo = vec![state.root().to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
                    if text.contains("PRIVATE") || text.contains(&format!("\"{token}\"")) {
                        left.push(path);
                    }
                }
            }
        }
        assert!(left.is_empty(), "secrets left: {left:?}");
        assert!(state.metadata().is_file());
        assert!(state.egress_routes().is_file() && state.live_routes().is_file());
    }
}
