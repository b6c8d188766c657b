//! Facts about the docker engine: its container runtimes and CPUs.

use serde_json::Value;

use crate::error::{Explain, UserError};
use crate::exec::{DOCKER, ExecError};
use crate::plan::{EngineFacts, Runtime, RuntimeWhy};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("BOT_BOTTLE_RUNTIME='{0}' is not runc or runsc")]
    BadRuntime(String),
    #[error("BOT_BOTTLE_RUNTIME=runsc, but the docker engine has no runsc runtime registered")]
    NoRunsc,
}

impl UserError for EngineError {
    fn explain(&self) -> Explain<'_> {
        match self {
            EngineError::Exec(e) => Explain::By(e),
            EngineError::BadRuntime(_) => Explain::usage(
                "unset it to let bot-bottle choose (gVisor when the engine has it), or set runc or runsc",
            ),
            EngineError::NoRunsc => {
                Explain::usage("register gVisor with the engine: BOT_BOTTLE_GVISOR=1 scripts/setup")
            }
        }
    }
}

/// Asks the engine; `BOT_BOTTLE_RUNTIME` (runc or runsc) overrides the
/// automatic choice of gVisor whenever the engine has it.
pub fn facts() -> Result<EngineFacts, EngineError> {
    let wanted = std::env::var("BOT_BOTTLE_RUNTIME")
        .ok()
        .filter(|v| !v.is_empty());
    facts_from_info(&info()?, wanted.as_deref())
}

/// Whether the engine has gVisor's runsc registered (whatever
/// `BOT_BOTTLE_RUNTIME` says).
pub fn runsc_registered() -> Result<bool, EngineError> {
    Ok(facts_from_info(&info()?, None)?.runtime == Runtime::Runsc)
}

/// What `facts_from_info` reads.
/// The engine's version, as its server reports it.
pub fn server_version() -> Result<String, ExecError> {
    let out = DOCKER.output(&mut DOCKER.command(["version", "--format", "{{.Server.Version}}"]))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn info() -> Result<String, ExecError> {
    DOCKER.find()?;
    let out = DOCKER.output(&mut DOCKER.command([
        "info",
        "--format",
        "{{json .Runtimes}}\n{{.NCPU}}",
    ]))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads `docker info --format '{{json .Runtimes}}\n{{.NCPU}}'`.
pub fn facts_from_info(info: &str, wanted: Option<&str>) -> Result<EngineFacts, EngineError> {
    let mut lines = info.lines();
    let has_runsc = matches!(
        serde_json::from_str::<Value>(lines.next().unwrap_or("").trim()),
        Ok(Value::Object(map)) if map.contains_key("runsc")
    );
    let cpus = lines
        .next()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let (runtime, why) = match wanted {
        None if has_runsc => (Runtime::Runsc, RuntimeWhy::Registered),
        None => (Runtime::Runc, RuntimeWhy::NotRegistered),
        Some("runc") => (Runtime::Runc, RuntimeWhy::Env),
        Some("runsc") if has_runsc => (Runtime::Runsc, RuntimeWhy::Env),
        Some("runsc") => return Err(EngineError::NoRunsc),
        Some(other) => return Err(EngineError::BadRuntime(other.to_owned())),
    };
    Ok(EngineFacts { runtime, why, cpus })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNC: &str = r#"{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}}"#;
    const RUNSC: &str = r#"{"runc":{"path":"runc"},"runsc":{"path":"/usr/bin/runsc"}}"#;

    /// (runtime, cpus, preflight line), or the error.
    type Want = Result<(Runtime, u32, &'static str), &'static str>;

    #[test]
    fn runsc_when_registered_unless_the_env_says_otherwise() {
        let cases: Vec<(String, Option<&str>, Want)> = vec![
            (
                format!("{RUNC}\n2"),
                None,
                Ok((
                    Runtime::Runc,
                    2,
                    "runc (gVisor's runsc is not registered with the engine)",
                )),
            ),
            (
                format!("{RUNSC}\n8"),
                None,
                Ok((Runtime::Runsc, 8, "runsc (gVisor)")),
            ),
            (
                format!("{RUNSC}\n8"),
                Some("runc"),
                Ok((Runtime::Runc, 8, "runc (chosen by BOT_BOTTLE_RUNTIME)")),
            ),
            (
                format!("{RUNSC}\n4"),
                Some("runsc"),
                Ok((
                    Runtime::Runsc,
                    4,
                    "runsc (gVisor, chosen by BOT_BOTTLE_RUNTIME)",
                )),
            ),
            (
                format!("{RUNC}\n4"),
                Some("runsc"),
                Err(
                    "BOT_BOTTLE_RUNTIME=runsc, but the docker engine has no runsc runtime registered",
                ),
            ),
            (
                format!("{RUNSC}\n4"),
                Some("kata"),
                Err("BOT_BOTTLE_RUNTIME='kata' is not runc or runsc"),
            ),
            (
                "".into(),
                None,
                Ok((
                    Runtime::Runc,
                    1,
                    "runc (gVisor's runsc is not registered with the engine)",
                )),
            ),
            (
                "null\nx".into(),
                None,
                Ok((
                    Runtime::Runc,
                    1,
                    "runc (gVisor's runsc is not registered with the engine)",
                )),
            ),
        ];
        for (info, wanted, want) in cases {
            let got = facts_from_info(&info, wanted)
                .map(|f| (f.runtime, f.cpus, f.runtime_line()))
                .map_err(|e| e.to_string());
            let want = want
                .map(|(r, c, l)| (r, c, l.to_owned()))
                .map_err(str::to_owned);
            assert_eq!(got, want, "{info:?} {wanted:?}");
        }
    }
}
