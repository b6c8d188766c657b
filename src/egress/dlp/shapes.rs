//! Known token shapes: API keys of the big providers, private key blocks,
//! JWTs. A shape is a literal prefix followed by runs of key characters.
//! One automaton finds the prefixes anywhere (no word boundary: a letter
//! glued in front of a key must not hide it) and each hit is checked by
//! hand. Where a prefix also occurs inside ordinary words ("risk-",
//! "task-"), a hit right after a letter, digit or underscore counts only if
//! what follows looks like a random key rather than words.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

/// The characters a run may be made of.
#[derive(Clone, Copy)]
enum Class {
    /// `[A-Za-z0-9_-]`
    Key,
    /// `[A-Za-z0-9-]`
    Dash,
    /// `[A-Za-z0-9_]`
    Word,
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Z0-9]`
    UpperDigit,
    /// `[A-Za-z]`
    Letters,
}

impl Class {
    fn has(self, b: u8) -> bool {
        match self {
            Class::Key => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
            Class::Dash => b.is_ascii_alphanumeric() || b == b'-',
            Class::Word => b.is_ascii_alphanumeric() || b == b'_',
            Class::Alnum => b.is_ascii_alphanumeric(),
            Class::UpperDigit => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Class::Letters => b.is_ascii_alphabetic(),
        }
    }
}

#[derive(Clone, Copy)]
enum Part {
    /// At least this many characters of the class.
    Run(Class, usize),
    /// These bytes exactly.
    Lit(&'static [u8]),
    /// ` LABEL-----` where the label ends in PRIVATE KEY (space or `+`).
    PemPrivateLabel,
}

struct Shape {
    kind: &'static str,
    prefixes: &'static [&'static str],
    parts: &'static [Part],
    /// For prefixes found inside words: what the first run must satisfy
    /// when the prefix follows a letter, digit or underscore.
    after_word: Option<fn(&[u8]) -> bool>,
}

impl Shape {
    const fn new(
        kind: &'static str,
        prefixes: &'static [&'static str],
        parts: &'static [Part],
    ) -> Shape {
        Shape {
            kind,
            prefixes,
            parts,
            after_word: None,
        }
    }

    /// Found inside words only if the first run satisfies `judge`.
    const fn after_word(self, judge: fn(&[u8]) -> bool) -> Shape {
        Shape {
            after_word: Some(judge),
            ..self
        }
    }
}

use Class::*;
use Part::*;

/// Most specific first: at one position, the first shape that matches
/// names the finding.
const SHAPES: &[Shape] = &[
    Shape::new("anthropic-api-key", &["sk-ant-"], &[Run(Key, 32)]).after_word(anthropic_like),
    Shape::new("openai-api-key", &["sk-"], &[Run(Key, 32)]).after_word(looks_random),
    Shape::new(
        "github-token",
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        &[Run(Alnum, 36)],
    ),
    Shape::new("github-token", &["github_pat_"], &[Run(Word, 60)]),
    Shape::new("gitlab-token", &["glpat-"], &[Run(Key, 20)]),
    Shape::new(
        "slack-token",
        &[
            "xoxa-", "xoxb-", "xoxe-", "xoxo-", "xoxp-", "xoxr-", "xoxs-", "xapp-",
        ],
        &[Run(Dash, 10)],
    ),
    Shape::new(
        "aws-access-key-id",
        &["AKIA", "ASIA"],
        &[Run(UpperDigit, 16)],
    ),
    Shape::new("google-api-key", &["AIza"], &[Run(Key, 35)]),
    Shape::new(
        "stripe-key",
        &["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
        &[Run(Alnum, 24)],
    ),
    Shape::new("npm-token", &["npm_"], &[Run(Alnum, 36)]),
    Shape::new("huggingface-token", &["hf_"], &[Run(Letters, 34)]).after_word(looks_random),
    Shape::new("pypi-token", &["pypi-AgEIcHlwaS5vcmc"], &[Run(Key, 50)]),
    Shape::new(
        "age-secret-key",
        &["AGE-SECRET-KEY-1"],
        &[Run(UpperDigit, 58)],
    ),
    Shape::new(
        "sendgrid-key",
        &["SG."],
        &[Run(Key, 22), Lit(b"."), Run(Key, 43)],
    ),
    Shape::new("private-key", &["-----BEGIN"], &[PemPrivateLabel]),
    Shape::new(
        "jwt",
        &["eyJ"],
        &[
            Run(Key, 8),
            Lit(b".eyJ"),
            Run(Key, 8),
            Lit(b"."),
            Run(Key, 8),
        ],
    ),
];

/// What the prefix automaton looks for: each shape's prefixes start with
/// one of these (a test checks), and `at` tries the shapes where one is.
/// Fewer, shorter needles keep the automaton's SIMD prefilter fast.
const ANCHORS: &[&str] = &[
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "xapp-",
    "AKIA",
    "ASIA",
    "AIza",
    "sk_live_",
    "rk_live_",
    "sk_test_",
    "rk_test_",
    "npm_",
    "hf_",
    "pypi-",
    "AGE-SECRET-KEY-1",
    "SG.",
    "-----BEGIN",
    "eyJ",
];

/// How much of a run is read to judge whether it looks random.
const JUDGED: usize = 256;
/// The longest PEM label looked at.
const PEM_LABEL: usize = 64;

pub(super) struct Shapes {
    /// Every prefix; `None` only if the automaton could not be built, in
    /// which case every position is tried (slow, never blind).
    prefixes: Option<AhoCorasick>,
}

impl Shapes {
    pub(super) fn new() -> Shapes {
        Shapes {
            // Leftmost-first, for its fast prefilter; `find` restarts one
            // byte after each hit, so every position with a prefix is seen,
            // and `at` tries all the prefixes there.
            prefixes: AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .build(ANCHORS)
                .ok(),
        }
    }

    /// The kind of the first known shape in `hay`.
    pub(super) fn find(&self, hay: &[u8]) -> Option<&'static str> {
        // Per shape, hits before this offset were already judged (see `at`).
        let mut skip = [0usize; SHAPES.len()];
        let Some(ac) = &self.prefixes else {
            return (0..hay.len()).find_map(|start| at(hay, start, &mut skip));
        };
        let mut pos = 0;
        while let Some(m) = ac.find(Input::new(hay).range(pos..)) {
            if let Some(kind) = at(hay, m.start(), &mut skip) {
                return Some(kind);
            }
            pos = m.start() + 1;
        }
        None
    }

    #[cfg(test)]
    pub(super) fn built(&self) -> bool {
        self.prefixes.is_some()
    }
}

/// The first shape whose prefix starts at `start` and whose parts follow.
fn at(hay: &[u8], start: usize, skip: &mut [usize]) -> Option<&'static str> {
    let glued = start > 0 && is_word(hay[start - 1]);
    for (i, shape) in SHAPES.iter().enumerate() {
        if start < skip[i] {
            continue;
        }
        let Some(prefix) = shape
            .prefixes
            .iter()
            .find(|p| hay[start..].starts_with(p.as_bytes()))
        else {
            continue;
        };
        let guard = shape.after_word.filter(|_| glued);
        match follows(shape.parts, &hay[start + prefix.len()..], guard) {
            Ok(()) => return Some(shape.kind),
            // Unguarded, whether a shape follows depends only on the text
            // after the prefix, and a later hit inside the first run sees
            // a shorter copy of the same: it cannot match either. Skipping
            // those keeps a text like "eyJeyJeyJ…" linear.
            Err(first_run_end) if guard.is_none() => {
                skip[i] = start + prefix.len() + first_run_end;
            }
            Err(_) => {}
        }
    }
    None
}

/// Whether `parts` match at the start of `rest`; else where its first run
/// ended. The first run is judged by `guard` when there is one.
fn follows(parts: &[Part], rest: &[u8], guard: Option<fn(&[u8]) -> bool>) -> Result<(), usize> {
    let mut pos = 0;
    let mut first_run_end = None;
    for (n, part) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        match *part {
            Run(class, min) => {
                // A last run needs reading only as far as its judgement.
                let limit = match (last, guard.is_some() && first_run_end.is_none()) {
                    (true, false) => min,
                    (true, true) => min.max(JUDGED),
                    (false, _) => usize::MAX,
                };
                let len = rest[pos..]
                    .iter()
                    .take(limit)
                    .take_while(|&&b| class.has(b))
                    .count();
                let run = &rest[pos..pos + len];
                pos += len;
                let judged_ok = match guard {
                    Some(g) if first_run_end.is_none() => g(run),
                    _ => true,
                };
                first_run_end.get_or_insert(pos);
                if len < min || !judged_ok {
                    return Err(first_run_end.unwrap_or(pos));
                }
            }
            Lit(lit) => {
                if !rest[pos..].starts_with(lit) {
                    return Err(first_run_end.unwrap_or(pos));
                }
                pos += lit.len();
            }
            PemPrivateLabel => {
                if !pem_private_label(&rest[pos..]) {
                    return Err(first_run_end.unwrap_or(pos));
                }
            }
        }
    }
    Ok(())
}

/// ` RSA PRIVATE KEY-----`, `+OPENSSH+PRIVATE+KEY-----` (a form body),
/// ` PGP PRIVATE KEY BLOCK-----`; not CERTIFICATE or PUBLIC KEY.
fn pem_private_label(rest: &[u8]) -> bool {
    if !matches!(rest.first(), Some(b' ' | b'+')) {
        return false;
    }
    let window = &rest[..rest.len().min(PEM_LABEL)];
    let Some(end) = window.windows(5).position(|w| w == b"-----") else {
        return false;
    };
    let label = &window[..end];
    if !label
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'+')
    {
        return false;
    }
    let words: Vec<&[u8]> = label
        .split(|&b| b == b' ' || b == b'+')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .any(|w| w[0] == b"PRIVATE" && w[1] == b"KEY")
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// An Anthropic key glued to a word: its type marker ("api03-",
/// "admin01-", "oat01-") or a random body.
fn anthropic_like(run: &[u8]) -> bool {
    let letters = run.iter().take_while(|b| b.is_ascii_lowercase()).count();
    let marker = (2..=8).contains(&letters)
        && run.len() > letters + 2
        && run[letters..letters + 2].iter().all(u8::is_ascii_digit)
        && run[letters + 2] == b'-';
    marker || looks_random(run)
}

/// Whether a run of key characters looks like a generated key rather than
/// words ("management-and-task-tracking"), a hex digest, a UUID or a
/// CamelCase name. Judged on the characters alone, never on what precedes.
pub(super) fn looks_random(run: &[u8]) -> bool {
    let seps = run.iter().filter(|b| !b.is_ascii_alphanumeric()).count();
    // Words are joined by a separator every few letters; keys rarely
    // carry one.
    if seps * 8 > run.len() {
        return false;
    }
    run.split(|b| !b.is_ascii_alphanumeric())
        .any(random_segment)
}

/// A stretch of letters and digits long enough, and mixed enough, to be
/// generated.
fn random_segment(segment: &[u8]) -> bool {
    if segment.len() < 16 {
        return false;
    }
    let count = |f: fn(&u8) -> bool| segment.iter().filter(|b| f(b)).count();
    let (upper, lower, digit) = (
        count(u8::is_ascii_uppercase),
        count(u8::is_ascii_lowercase),
        count(u8::is_ascii_digit),
    );
    // Digests, UUIDs, CSS module hashes: hex in one case.
    if segment.iter().all(u8::is_ascii_hexdigit) && (upper == 0 || lower == 0) {
        return false;
    }
    let class = |b: u8| (b.is_ascii_uppercase(), b.is_ascii_lowercase());
    let switches = segment
        .windows(2)
        .filter(|w| class(w[0]) != class(w[1]))
        .count();
    match (upper > 0, lower > 0, digit > 0) {
        // Letters and digits mixed (and not hex).
        (_, _, true) if upper + lower >= 2 => true,
        // Mixed case without digits: random case, not CamelCase words.
        (true, true, false) => switches * 4 >= segment.len(),
        // One class: a long unbroken run ("AAAA…" placeholders, base32).
        _ => segment.len() >= 24 && digit < segment.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_automaton_builds() {
        assert!(Shapes::new().built());
    }

    #[test]
    fn every_prefix_has_an_anchor() {
        for prefix in SHAPES.iter().flat_map(|s| s.prefixes.iter()) {
            assert!(ANCHORS.iter().any(|a| prefix.starts_with(a)), "{prefix}");
        }
    }

    #[test]
    fn randomness_is_judged_on_the_run() {
        let random = [
            "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "IOSFODNN7EXAMPLE",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "qWeRtYuIoPaSdFgHjKlZxCvBnM",
            "proj-T3BlbkFJa8Zr2Qw9_XcVbNm1LkJhGfDsAq",
        ];
        for run in random {
            assert!(looks_random(run.as_bytes()), "{run}");
        }
        let words = [
            "management-and-task-tracking-framework-version-two",
            "550e8400-e29b-41d4-a716-446655440000",
            "3b15623a9f1c2e4d5b6a7c8d9e0f1a2b3c4d5e6f",
            "3B15623A9F1C2E4D5B6A7C8D9E0F1A2B3C4D5E6F",
            "ManagementFrameworkOverview",
            "item-2-details-panel-wrapper-v2",
            "list-item-checkbox-container-wrapper",
            "550e8400-e29b-41d4-a716-446655440000-attachment",
            "1234567890123456789012345678",
            "short1A",
        ];
        for run in words {
            assert!(!looks_random(run.as_bytes()), "{run}");
        }
    }

    #[test]
    fn pem_labels() {
        for (label, private) in [
            (" RSA PRIVATE KEY-----", true),
            ("+EC+PRIVATE+KEY-----", true),
            (" PGP PRIVATE KEY BLOCK-----", true),
            (" PRIVATE KEY-----", true),
            (" CERTIFICATE-----", false),
            (" PUBLIC KEY-----", false),
            ("PRIVATE KEY-----", false),
            (" PRIVATE KEY", false),
            (" private key-----", false),
        ] {
            assert_eq!(pem_private_label(label.as_bytes()), private, "{label}");
        }
    }

    #[test]
    fn long_runs_of_prefixes_are_judged() {
        // Every position is a prefix hit; each is judged on a bounded
        // stretch or skipped, so these finish quickly.
        let shapes = Shapes::new();
        for (unit, want) in [
            ("eyJ", None),
            ("Xsk-", None),
            ("SG.", None),
            ("-----BEGIN ", None),
            ("AKIA", Some("aws-access-key-id")),
            ("sk-", Some("openai-api-key")),
        ] {
            let hay = unit.repeat(200_000 / unit.len());
            assert_eq!(shapes.find(hay.as_bytes()), want, "{unit}");
        }
    }
}
