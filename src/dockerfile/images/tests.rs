use super::*;

fn allowed() -> Allowed {
    Allowed {
        own: vec![
            "bot-bottle-agent:0123456789ab".into(),
            "debian:bookworm-slim".into(),
        ],
        listed: vec![
            "node:20".into(),
            "ghcr.io/acme/tools:1.2".into(),
            "docker.io/library/python@sha256:".to_owned() + &"a".repeat(64),
        ],
    }
}

/// An image a Dockerfile reads: (reference, allowed entry, grant).
type Read = (String, String, Grant);

/// What `check` makes of a Dockerfile: each image it reads, or the error.
fn named(dockerfile: &str) -> Result<Vec<Read>, String> {
    check(dockerfile, &allowed()).map(|all| {
        all.into_iter()
            .map(|n| (n.reference, n.entry, n.grant))
            .collect()
    })
}

#[test]
fn the_bottles_own_images_the_listed_ones_and_its_stages_are_allowed() {
    use Grant::*;
    let own = |r: &str, e: &str| (r.to_owned(), e.to_owned(), Own);
    let listed = |r: &str, e: &str| (r.to_owned(), e.to_owned(), Listed);
    let digest = format!("sha256:{}", "a".repeat(64));
    let cases: Vec<(String, Vec<Read>)> = vec![
        (
            "FROM debian:bookworm-slim\nRUN true\n".into(),
            vec![own("debian:bookworm-slim", "debian:bookworm-slim")],
        ),
        // The image the bottle runs now.
        (
            "FROM bot-bottle-agent:0123456789ab\n".into(),
            vec![own(
                "bot-bottle-agent:0123456789ab",
                "bot-bottle-agent:0123456789ab",
            )],
        ),
        // Spelled in full, as docker names it.
        (
            "FROM docker.io/library/debian:bookworm-slim\n".into(),
            vec![own(
                "docker.io/library/debian:bookworm-slim",
                "debian:bookworm-slim",
            )],
        ),
        (
            "FROM index.docker.io/library/node:20\n".into(),
            vec![listed("index.docker.io/library/node:20", "node:20")],
        ),
        (
            "FROM ghcr.io/acme/tools:1.2\n".into(),
            vec![listed("ghcr.io/acme/tools:1.2", "ghcr.io/acme/tools:1.2")],
        ),
        // A digest is a name of its own: allowed as listed.
        (
            format!("FROM python@{digest}\n"),
            vec![listed(
                &format!("python@{digest}"),
                &format!("docker.io/library/python@{digest}"),
            )],
        ),
        // Stages: by name (any case) or number, defined before; scratch.
        (
            "FROM node:20 AS Tools\nFROM scratch AS empty\nFROM debian:bookworm-slim\nCOPY --from=tools /a /a\nCOPY --from=TOOLS /b /b\nCOPY --from=0 /c /c\nCOPY --link --chown=1000 --from=empty /d /d\n".into(),
            vec![
                listed("node:20", "node:20"),
                own("debian:bookworm-slim", "debian:bookworm-slim"),
            ],
        ),
        (
            "FROM debian:bookworm-slim AS base\nFROM base\nRUN true\n".into(),
            vec![own("debian:bookworm-slim", "debian:bookworm-slim")],
        ),
        // COPY --from an allowed image.
        (
            "FROM debian:bookworm-slim\nCOPY --from=node:20 /usr/local/bin/node /usr/local/bin/\n".into(),
            vec![
                own("debian:bookworm-slim", "debian:bookworm-slim"),
                listed("node:20", "node:20"),
            ],
        ),
        // Continuations joined as docker joins them.
        (
            "FROM \\\n  debian:bookworm-slim\n".into(),
            vec![own("debian:bookworm-slim", "debian:bookworm-slim")],
        ),
    ];
    for (dockerfile, want) in cases {
        assert_eq!(named(&dockerfile), Ok(want), "{dockerfile}");
    }
}

