//! What a battery run found: probes that got through, probes without teeth
//! (what should answer did not), and broken probes.

use crate::Runtime;

#[derive(Default)]
pub struct Report {
    /// The credential whose every trace the agent must not get.
    pub token: String,
    /// A value the agent sends itself, which must come back: proof that
    /// the search for the token in what the agent got finds things.
    pub canary: String,
    breaches: Vec<String>,
    toothless: Vec<String>,
    broken: Vec<String>,
}

impl Report {
    pub fn new(token: &str, canary: &str) -> Report {
        Report {
            token: token.to_owned(),
            canary: canary.to_owned(),
            ..Report::default()
        }
    }

    pub fn breach(&mut self, line: String) {
        self.breaches.push(line);
    }
    pub fn toothless(&mut self, line: String) {
        self.toothless.push(line);
    }
    pub fn broken(&mut self, line: String) {
        self.broken.push(line);
    }

    pub fn finish(self, runtime: Runtime, probes: usize) {
        let mut text = String::new();
        let mut section = |title: &str, lines: &[String]| {
            if !lines.is_empty() {
                text.push_str(&format!("\n{title} ({}):\n", lines.len()));
                for l in lines {
                    text.push_str(&format!("  {l}\n"));
                }
            }
        };
        section("got through", &self.breaches);
        section(
            "probes without teeth (what should answer did not)",
            &self.toothless,
        );
        section("broken", &self.broken);
        eprintln!("isolation under {}: {probes} probes", runtime.name());
        assert!(text.is_empty(), "isolation under {}:{text}", runtime.name());
    }
}
