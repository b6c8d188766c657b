//! The other bottles' sidecars on the engine, with their addresses: what
//! the seal's probes (`verify`) must not reach from a bottle's agent.

use std::net::IpAddr;

use super::enumerate;
use crate::contract::services::Sidecar;
use crate::exec::{DOCKER, ExecError};
use crate::verify::Neighbour;

/// Up to `most` running sidecars of bottles other than `slug` (whichever
/// home made them): one `docker ps`, one `docker inspect`.
pub fn neighbours(slug: &str, most: usize) -> Result<Vec<Neighbour>, ExecError> {
    let others: Vec<(String, String, Sidecar)> = enumerate::containers()?
        .into_iter()
        .filter(|c| c.running && c.slug != slug)
        .filter_map(|c| {
            let sidecar = Sidecar::ALL.into_iter().find(|s| s.name() == c.role)?;
            Some((c.name, c.slug, sidecar))
        })
        .take(most)
        .collect();
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = others.iter().map(|(name, ..)| name.as_str()).collect();
    let text = match addresses(&names) {
        Ok(text) => text,
        // One went away since the listing (another bottle stopping): each
        // alone, the gone ones skipped.
        Err(ExecError::Failed { .. }) => names
            .iter()
            .filter_map(|name| addresses(&[name]).ok())
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => return Err(e),
    };
    Ok(parse(&text, &others))
}

/// `docker inspect` of `names`: a line each, `/NAME ADDR…`.
fn addresses(names: &[&str]) -> Result<String, ExecError> {
    let mut cmd = DOCKER.command([
        "inspect",
        "--format",
        "{{.Name}}{{range .NetworkSettings.Networks}} {{.IPAddress}}{{end}}",
    ]);
    cmd.args(names);
    let out = DOCKER.output(&mut cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `docker inspect`'s lines (`/NAME ADDR…`) for the containers asked of.
fn parse(text: &str, asked: &[(String, String, Sidecar)]) -> Vec<Neighbour> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(name) = words.next().map(|n| n.trim_start_matches('/')) else {
            continue;
        };
        let Some((_, slug, sidecar)) = asked.iter().find(|(n, ..)| n == name) else {
            continue;
        };
        for addr in words.filter_map(|w| w.parse::<IpAddr>().ok()) {
            out.push(Neighbour {
                slug: slug.clone(),
                service: sidecar.name().to_owned(),
                addr,
                port: sidecar.port(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_of_each_sidecar_asked_of() {
        let asked = vec![
            (
                "bot-bottle-b-egress".to_owned(),
                "b".to_owned(),
                Sidecar::Egress,
            ),
            (
                "bot-bottle-b-git-gate".to_owned(),
                "b".to_owned(),
                Sidecar::GitGate,
            ),
        ];
        let text = "/bot-bottle-b-egress 10.1.0.2 10.2.0.3\n/bot-bottle-b-git-gate 10.1.0.4 \n/other 10.9.0.1\n/bot-bottle-b-egress not-an-address\n";
        let got: Vec<(String, String, u16)> = parse(text, &asked)
            .into_iter()
            .map(|n| (n.service, n.addr.to_string(), n.port))
            .collect();
        assert_eq!(
            got,
            [
                ("egress".to_owned(), "10.1.0.2".to_owned(), 3128),
                ("egress".to_owned(), "10.2.0.3".to_owned(), 3128),
                ("git-gate".to_owned(), "10.1.0.4".to_owned(), 8418),
            ]
        );
    }
}