#[test]
fn anything_else_is_refused_with_a_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "FROM private/secrets:latest\n",
            "line 1: FROM private/secrets:latest: not an image this bottle may build from. It may use its own (bot-bottle-agent:0123456789ab, debian:bookworm-slim) and the ones the operator listed in capability.base_images (node:20, ghcr.io/acme/tools:1.2, docker.io/library/python@sha256:",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --from=private:1 /secret /secret\n",
            "line 2: COPY --from private:1: not an image this bottle may build from",
        ),
        // Another tag, or a digest not listed, is another image.
        ("FROM node:21\n", "line 1: FROM node:21: not an image"),
        ("FROM debian\n", "line 1: FROM debian: not an image"),
        (
            "FROM node@sha256:0000000000000000000000000000000000000000000000000000000000000000\n",
            "line 1: FROM node@sha256:0000",
        ),
        // Variables, quotes, escapes: not plain.
        (
            "ARG BASE=node:20\nFROM $BASE\n",
            "line 2: FROM '$BASE' is not a plain image reference",
        ),
        (
            "ARG B=private\nFROM debian:bookworm-slim\nCOPY --from=${B} /a /b\n",
            "line 3: COPY --from '${B}' is not a plain image reference",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --from=\"private\" /a /b\n",
            "line 2: COPY options take no quotes or escapes",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --chown=\"a b\" --from=private /a /b\n",
            "line 2: COPY options take no quotes or escapes",
        ),
        (
            "FROM \"private\"\n",
            "line 1: FROM '\"private\"' is not a plain image reference",
        ),
        // --platform would pull another variant.
        (
            "FROM --platform=linux/arm64 debian:bookworm-slim\n",
            "line 1: FROM FROM takes no options",
        ),
        // Case: a name is lower case.
        (
            "FROM Debian:bookworm-slim\n",
            "line 1: FROM 'Debian:bookworm-slim' is not a plain image reference",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --from=debian:bookworm-slim --FROM=private /a /b\n",
            "line 2: COPY --from write --from in lower case",
        ),
        // An image id, or a stage used before it is defined.
        (
            "FROM c3f35c0dcedcd9212206e42fd99e11a0994c4c352fb7750ee8ed414b4cb2e564\n",
            "line 1: FROM 'c3f35c0dcedcd9212206e42fd99e11a0994c4c352fb7750ee8ed414b4cb2e564' is not a plain image reference: an image id",
        ),
        (
            "FROM c3f35c0dcedc\n",
            "line 1: FROM c3f35c0dcedc: not an image",
        ),
        (
            "FROM tools\nFROM node:20 AS tools\n",
            "line 1: FROM tools: not an image",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --from=1 /a /b\n",
            "line 2: COPY --from COPY --from=1: no stage 1 before it",
        ),
        // Options written so that docker and a simple reader differ.
        (
            "FROM debian:bookworm-slim\nCOPY --from private /a /b\n",
            "line 2: COPY needs --from=IMAGE_OR_STAGE",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --from=debian:bookworm-slim --from private /a /b\n",
            "line 2: COPY --from COPY takes one --from=IMAGE_OR_STAGE",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --from=debian:bookworm-slim --from=private /a /b\n",
            "line 2: COPY --from COPY takes one --from=IMAGE_OR_STAGE",
        ),
        (
            "FROM debian:bookworm-slim\nCOPY --mount=x --from=private /a /b\n",
            "line 2: COPY --from COPY option --mount=x is not one of",
        ),
        // What docker's builders read differently is not read at all.
        (
            "FROM debian:bookworm-slim\nRUN echo \\\\\nCOPY --from=private /a /b\n",
            "line 2: it ends in",
        ),
        // A name cut by a continuation is read whole, and cannot be pinned.
        (
            "FROM debian:bookworm-slim\nCOPY --from=pri\\\nvate /a /b\n",
            "line 2: COPY --from private: not an image",
        ),
        (
            "FROM node\\\n:20\n",
            "line 1: FROM node:20: write the image name on one line",
        ),
        // Stage names.
        (
            "FROM node:20 AS a\nFROM node:20 AS a\n",
            "line 2: FROM 'a' is not a stage name",
        ),
        (
            "FROM node:20 AS 1x\n",
            "line 1: FROM '1x' is not a stage name",
        ),
        (
            "FROM node:20 AS\n",
            "line 1: FROM FROM takes an image, then optionally AS",
        ),
    ];
    for (dockerfile, want) in cases {
        let err = named(dockerfile).unwrap_err();
        assert!(
            err.starts_with(want),
            "{dockerfile:?}:\n{err}\nwanted: {want}"
        );
    }
}

