//! The docker networks of a bottle (compose names them `<project>_<name>`;
//! the project and container names are `contract::services`).

use crate::contract::services::project;

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
