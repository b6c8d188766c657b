//! Text the dashboard shows, measured and wrapped, pure. Everything it
//! shows from a proposal goes through `crate::text::inert` first; the
//! detail view wraps with `wrap`, and the same function decides which
//! parts of it have been on screen, so "seen" means what the renderer drew.

use std::ops::Range;

use ratatui::text::Span;

/// Columns a character takes, as the renderer counts them.
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Columns a string takes, as the renderer counts them.
#[cfg(test)]
pub(crate) fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// Splits `text` (already inert) into rows of at most `width` columns, as
/// ranges of char indices; breaks after a space when one is in the second
/// half of the row, else anywhere. An empty text is one empty row. Every
/// char is in exactly one row, in order.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<Range<usize>> {
    let width = width.max(2);
    let mut rows = Vec::new();
    let (mut start, mut used) = (0usize, 0usize);
    // The char index just after the last space in the current row.
    let mut after_space: Option<usize> = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let w = char_width(chars[i]);
        if used + w > width && i > start {
            let end = match after_space {
                Some(end) if end > start && (end - start) * 2 > width => end,
                _ => i,
            };
            rows.push(start..end);
            start = end;
            used = chars[start..i].iter().map(|c| char_width(*c)).sum();
            after_space = None;
            continue;
        }
        used += w;
        if chars[i] == ' ' {
            after_space = Some(i + 1);
        }
        i += 1;
    }
    rows.push(start..chars.len());
    rows
}

/// The chars of `text` in `range`.
pub(crate) fn slice(text: &str, range: &Range<usize>) -> String {
    text.chars()
        .skip(range.start)
        .take(range.end - range.start)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping() {
        let rows = |text: &str, w: usize| -> Vec<String> {
            wrap(text, w).iter().map(|r| slice(text, r)).collect()
        };
        assert_eq!(rows("", 10), [""]);
        assert_eq!(rows("short", 10), ["short"]);
        assert_eq!(rows("exactly10!", 10), ["exactly10!"]);
        assert_eq!(rows("abcdefghijk", 5), ["abcde", "fghij", "k"]);
        assert_eq!(
            rows("the quick brown fox", 10),
            ["the quick ", "brown fox"],
            "breaks after a space"
        );
        assert_eq!(
            rows("a bcdefghijklm", 6),
            ["a bcde", "fghijk", "lm"],
            "a space early in the row is not worth it"
        );
        assert_eq!(rows("日本語です", 5), ["日本", "語で", "す"], "wide chars");
        assert_eq!(rows("x", 0), ["x"], "a width below 2 counts as 2");
        for (text, w) in [("the quick brown fox jumps", 7), ("日本語 abc 日本語", 3)] {
            let ranges = wrap(text, w);
            let joined: String = ranges.iter().map(|r| slice(text, r)).collect();
            assert_eq!(joined, text, "every char once, in order");
            assert!(ranges.iter().all(|r| width(&slice(text, r)) <= w));
        }
    }
}
