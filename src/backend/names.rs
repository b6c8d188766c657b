//! The docker names of a bottle, spelled once: its compose project and the
//! containers of its services, and its networks (compose names them
//! `<project>_<name>`).

/// The compose project of bottle `slug`: `bot-bottle-<slug>`.
pub fn project(slug: &str) -> String {
    format!("bot-bottle-{slug}")
}

/// The container of a bottle's service: `bot-bottle-<slug>-<service>`.
pub fn container(slug: &str, service: &str) -> String {
    format!("{}-{service}", project(slug))
}

/// A network of a bottle's compose project: `bot-bottle-<slug>_<name>`.
pub fn network(slug: &str, name: &str) -> String {
    format!("{}_{name}", project(slug))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::project("a-1"), "bot-bottle-a-1");
        assert_eq!(super::container("a-1", "agent"), "bot-bottle-a-1-agent");
        assert_eq!(super::network("a-1", "internal"), "bot-bottle-a-1_internal");
    }
}
