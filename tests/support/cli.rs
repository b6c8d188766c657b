//! The CLI without an engine: a test folder holding a home (`home/`), a
//! project (`proj/`, the working directory) and a stand-in docker
//! (`fake-docker`), and the test build of bot-bottle run in it with a
//! clean environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fake;

/// A test's own folder for running bot-bottle without docker or tmux.
pub struct CliEnv {
    pub dir: tempfile::TempDir,
}

impl CliEnv {
    /// With a stand-in docker that answers `docker info` and nothing else.
    pub fn new() -> CliEnv {
        CliEnv::with_docker(fake::DOCKER_INFO_RUNC)
    }

    /// With `docker` (a whole script) as the stand-in docker.
    pub fn with_docker(docker: &str) -> CliEnv {
        let env = CliEnv {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(env.proj()).unwrap();
        fake::script(&env.docker(), docker);
        env
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn proj(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    /// The stand-in docker (`BOT_BOTTLE_DOCKER`).
    pub fn docker(&self) -> PathBuf {
        self.dir.path().join("fake-docker")
    }

    /// Writes `text` to `rel` (below the test folder), making its folders.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `program` in the project, with only `PATH` of the caller's
    /// environment, `HOME` the test folder, this home and the stand-in
    /// docker.
    pub fn command(&self, program: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.current_dir(self.proj())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", self.dir.path())
            .env("BOT_BOTTLE_HOME", self.home())
            .env("BOT_BOTTLE_DOCKER", self.docker());
        cmd
    }

    /// The test build of bot-bottle with `args`, as `command` runs it.
    pub fn cmd(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(
            self.command(&assert_cmd::cargo::cargo_bin("bot-bottle")),
        );
        cmd.args(args);
        cmd
    }

    /// `bot-bottle trust --yes`: the operator trusts the project as it is.
    pub fn trust(&self) {
        let out = self.cmd(&["trust", "--yes"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every file under the test folder, with its size.
    pub fn tree(&self) -> BTreeMap<PathBuf, u64> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let meta = entry.metadata().unwrap();
                out.insert(entry.path(), meta.len());
                if meta.is_dir() {
                    walk(&entry.path(), out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

/// The stdout of `out`, which must have exited 0 (else the test fails
/// with its stderr).
pub fn stdout_ok(out: std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
