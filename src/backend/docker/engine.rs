//! Facts about the docker engine.

use serde_json::Value;

use super::plan::Runtime;
use crate::exec::{DOCKER, ExecError};

/// gVisor when the engine has `runsc` registered, runc otherwise.
pub fn detect_runtime() -> Result<Runtime, ExecError> {
    let out = DOCKER.output(&mut DOCKER.command(["info", "--format", "{{json .Runtimes}}"]))?;
    Ok(runtime_from_info(&String::from_utf8_lossy(&out.stdout)))
}

/// Reads `docker info --format '{{json .Runtimes}}'`.
pub fn runtime_from_info(runtimes_json: &str) -> Runtime {
    match serde_json::from_str::<Value>(runtimes_json.trim()) {
        Ok(Value::Object(map)) if map.contains_key("runsc") => Runtime::Runsc,
        _ => Runtime::Runc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runsc_only_when_registered() {
        let cases = [
            (
                r#"{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}}"#,
                Runtime::Runc,
            ),
            (
                r#"{"runc":{"path":"runc"},"runsc":{"path":"/usr/bin/runsc"}}"#,
                Runtime::Runsc,
            ),
            ("", Runtime::Runc),
            ("null", Runtime::Runc),
        ];
        for (info, want) in cases {
            assert_eq!(runtime_from_info(info), want, "{info}");
        }
    }
}
