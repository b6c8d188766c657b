//! Text helpers shared across the crate, pure: `inert` makes text an
//! agent wrote safe to show on a terminal (the dashboard, the CLI, desktop
//! notifications, error messages), and `shell_quote` / `shell_join` quote
//! words for a POSIX shell (`sh -c` lines, docker exec, tmux commands).

/// `text` with nothing a terminal would act on: control characters (C0,
/// DEL, C1), and the invisible ones that reorder or hide text (bidi
/// overrides, zero-width characters, variation selectors, tags) become
/// visible escapes such as `\u{1b}`; a tab becomes `\t`.
pub(crate) fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\t' {
            out.push_str("\\t");
        } else if c.is_control() || invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that draw nothing, or change how others are drawn.
fn invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F
            | 0x1160
            | 0x17B4
            | 0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF9..=0xFFFB
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// Quotes words for `sh -c`, so none is split or expanded.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes one word for a POSIX shell (shlex: bare when nothing in it is
/// special, else single- or double-quoted).
///
/// A NUL cannot be quoted, nor passed to any program: exec takes C
/// strings. Such a word is quoted with its NULs kept, so running the line
/// fails there ("nul byte found") instead of running a shortened word.
/// (Should shlex ever refuse something else, the word becomes a lone NUL,
/// which fails the same way.)
pub fn shell_quote(word: &str) -> String {
    shlex::try_quote(word)
        .or_else(|_| shlex::Quoter::new().allow_nul(true).quote(word))
        .map_or_else(|_| "\0".to_owned(), std::borrow::Cow::into_owned)
}

/// A duration in its largest whole unit: `12s`, `4m`, `3h`, `2d`.
pub fn age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_in_their_largest_unit() {
        for (secs, text) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (86400, "1d"),
        ] {
            assert_eq!(age(std::time::Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn inert_text() {
        let cases = [
            ("plain", "plain"),
            ("é ✓ 日本", "é ✓ 日本"),
            ("\x1b]52;c;aGk=\x07", "\\u{1b}]52;c;aGk=\\u{7}"),
            ("a\tb", "a\\tb"),
            ("line\nbreak\r", "line\\u{a}break\\u{d}"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("del\x7f", "del\\u{7f}"),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("\u{2066}isolate\u{2069}", "\\u{2066}isolate\\u{2069}"),
            ("\u{feff}bom", "\\u{feff}bom"),
            ("tag\u{e0041}", "tag\\u{e0041}"),
        ];
        for (input, want) in cases {
            let got = inert(input);
            assert_eq!(got, want, "{input:?}");
            assert!(!got.chars().any(|c| c.is_control()), "{input:?}");
        }
    }

    #[test]
    fn quoting_survives_the_shell() {
        for word in [
            "",
            "a b",
            "it's",
            "$HOME",
            "`x`",
            "a\nb",
            "plain-word",
            "a=b,c%",
            "\"q\" 'q' \\",
            "^x",
            "é ✓",
        ] {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("printf %s {}", shell_quote(word))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
    }

    #[test]
    fn a_nul_is_kept_so_running_the_line_fails() {
        assert_eq!(shell_quote("a\0b"), "'a\0b'");
        let spawned = std::process::Command::new("sh")
            .args(["-c", &format!("printf %s {}", shell_quote("a\0b"))])
            .output();
        assert!(spawned.is_err());
    }
}
