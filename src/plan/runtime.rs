//! What the plan needs to know of the engine that runs the agent: the
//! container runtime it offers (runc, or gVisor's runsc) and its CPUs.
//! The backend asks its engine (`backend::docker::engine::facts`); the
//! plan only reads the answer.

/// The container runtime of the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Runc,
    /// gVisor, when the engine has it registered.
    Runsc,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Runsc => "runsc",
        }
    }
}

/// Why the agent runs under the runtime it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeWhy {
    /// runsc is registered with the engine, so it is used.
    Registered,
    /// runsc is not registered, so runc is used.
    NotRegistered,
    /// `BOT_BOTTLE_RUNTIME` chose it.
    Env,
    /// The engine could not be asked (a dry run); runc is shown.
    Unknown,
}

/// What a launch plan needs to know of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineFacts {
    pub runtime: Runtime,
    pub why: RuntimeWhy,
    /// CPUs the engine has: no container may be given more.
    pub cpus: u32,
}

impl EngineFacts {
    /// What a dry run shows when the engine does not answer.
    pub fn unknown() -> EngineFacts {
        EngineFacts {
            runtime: Runtime::Runc,
            why: RuntimeWhy::Unknown,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        }
    }

    /// The preflight's runtime line.
    pub fn runtime_line(&self) -> String {
        let why = match (self.runtime, self.why) {
            (Runtime::Runsc, RuntimeWhy::Env) => "gVisor, chosen by BOT_BOTTLE_RUNTIME",
            (Runtime::Runsc, _) => "gVisor",
            (Runtime::Runc, RuntimeWhy::Env) => "chosen by BOT_BOTTLE_RUNTIME",
            (Runtime::Runc, RuntimeWhy::Unknown) => "the engine was not asked",
            (Runtime::Runc, _) => "gVisor's runsc is not registered with the engine",
        };
        format!("{} ({why})", self.runtime.name())
    }
}
