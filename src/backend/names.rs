//! The docker names of a bottle: its networks (compose names them
//! `<project>_<name>`), beside its compose project and the containers of
//! its services, which are the contract's (`contract::services`) and
//! re-exported here for the tests that name a bottle's containers.

pub use crate::contract::services::{container, project};

/// A network of a bottle's compose project: `bot-bottle-<slug>_<name>`.
pub fn network(slug: &str, name: &str) -> String {
    format!("{}_{name}", project(slug))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::network("a-1", "internal"), "bot-bottle-a-1_internal");
    }
}
