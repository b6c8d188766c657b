//! The layers of `src/`: every top-level module sits in one layer, and a
//! module names (`crate::…`) only modules of the layers below its own. So
//! there is no import cycle between top-level modules and no arrow from a
//! lower layer to a higher one; a new module, or a new arrow upward or
//! sideways, fails here with the file that made it.
//!
//! What counts as an arrow is what `../shared/tools/module-cycles` counts: a
//! `crate::NAME` outside comments, `#[cfg(test)]` sections and test files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. A module may name the modules of any layer before its
/// own, and none of its own layer or after.
const LAYERS: &[&[&str]] = &[
    // Leaves: they name no module of the crate.
    &[
        "text", "colour", "shutdown", "picker", "accept", "pieces", "fileio",
    ],
    // The conventions every piece shares: the errors a user sees, and the
    // names both sides of a bottle use (services, ports, paths, command
    // lines).
    &["error", "contract"],
    // Dockerfiles, the agents' CLIs, and the egress sidecar.
    &["agent_cli", "dockerfile", "egress"],
    // What a bottle's model usage costs, at the operator's prices.
    &["pricing"],
    // The seal's probes, run inside an agent, and how they are judged.
    &["verify"],
    // Running programs; the agents' command lines.
    &["exec", "provider"],
    // The home folder and a bottle's folder; the operator's manifests.
    &["state", "manifest"],
    // The proposal protocol, which the sidecars and the host both speak.
    &["proposal"],
    &["gitgate", "notify", "tmux"],
    // A bottle's plan, in no backend's words.
    &["plan"],
    // What runs a bottle, then the one launch sequence over it.
    &["backend"],
    &["launch"],
    // The host's side of approvals; the checks of `doctor`.
    &["supervise", "doctor"],
    &["dashboard"],
    &["cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: `src/NAME.rs` or `src/NAME/mod.rs`.
fn modules() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|name| {
            let module = name.strip_suffix(".rs").unwrap_or(&name);
            let is_module = src().join(format!("{module}.rs")).is_file()
                || src().join(module).join("mod.rs").is_file();
            is_module.then(|| module.to_owned())
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A module's own source files, test files left out.
fn files_of(module: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{module}.rs"));
    let dir = src().join(module);
    let mut out: Vec<PathBuf> = file.is_file().then_some(file).into_iter().collect();
    if dir.is_dir() {
        out.extend(sources_under(&dir));
    }
    out
}

/// The top-level modules a source text names, with what follows each.
fn named(text: &str) -> Vec<(String, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            let path = &after[..end];
            let name = path.split("::").next().unwrap_or("");
            if !name.is_empty() {
                out.push((name.to_owned(), path.to_owned()));
            }
            rest = &after[end..];
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_names_only_the_layers_below_it() {
    let modules = modules();
    let unplaced: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "src/ modules {unplaced:?} are in no layer: add each to LAYERS in tests/layers.rs, \
         above every module it names"
    );
    let mut upward: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for module in &modules {
        let own = layer_of(module).unwrap();
        for file in files_of(module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (name, path) in named(&text) {
                if name == *module || !modules.contains(&name) {
                    continue;
                }
                if layer_of(&name).unwrap() >= own {
                    let shown = file.strip_prefix(src()).unwrap().display().to_string();
                    upward
                        .entry(format!("{module} -> {name}"))
                        .or_default()
                        .push(format!("src/{shown}: crate::{path}"));
                }
            }
        }
    }
    let report: Vec<String> = upward
        .iter()
        .map(|(arrow, at)| format!("{arrow}\n    {}", at.join("\n    ")))
        .collect();
    assert!(
        report.is_empty(),
        "arrows that do not point to a lower layer (see LAYERS in tests/layers.rs; move the \
         item to the lower module instead):\n{}",
        report.join("\n")
    );
}

#[test]
fn no_layer_is_listed_twice_and_none_is_stale() {
    let modules = modules();
    let mut seen = Vec::new();
    for module in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(!seen.contains(module), "{module} is in LAYERS twice");
        assert!(
            modules.iter().any(|m| m == module),
            "LAYERS names {module}, which src/ no longer has: remove it"
        );
        seen.push(module);
    }
}

/// The README's picture of the layers, top to bottom: each line's module
/// names, before the description.
fn readme_layers() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (_, after) = readme
        .split_once("<!-- layers:")
        .expect("README.md has no `<!-- layers:` picture");
    let block = after
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the README's layers picture is a ```text block");
    block
        .lines()
        .map(|line| {
            let names = line.split("  ").next().unwrap_or("");
            names.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

#[test]
fn the_readme_pictures_these_layers() {
    let mut expected: Vec<Vec<String>> = LAYERS
        .iter()
        .map(|layer| layer.iter().map(|m| (*m).to_owned()).collect())
        .collect();
    expected.reverse();
    assert_eq!(
        readme_layers(),
        expected,
        "README.md's layers picture (Architecture) differs from LAYERS in tests/layers.rs: \
         make them say the same, top layer first"
    );
}

/// Every source file under `dir`, test files left out.
fn sources_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn only_the_docker_backend_runs_docker() {
    let docker_backend = src().join("backend").join("docker");
    let mut found = Vec::new();
    for file in sources_under(&src()) {
        if file.starts_with(&docker_backend)
            || file == src().join("backend/docker.rs")
            || file == src().join("exec.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            let names_docker = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == "DOCKER");
            if names_docker {
                let shown = file.strip_prefix(src()).unwrap().display();
                found.push(format!("src/{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "only src/backend/docker* runs docker (exec::DOCKER); give these a docker backend \
         function instead:\n{}",
        found.join("\n")
    );
}
