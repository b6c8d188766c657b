//! `bot-bottle doctor`: whether this machine can run bottles, one line per
//! check. Pure: the driver (`cli/doctor.rs`) gathers the `Facts` through
//! the modules that own each piece of knowledge, and this turns them into
//! lines, each with its fix when something is wrong.

use std::path::PathBuf;

use crate::backend::docker::engine::EngineError;
use crate::backend::docker::images::{BASE_IMAGE, ImageError};
use crate::backend::docker::subnets::{self, Net, SubnetError};
use crate::colour::{self, Colour};
use crate::error::UserError;

/// Why a fact could not be had, and what to do about it (the owning
/// module's own message and hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub what: String,
    pub fix: Option<String>,
}

impl Problem {
    pub(crate) fn new(what: impl Into<String>, fix: Option<String>) -> Problem {
        Problem {
            what: what.into(),
            fix,
        }
    }
}

pub(crate) type Fact<T> = Result<T, Problem>;

/// How full the bottles' subnet pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolUse {
    pub pool: Net,
    /// Free /28 networks.
    pub free: usize,
    /// /28 networks the pool holds.
    pub total: usize,
}

/// What the driver found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The engine's version, when it answers.
    pub engine: Fact<String>,
    /// Docker Compose v2's version.
    pub compose: Fact<String>,
    /// `tmux -V`.
    pub tmux: Fact<String>,
    /// Whether the base image is in the engine.
    pub base_image: Fact<bool>,
    /// Where runsc is, if installed.
    pub runsc: Option<PathBuf>,
    /// Whether the engine has runsc registered.
    pub runsc_registered: Fact<bool>,
    /// Where smolvm is, when the smolmachines backend is available.
    pub smolvm: Fact<PathBuf>,
    pub pool: Fact<PoolUse>,
    /// The binary that goes into the sidecar image, when it is static.
    pub binary: Fact<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    /// Something required is missing: bottles cannot run.
    Missing,
    /// Something optional is missing, or something is off.
    Warn,
}

impl Status {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Warn => "warn",
        }
    }

    fn colour(self) -> Colour {
        match self {
            Status::Ok => Colour::Green,
            Status::Missing => Colour::Red,
            Status::Warn => Colour::Yellow,
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub status: Status,
    pub check: &'static str,
    pub found: String,
    pub fix: Option<String>,
}

/// Each bottle has two networks: the internal one and the outside one.
const NETWORKS_PER_BOTTLE: usize = 2;

/// The lines, in a fixed order.
pub(crate) fn check(facts: &Facts) -> Vec<Line> {
    vec![
        engine(&facts.engine),
        required("compose", &facts.compose, |v| format!("docker compose {v}")),
        required("tmux", &facts.tmux, |v| v.clone()),
        base_image(&facts.base_image),
        runsc(facts.runsc.as_ref(), &facts.runsc_registered),
        smolvm(&facts.smolvm),
        pool(&facts.pool),
        binary(&facts.binary),
    ]
}

/// Whether bottles can run: nothing required is missing.
pub(crate) fn healthy(lines: &[Line]) -> bool {
    lines.iter().all(|l| l.status != Status::Missing)
}

fn line(status: Status, check: &'static str, found: String, fix: Option<String>) -> Line {
    Line {
        status,
        check,
        found,
        fix,
    }
}

fn required<T>(check: &'static str, fact: &Fact<T>, found: impl Fn(&T) -> String) -> Line {
    match fact {
        Ok(v) => line(Status::Ok, check, found(v), None),
        Err(p) => line(Status::Missing, check, p.what.clone(), p.fix.clone()),
    }
}

fn engine(fact: &Fact<String>) -> Line {
    match fact {
        Ok(v) => line(Status::Ok, "docker", format!("engine {v} answers"), None),
        Err(p) => line(
            Status::Missing,
            "docker",
            p.what.clone(),
            Some(p.fix.clone().unwrap_or_else(|| {
                "start the engine (sudo systemctl start docker) and let this user use it (sudo usermod -aG docker $USER, then log in again)".into()
            })),
        ),
    }
}

fn base_image(fact: &Fact<bool>) -> Line {
    match fact {
        Ok(true) => line(
            Status::Ok,
            "base image",
            format!("{BASE_IMAGE} is in the engine"),
            None,
        ),
        Ok(false) => line(
            Status::Missing,
            "base image",
            format!("{BASE_IMAGE} is not in the engine"),
            ImageError::BaseMissing(BASE_IMAGE.into()).hint(),
        ),
        Err(p) => line(
            Status::Missing,
            "base image",
            format!("{BASE_IMAGE} not checked: {}", p.what),
            p.fix.clone(),
        ),
    }
}

fn runsc(path: Option<&PathBuf>, registered: &Fact<bool>) -> Line {
    let installed = match path {
        Some(p) => format!("{} is installed", p.display()),
        None => "not installed".into(),
    };
    let register = || EngineError::NoRunsc.hint();
    match (path, registered) {
        (_, Ok(true)) => line(
            Status::Ok,
            "runsc",
            format!("{installed}, registered with the engine: agents run under gVisor"),
            None,
        ),
        (Some(_), Ok(false)) => line(
            Status::Warn,
            "runsc",
            format!("{installed} but not registered with the engine: agents run under runc"),
            register(),
        ),
        (None, Ok(false)) => line(
            Status::Warn,
            "runsc",
            "not installed: agents run under runc, without gVisor".into(),
            register(),
        ),
        (_, Err(p)) => line(
            Status::Warn,
            "runsc",
            format!("{installed}; the engine was not asked: {}", p.what),
            p.fix.clone(),
        ),
    }
}

fn smolvm(fact: &Fact<PathBuf>) -> Line {
    match fact {
        Ok(p) => line(
            Status::Ok,
            "smolvm",
            format!("{}: the smolmachines backend is available", p.display()),
            None,
        ),
        Err(p) => line(Status::Warn, "smolvm", p.what.clone(), p.fix.clone()),
    }
}

fn pool(fact: &Fact<PoolUse>) -> Line {
    match fact {
        Ok(u) => {
            let found = format!(
                "{} of {} /{} networks free in {} (room for {} bottles)",
                u.free,
                u.total,
                subnets::PREFIX,
                u.pool,
                u.free / NETWORKS_PER_BOTTLE
            );
            if u.free >= NETWORKS_PER_BOTTLE {
                line(Status::Ok, "subnets", found, None)
            } else {
                let full = SubnetError::Exhausted {
                    pool: u.pool,
                    wanted: NETWORKS_PER_BOTTLE,
                };
                line(Status::Warn, "subnets", found, full.hint())
            }
        }
        Err(p) => line(Status::Warn, "subnets", p.what.clone(), p.fix.clone()),
    }
}

fn binary(fact: &Fact<PathBuf>) -> Line {
    match fact {
        Ok(p) => line(
            Status::Ok,
            "binary",
            format!(
                "{} is static: it can go into the sidecar image",
                p.display()
            ),
            None,
        ),
        Err(p) => line(Status::Warn, "binary", p.what.clone(), p.fix.clone()),
    }
}

/// The report: one line per check, `fix:` after what was found.
pub(crate) fn render(lines: &[Line], colours: bool) -> String {
    let width = lines.iter().map(|l| l.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        let word = format!("{:<7}", l.status.word());
        out.push_str(&colour::paint(&word, l.status.colour(), colours));
        out.push_str(&format!(" {:<width$}  {}", l.check, l.found));
        if let Some(fix) = &l.fix {
            out.push_str(&format!("; fix: {fix}"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
