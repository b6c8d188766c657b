//! A Dockerfile split into instructions exactly as docker's parser splits
//! it (BuildKit's `frontend/dockerfile/parser`, which the legacy builder
//! uses too), so a check sees every instruction the builder will run and
//! no other: lines end at `\n` (trailing `\r`s dropped); a line ending in
//! one `\` (spaces or tabs after it allowed, but not `\\`) continues on the
//! next, the two joined with nothing between them; comment lines and blank
//! lines inside a continuation are skipped; a comment or blank line
//! elsewhere is no instruction. Each byte of an instruction keeps where it
//! came from, so a word of it can be rewritten in place.

/// One instruction: its text (continuations joined, leading whitespace
/// dropped) and where each byte of it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// The line it starts on, from 1.
    pub(crate) line: usize,
    pub(crate) text: String,
    /// For each byte of `text`: where it is in the file.
    origin: Vec<usize>,
}

impl Instruction {
    /// The keyword, upper-cased: the text up to the first blank, as
    /// docker cuts it (only ASCII blanks cut it).
    pub(crate) fn keyword(&self) -> String {
        self.text
            .split(is_blank)
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    }

    /// What follows the keyword, and where it starts in `text`.
    pub(crate) fn args(&self) -> (usize, &str) {
        match self.text.find(is_blank) {
            None => (self.text.len(), ""),
            Some(end) => {
                let rest = &self.text[end..];
                let trimmed = rest.trim_start_matches(is_blank);
                (self.text.len() - trimmed.len(), trimmed)
            }
        }
    }

    /// Where `text[start..end]` is in the file, as a byte range, if it is
    /// there as it is (not cut by a continuation).
    pub(crate) fn span(&self, start: usize, end: usize) -> Option<std::ops::Range<usize>> {
        let first = *self.origin.get(start)?;
        let last = *self.origin.get(end.checked_sub(1)?)?;
        (last + 1 == first + (end - start)).then_some(first..last + 1)
    }
}

/// The blanks docker cuts an instruction's words at.
pub(crate) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// The lines of `text` as docker reads them: cut at `\n`, trailing `\r`s
/// dropped, a byte-order mark before the first dropped.
pub(crate) fn lines(text: &str) -> Vec<&str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') || text.is_empty() {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.trim_end_matches(['\r', '\n']))
        .collect()
}

/// Whether docker reads `line` as a comment.
pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Whether `line` ends in an escaped backslash (`\\`, then only spaces
/// or tabs): today's parser ends the instruction there, older ones (the
/// legacy builder of Docker 20.10) continue it on the next line.
pub(crate) fn ends_ambiguously(line: &str) -> bool {
    !is_comment(line) && line.trim_end_matches([' ', '\t']).ends_with("\\\\")
}

/// `line` without its continuation mark, and whether it had one: one `\`
/// at the end (then only spaces or tabs), not itself escaped by a `\`.
fn continued(line: &str) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix('\\') {
        Some(before) if !before.ends_with('\\') => (before, true),
        _ => (line, false),
    }
}

/// The instructions of a Dockerfile.
pub(crate) fn instructions(dockerfile: &str) -> Vec<Instruction> {
    // Each line is a slice of `dockerfile`: where it starts in it.
    let at = |line: &str| line.as_ptr() as usize - dockerfile.as_ptr() as usize;
    let lines = lines(dockerfile);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let number = i;
        let raw = lines[i];
        i += 1;
        if is_comment(raw) {
            continue;
        }
        let trimmed = raw.trim_start();
        let (body, mut more) = continued(trimmed);
        if !more && body.is_empty() {
            continue;
        }
        let mut instruction = Instruction {
            line: number + 1,
            text: String::new(),
            origin: Vec::new(),
        };
        push(&mut instruction, body, at(body));
        while more && i < lines.len() {
            let raw = lines[i];
            i += 1;
            if is_comment(raw) || raw.trim_start().is_empty() {
                continue;
            }
            let (body, again) = continued(raw);
            push(&mut instruction, body, at(body));
            more = again;
        }
        out.push(instruction);
    }
    out
}

fn push(instruction: &mut Instruction, body: &str, offset: usize) {
    instruction.text.push_str(body);
    instruction.origin.extend(offset..offset + body.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(dockerfile: &str) -> Vec<(usize, String)> {
        instructions(dockerfile)
            .into_iter()
            .map(|i| (i.line, i.text))
            .collect()
    }

    #[test]
    fn instructions_are_cut_where_docker_cuts_them() {
        let cases: &[(&str, &[(usize, &str)])] = &[
            ("FROM a\nRUN b\n", &[(1, "FROM a"), (2, "RUN b")]),
            // Joined with nothing between: a word can be split.
            ("FROM deb\\\nian\n", &[(1, "FROM debian")]),
            ("RUN a \\\n  b\n", &[(1, "RUN a   b")]),
            // Blanks after the mark still continue.
            ("RUN a \\ \t\nb\n", &[(1, "RUN a b")]),
            // An escaped backslash is no continuation: the next line is
            // an instruction of its own.
            (
                "RUN echo \\\\\nCOPY --from=x /a /b\n",
                &[(1, "RUN echo \\\\"), (2, "COPY --from=x /a /b")],
            ),
            // Comments and blank lines inside a continuation are skipped.
            (
                "RUN a \\\n# note\n\n   \n  b\nRUN c\n",
                &[(1, "RUN a   b"), (6, "RUN c")],
            ),
            // ... elsewhere they are no instruction.
            ("\n# c\n  \nFROM a\n", &[(4, "FROM a")]),
            // A mark on a line of its own continues too.
            ("RUN a\\\n\\\nb\n", &[(1, "RUN ab")]),
            // A continuation at the end of the file ends the instruction.
            ("FROM a\nRUN b \\", &[(1, "FROM a"), (2, "RUN b ")]),
            // CRLF line ends; a byte-order mark.
            (
                "\u{feff}FROM a\r\nRUN b\r\r\n",
                &[(1, "FROM a"), (2, "RUN b")],
            ),
            // Only a newline ends a line.
            ("FROM a\rRUN b\n", &[(1, "FROM a\rRUN b")]),
        ];
        for (dockerfile, want) in cases {
            let want: Vec<(usize, String)> =
                want.iter().map(|(n, t)| (*n, t.to_string())).collect();
            assert_eq!(texts(dockerfile), want, "{dockerfile:?}");
        }
    }

    #[test]
    fn a_word_on_one_line_has_a_span_and_a_split_one_has_none() {
        let file = "\u{feff}  FROM  node:20 AS b\nCOPY --from=pri\\\nvate /a /b\n";
        let all = instructions(file);
        let from = &all[0];
        assert_eq!(from.keyword(), "FROM");
        let (at, args) = from.args();
        assert_eq!(args, "node:20 AS b");
        let span = from.span(at, at + "node:20".len()).unwrap();
        assert_eq!(&file[span], "node:20");
        let copy = &all[1];
        let start = copy.text.find("private").unwrap();
        assert_eq!(copy.span(start, start + "private".len()), None);
        let start = copy.text.find("/a").unwrap();
        assert_eq!(&file[copy.span(start, start + 2).unwrap()], "/a");
    }
}
