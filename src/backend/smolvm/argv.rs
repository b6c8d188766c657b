//! The `smolvm machine …` argv bot-bottle runs, built in one place (pure).
//! Shapes follow today's smolvm CLI: the machine is always `--name NAME`
//! (never positional), a command always follows `--`.

use std::path::Path;

use crate::backend::session::{Io, io_flags};

/// What a bottle's machine is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    pub name: String,
    pub labels: Vec<(String, String)>,
    /// A `docker save` archive of the agent's image.
    pub image_tar: String,
    pub cpus: u8,
    pub mem_mib: u32,
    /// The only addresses the machine's egress may reach: the sidecars'.
    pub allow_cidrs: Vec<String>,
    /// smolvm's network backend (`--net-backend`).
    pub net_backend: String,
    /// The guest's only resolver (`--dns`).
    pub dns: Option<String>,
    /// `(host folder, guest path)`, mounted read-only.
    pub volumes: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    /// `(variable, host file)`: variables whose values smolvm reads from
    /// the file at each exec (`--secret-file`), so they are in no argv.
    pub secret_files: Vec<(String, String)>,
    pub workdir: String,
    /// The machine's workload: it keeps the machine up between sessions.
    pub command: Vec<String>,
}

pub fn create(spec: &MachineSpec) -> Vec<String> {
    let mut args = words(&["machine", "create", "--name", &spec.name]);
    for (k, v) in &spec.labels {
        args.extend(["--label".into(), format!("{k}={v}")]);
    }
    args.extend(["-I".into(), spec.image_tar.clone()]);
    args.extend(["--cpus".into(), spec.cpus.to_string()]);
    args.extend(["--mem".into(), spec.mem_mib.to_string()]);
    for cidr in &spec.allow_cidrs {
        args.extend(["--allow-cidr".into(), cidr.clone()]);
    }
    args.extend(["--net-backend".into(), spec.net_backend.clone()]);
    if let Some(dns) = &spec.dns {
        args.extend(["--dns".into(), dns.clone()]);
    }
    for (host, guest) in &spec.volumes {
        args.extend(["-v".into(), format!("{host}:{guest}:ro")]);
    }
    for (k, v) in &spec.env {
        args.extend(["-e".into(), format!("{k}={v}")]);
    }
    for (k, file) in &spec.secret_files {
        args.extend(["--secret-file".into(), format!("{k}={file}")]);
    }
    args.extend(["-w".into(), spec.workdir.clone(), "--".into()]);
    args.extend(spec.command.iter().cloned());
    args
}

pub fn start(name: &str) -> Vec<String> {
    words(&["machine", "start", "--name", name])
}

pub fn stop(name: &str) -> Vec<String> {
    words(&["machine", "stop", "--name", name])
}

pub fn delete(name: &str) -> Vec<String> {
    words(&["machine", "delete", "--name", name, "--force"])
}

pub fn list() -> Vec<String> {
    words(&["machine", "ls", "--json"])
}

/// Who a command in the machine runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum As {
    Root,
    /// The agent's user, switched to with `runuser` inside the machine.
    Agent,
}

/// The agent's user name in its image (uid 1000, as the bundled
/// Dockerfiles make it); `runuser` needs a name.
pub const AGENT_USER_NAME: &str = "agent";

/// `machine exec`: stdin and a terminal when asked, `TERM` passed on, in
/// `workdir`, as `who`.
pub fn exec(
    name: &str,
    argv: &[String],
    io: Io,
    term: Option<&str>,
    workdir: &str,
    who: As,
) -> Vec<String> {
    let mut args = words(&["machine", "exec", "--name", name]);
    args.extend(io_flags(io, term));
    args.extend(["-w".into(), workdir.into(), "--".into()]);
    if who == As::Agent {
        args.extend(words(&["runuser", "-u", AGENT_USER_NAME, "--"]));
    }
    args.extend(argv.iter().cloned());
    args
}

