//! The parts of tests/docker_isolation.rs: the probe sets, the probes and
//! how their results are read, the host's side, and the report.

pub mod attacks;
pub mod host;
pub mod probes;
pub mod report;
