//! A bottle's files: what a plan says to write (`PlannedFile`), and
//! writing them under `state/<slug>/`: metadata, the bottle's CA, each
//! service's folder, and the compose file. A fresh bottle's folder is
//! removed again if any write fails, so nothing half-written stays.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::docker::plan::DockerPlan;
use crate::contract::services::AGENT;
use crate::egress::ca;
use crate::state::{BottleDir, Home, Metadata, StateError, write_atomic};

/// A file the plan writes under the bottle's state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Relative to the state folder; its first part is the service
    /// whose folder it is in, when it has more than one.
    pub path: PathBuf,
    pub content: FileContent,
    pub mode: u32,
}

/// What goes into a planned file, made when the files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    Text(String),
    /// A host file, copied.
    Copy(PathBuf),
    /// A host folder, copied with everything in it.
    CopyDir(PathBuf),
    /// Host files, one after the other (PEM bundles).
    Concat(Vec<PathBuf>),
    /// The route tokens, as JSON `{slot: value}`, each value read from the
    /// host variable named, at write time.
    Tokens(Vec<TokenSlot>),
    /// The bottle's CA certificate, made when the files are written.
    CaCert,
    /// The bottle's CA private key.
    CaKey,
}

/// A route token's slot, and the host variable its value is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSlot {
    pub slot: String,
    pub host_env: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Ca(#[from] ca::CaError),
}

/// Writes everything the bottle's containers mount. The agent's folder is
/// world-readable (its user is not the host's); the rest is the user's own.
pub fn write_state(home: &Home, metadata: &Metadata, plan: &DockerPlan) -> Result<(), FilesError> {
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
    plan: &DockerPlan,
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
    let compose = serde_json::to_string_pretty(&plan.compose).unwrap_or_default();
    write_atomic(&dir.compose_file(), compose.as_bytes(), 0o600)?;
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
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::backend::docker::engine::EngineFacts;
    use crate::backend::docker::plan::{PlanInput, plan};
    use crate::manifest::{Agent, Auth, Bottle, Egress, ImageSource, Origin, Route, Scheme, Skill};
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
        let agent = Agent {
            name: "dev".into(),
            provider: Provider::Shell,
            prompt: "hi".into(),
            bottles: vec![],
            skills: vec![Skill {
                name: "review".into(),
                dir: skill,
            }],
            startup_args: vec![],
            description: None,
            model: None,
            color: None,
            origin: Origin::Embedded,
        };
        let bottle = Bottle {
            name: "b".into(),
            image: Some(ImageSource::Image("debian".into())),
            env: BTreeMap::new(),
            egress: Egress::default(),
            ssh: vec![],
            limits: Default::default(),
            git: Default::default(),
            origin: Origin::Embedded,
            provenance: Default::default(),
        };
        let state_dir = home.bottle_dir("dev-aaaaa");
        let env = BTreeSet::new();
        let names = ["b".to_owned()];
        let plan = plan(&PlanInput {
            slug: "dev-aaaaa",
            agent: &agent,
            bottle: &bottle,
            bottle_names: &names,
            state_dir: &state_dir,
            engine: &EngineFacts::unknown(),
            sidecar_image: "s",
            host_user: (0, 0),
            host_env_set: &env,
            copy_cwd: None,
            extra_args: &[],
            context_digest: None,
            live_routes: None,
            git_gate: None,
            base_images: &[],
        })
        .unwrap();
        let meta = Metadata {
            agent: "dev".into(),
            bottles: vec!["b".into()],
            cwd: "/".into(),
            copy_cwd: false,
            label: "dev".into(),
            color: "cyan".into(),
            backend: "docker".into(),
            started_at: "now".into(),
            provider: Provider::Shell,
            session: SessionSpec::default(),
        };
        write_state(&home, &meta, &plan).unwrap();

        let state = home.bottle("dev-aaaaa");
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(state.root()), 0o700);
        assert_eq!(mode(&state.agent_dir()), 0o755);
        assert_eq!(mode(&state.egress_dir()), 0o700);
        assert_eq!(mode(&state.egress_ca_key()), 0o600);
        assert_eq!(mode(&state.compose_file()), 0o600);
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

    /// A bottle with a git gate, an ssh key, two upstream CAs and a route
    /// whose token is `$PATH` (set wherever tests run), planned; its state
    /// is not written yet.
    fn gate_bottle(dir: &Path) -> (Home, DockerPlan, Metadata) {
        let home = Home {
            root: dir.join("home"),
        };
        let key = dir.join("id_ed25519");
        fs::write(&key, "PRIVATE ssh key").unwrap();
        let (ca1, ca2) = (dir.join("ca1.pem"), dir.join("ca2.pem"));
        fs::write(&ca1, "ONE").unwrap();
        fs::write(&ca2, "TWO\n").unwrap();
        let agent = Agent {
            name: "dev".into(),
            provider: Provider::Shell,
            prompt: String::new(),
            bottles: vec![],
            skills: vec![],
            startup_args: vec![],
            description: None,
            model: None,
            color: None,
            origin: Origin::Embedded,
        };
        let mut bottle = Bottle {
            name: "b".into(),
            image: Some(ImageSource::Image("debian".into())),
            env: BTreeMap::new(),
            egress: Egress::default(),
            ssh: vec![crate::manifest::SshEntry {
                host: "h.test".into(),
                identity_file: key,
            }],
            limits: Default::default(),
            git: Default::default(),
            origin: Origin::Embedded,
            provenance: Default::default(),
        };
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
        let state_dir = home.bottle_dir("dev-ggggg");
        let env = BTreeSet::from(["PATH".to_owned()]);
        let names = ["b".to_owned()];
        let plan = plan(&PlanInput {
            slug: "dev-ggggg",
            agent: &agent,
            bottle: &bottle,
            bottle_names: &names,
            state_dir: &state_dir,
            engine: &EngineFacts::unknown(),
            sidecar_image: "s",
            host_user: (0, 0),
            host_env_set: &env,
            copy_cwd: Some(&repo.top),
            extra_args: &[],
            context_digest: None,
            live_routes: None,
            git_gate: Some(crate::backend::docker::plan::GateInput {
                repo: &repo,
                audit_log: &audit,
                known_hosts: None,
            }),
            base_images: &[],
        })
        .unwrap();
        let meta = Metadata {
            agent: "dev".into(),
            bottles: vec!["b".into()],
            cwd: repo.top.clone(),
            copy_cwd: true,
            label: "dev".into(),
            color: "cyan".into(),
            backend: "docker".into(),
            started_at: "now".into(),
            provider: Provider::Shell,
            session: SessionSpec::default(),
        };
        (home, plan, meta)
    }

    #[test]
    fn a_gate_gets_its_files_the_audit_log_and_loses_its_secrets_at_teardown() {
        let dir = tempfile::tempdir().unwrap();
        let (home, plan, meta) = gate_bottle(dir.path());
        write_state(&home, &meta, &plan).unwrap();
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
        let (home, plan, meta) = gate_bottle(dir.path());
        write_state(&home, &meta, &plan).unwrap();
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
        assert!(state.metadata().is_file() && state.compose_file().is_file());
        assert!(state.egress_routes().is_file() && state.live_routes().is_file());
    }
}
