//! What each container of a bottle may use: memory, processes, CPUs.
//! Pure.

use super::{EngineFacts, PlanError, PlanInput, Runtime};
use crate::manifest::Limits;

/// What a container may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    /// Bytes; also the limit of memory plus swap, so no swap on top.
    pub memory: u64,
    pub pids: u32,
    pub cpus: f64,
}

/// The agent's, unless its bottles' `limits` say otherwise (CPUs are also
/// capped at the engine's).
pub const AGENT_RESOURCES: Resources = Resources::new(4 << 30, 1024, 2.0);
/// The sidecars' are fixed: they hold no agent work.
pub const EGRESS_RESOURCES: Resources = Resources::new(256 << 20, 256, 1.0);
/// git (pack, index, diff of a push) needs more than the proxy.
pub const GATE_RESOURCES: Resources = Resources::new(256 << 20, 256, 1.0);
pub const SUPERVISE_RESOURCES: Resources = Resources::new(128 << 20, 128, 0.5);

/// Under gVisor one process of the agent's is several tasks of the host
/// (the sandbox's threads), which the engine's pid limit counts: reaching
/// it kills the whole sandbox rather than failing a fork. So the agent's
/// limit, in processes, is given to the engine in host tasks.
pub const GVISOR_TASKS_PER_PROCESS: u32 = 8;

/// The agent's resources: the bottle's limits over the defaults.
pub(super) fn agent_limits(input: &PlanInput) -> Result<Resources, PlanError> {
    let Limits {
        memory, pids, cpus, ..
    } = &input.bottle.limits;
    let engine = f64::from(input.engine.cpus);
    if let Some(cpus) = *cpus
        && cpus > engine
    {
        return Err(PlanError::TooManyCpus {
            bottles: input.bottle_names.join(" + "),
            cpus,
            engine: input.engine.cpus,
        });
    }
    Ok(Resources {
        memory: memory.unwrap_or(AGENT_RESOURCES.memory),
        pids: pids.unwrap_or(AGENT_RESOURCES.pids),
        cpus: cpus.unwrap_or(AGENT_RESOURCES.cpus.min(engine)),
    })
}

impl Resources {
    /// Memory in bytes, processes, CPUs.
    const fn new(memory: u64, pids: u32, cpus: f64) -> Resources {
        Resources { memory, pids, cpus }
    }

    /// The same, with no more CPUs than the engine has.
    pub(super) fn within(self, engine: &EngineFacts) -> Resources {
        Resources {
            cpus: self.cpus.min(f64::from(engine.cpus)),
            ..self
        }
    }

    /// The agent's line of the preflight.
    pub(super) fn describe_agent(&self, runtime: Runtime) -> String {
        match runtime {
            Runtime::Runsc => format!(
                "{} (the engine counts {} host tasks under gVisor)",
                self.describe(),
                self.pids.saturating_mul(GVISOR_TASKS_PER_PROCESS)
            ),
            Runtime::Runc => self.describe(),
        }
    }

    pub(super) fn describe(&self) -> String {
        let plural = if self.cpus == 1.0 { "" } else { "s" };
        format!(
            "{} memory, {} processes, {} CPU{plural}",
            format_bytes(self.memory),
            self.pids,
            self.cpus
        )
    }
}

/// Bytes in docker's units: the largest of g, m, k that divides them.
pub fn format_bytes(bytes: u64) -> String {
    for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}b")
}