#[test]
fn references_are_named_as_docker_names_them() {
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("debian", Ok("docker.io/library/debian:latest")),
        ("debian:12", Ok("docker.io/library/debian:12")),
        ("library/debian:12", Ok("docker.io/library/debian:12")),
        ("acme/app:V1.0_x", Ok("docker.io/acme/app:V1.0_x")),
        ("localhost/app", Ok("localhost/app:latest")),
        ("localhost:5000/a/b:1", Ok("localhost:5000/a/b:1")),
        (
            "registry.example.com/a",
            Ok("registry.example.com/a:latest"),
        ),
        (
            "a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            Ok(
                "docker.io/library/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
        ),
        ("a@sha256:0123", Err("a digest")),
        ("--help.x/a", Err("a registry")),
        ("a@md5:0123", Err("a digest")),
        ("Debian", Err("a name is lower-case")),
        (
            "Registry.example.com/a",
            Err("a registry is a lower-case host"),
        ),
        ("a:b/c", Err("a registry")),
        ("a:-x", Err("a tag")),
        ("a b", Err("' '")),
        ("$X", Err("'$'")),
        ("a\\b", Err("'\\\\'")),
        ("", Err("empty")),
    ];
    for (reference, want) in cases {
        match (normalize(reference), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, *want, "{reference}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{reference}: {got}"),
            (got, want) => panic!("{reference}: {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn pinning_rewrites_the_images_in_place_and_only_pins_pass_before_a_build() {
    let dockerfile = "# tools\nFROM node:20 AS tools\nFROM  debian:bookworm-slim\nCOPY --chown=1000 --from=node:20 /a /a\nCOPY --from=tools /b /b\nRUN echo node:20\n";
    let all = check(dockerfile, &allowed()).unwrap();
    let ids: Vec<String> = ["1", "2", "1"]
        .iter()
        .map(|c| format!("sha256:{}", c.repeat(64)))
        .collect();
    let pinned = pin(dockerfile, &all, &ids);
    let (one, two) = (
        format!("bot-bottle-base:{}", "1".repeat(64)),
        format!("bot-bottle-base:{}", "2".repeat(64)),
    );
    assert_eq!(
        pinned,
        format!(
            "# tools\nFROM {one} AS tools\nFROM  {two}\nCOPY --chown=1000 --from={one} /a /a\nCOPY --from=tools /b /b\nRUN echo node:20\n"
        )
    );
    assert_eq!(pinned_ids(&pinned), Ok(ids.clone()));
    assert_eq!(crate::dockerfile::check(&pinned), Ok(()));
    // What the bottle then reads again is the pins.
    assert_eq!(plain_images(&pinned), [one.clone(), two.clone()]);

    let unpinned = [
        (
            "FROM debian:bookworm-slim\n",
            "line 1: FROM debian:bookworm-slim is not pinned",
        ),
        (
            "FROM bot-bottle-base:1111\n",
            "line 1: FROM bot-bottle-base:1111 is not pinned",
        ),
        ("ARG X\nFROM $X\n", "line 2: FROM '$X' is not a plain"),
    ];
    for (dockerfile, want) in unpinned {
        let err = pinned_ids(dockerfile).unwrap_err();
        assert!(err.starts_with(want), "{dockerfile}: {err}");
    }
    assert_eq!(pinned_ids("FROM scratch\nRUN true\n"), Ok(vec![]));
}

#[test]
fn the_images_a_dockerfile_reads_leave_out_stages_and_what_is_not_plain() {
    let cases: &[(&str, &[&str])] = &[
        (
            "FROM debian:bookworm-slim\nRUN x",
            &["debian:bookworm-slim"],
        ),
        (
            "from node:20 AS build\nFROM build\nFROM scratch\nCOPY --from=build /a /a",
            &["node:20"],
        ),
        (
            "# FROM nope\nFROM a AS b\nFROM b AS c\nFROM c\nFROM d\nCOPY --from=e /x /x\nCOPY --from=d /y /y",
            &["a", "d", "e"],
        ),
        ("ARG B=x\nFROM $B\n", &[]),
    ];
    for (dockerfile, want) in cases {
        assert_eq!(plain_images(dockerfile), *want, "{dockerfile}");
    }
}