/// `machine exec --stream` as the agent: its output passed on as it comes
/// (without `--stream`, smolvm holds all of it until the command ends).
pub fn exec_streamed(name: &str, argv: &[String], workdir: &str) -> Vec<String> {
    let mut args = words(&["machine", "exec", "--name", name, "--stream", "-w", workdir]);
    args.push("--".into());
    args.extend(words(&["runuser", "-u", AGENT_USER_NAME, "--"]));
    args.extend(argv.iter().cloned());
    args
}

/// `machine exec -d`: started in the background, as the agent.
pub fn exec_detached(name: &str, argv: &[String], workdir: &str) -> Vec<String> {
    let mut args = words(&["machine", "exec", "--name", name, "-d", "-w", workdir, "--"]);
    args.extend(words(&["runuser", "-u", AGENT_USER_NAME, "--"]));
    args.extend(argv.iter().cloned());
    args
}

/// `machine cp` of a host file into the machine.
pub fn copy_to(name: &str, from: &Path, to: &str) -> Vec<String> {
    vec![
        "machine".into(),
        "cp".into(),
        from.display().to_string(),
        format!("{name}:{to}"),
    ]
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_shape_smolvm_accepts() {
        let spec = MachineSpec {
            name: "bot-bottle-dev-abcde".into(),
            labels: vec![("dev.bot-bottle.slug".into(), "dev-abcde".into())],
            image_tar: "/h/cache/agent.tar".into(),
            cpus: 2,
            mem_mib: 4096,
            allow_cidrs: vec!["172.20.0.2/32".into(), "172.20.0.3/32".into()],
            net_backend: "virtio-net".into(),
            dns: Some("172.20.0.2".into()),
            volumes: vec![("/h/state/dev-abcde/agent".into(), "/etc/bot-bottle".into())],
            env: vec![("NO_PROXY".into(), "supervise".into())],
            secret_files: vec![(
                "HTTPS_PROXY".into(),
                "/h/state/dev-abcde/smolvm-env/HTTPS_PROXY".into(),
            )],
            workdir: "/workspace".into(),
            command: argv(&["sleep", "infinity"]),
        };
        let sh = argv(&["sh", "-c", "echo hi"]);
        let cases: Vec<(Vec<String>, &str)> = vec![
            (
                create(&spec),
                "machine create --name bot-bottle-dev-abcde --label dev.bot-bottle.slug=dev-abcde -I /h/cache/agent.tar --cpus 2 --mem 4096 --allow-cidr 172.20.0.2/32 --allow-cidr 172.20.0.3/32 --net-backend virtio-net --dns 172.20.0.2 -v /h/state/dev-abcde/agent:/etc/bot-bottle:ro -e NO_PROXY=supervise --secret-file HTTPS_PROXY=/h/state/dev-abcde/smolvm-env/HTTPS_PROXY -w /workspace -- sleep infinity",
            ),
            (start("m"), "machine start --name m"),
            (stop("m"), "machine stop --name m"),
            (delete("m"), "machine delete --name m --force"),
            (list(), "machine ls --json"),
            (
                exec(
                    "m",
                    &sh,
                    Io::Interactive { tty: true },
                    Some("xterm"),
                    "/workspace",
                    As::Agent,
                ),
                "machine exec --name m -i -t -e TERM=xterm -w /workspace -- runuser -u agent -- sh -c echo hi",
            ),
            (
                exec(
                    "m",
                    &sh,
                    Io::Interactive { tty: false },
                    Some("xterm"),
                    "/workspace",
                    As::Agent,
                ),
                "machine exec --name m -i -w /workspace -- runuser -u agent -- sh -c echo hi",
            ),
            (
                exec("m", &sh, Io::Detached, None, "/", As::Root),
                "machine exec --name m -w / -- sh -c echo hi",
            ),
            (
                exec_streamed("m", &sh, "/"),
                "machine exec --name m --stream -w / -- runuser -u agent -- sh -c echo hi",
            ),
            (
                exec_detached("m", &sh, "/workspace"),
                "machine exec --name m -d -w /workspace -- runuser -u agent -- sh -c echo hi",
            ),
            (
                copy_to("m", Path::new("/tmp/a.tar"), "/tmp/b.tar"),
                "machine cp /tmp/a.tar m:/tmp/b.tar",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.join(" "), want);
        }
    }
}
