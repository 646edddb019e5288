//! Line breaking by measured glyph widths: greedy, at whitespace, with no
//! hyphenation. A word wider than the column is split between characters.

use super::font::Font;

/// `text` as lines no wider than `width` points; `\n` forces a break and an
/// empty line stays an empty line.
pub(super) fn wrap(font: &Font, size: f32, text: &str, width: f32) -> Vec<String> {
    let space = font.width(" ", size);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0.0;
        let words = paragraph.split_whitespace();
        for piece in words.flat_map(|word| split(font, size, word, width)) {
            let piece_width = font.width(&piece, size);
            if !line.is_empty() && used + space + piece_width > width {
                lines.push(std::mem::take(&mut line));
            }
            if line.is_empty() {
                used = piece_width;
            } else {
                line.push(' ');
                used += space + piece_width;
            }
            line.push_str(&piece);
        }
        lines.push(line);
    }
    lines
}

/// A word in pieces no wider than `width`, each at least one character.
fn split(font: &Font, size: f32, word: &str, width: f32) -> Vec<String> {
    let mut pieces = vec![String::new()];
    for ch in word.chars() {
        let mut longer = pieces.last().cloned().unwrap_or_default();
        longer.push(ch);
        match pieces.last_mut() {
            Some(last) if last.is_empty() || font.width(&longer, size) <= width => *last = longer,
            _ => pieces.push(ch.to_string()),
        }
    }
    pieces
}

/// `text` on one line, ending in "…" where it had to be cut to fit.
pub(super) fn cut(font: &Font, size: f32, text: &str, width: f32) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if font.width(&line, size) <= width {
        return line;
    }
    while !line.is_empty() && font.width(&format!("{line}…"), size) > width {
        line.pop();
    }
    format!("{}…", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::font::{Fonts, Weight};

    const SIZE: f32 = 10.0;

    fn with_font(check: impl FnOnce(&Font)) {
        check(Fonts::load().unwrap().get(Weight::Regular));
    }

    #[test]
    fn wrapped_lines_fit_and_keep_every_word_in_order() {
        with_font(|font| {
            let text =
                "Siân Ó Dónaill agreed — “in full” — to take part, and Zoë signed. ".repeat(6);
            let lines = wrap(font, SIZE, &text, 180.0);
            assert!(lines.len() > 5);
            assert!(lines.iter().all(|line| font.width(line, SIZE) <= 180.0));
            assert_eq!(
                lines.join(" ").split_whitespace().collect::<Vec<_>>(),
                text.split_whitespace().collect::<Vec<_>>()
            );
        });
    }

    #[test]
    fn line_breaks_are_kept_and_overlong_words_split() {
        with_font(|font| {
            assert_eq!(wrap(font, SIZE, "one\n\ntwo", 100.0), ["one", "", "two"]);
            let long = "x".repeat(400);
            let lines = wrap(font, SIZE, &long, 100.0);
            assert!(lines.len() > 1 && lines.iter().all(|line| font.width(line, SIZE) <= 100.0));
            assert_eq!(lines.concat(), long);
        });
    }

    #[test]
    fn cut_text_fits_and_ends_in_an_ellipsis() {
        with_font(|font| {
            assert_eq!(cut(font, SIZE, "short  text", 200.0), "short text");
            let cut = cut(font, SIZE, &"word ".repeat(100), 200.0);
            assert!(cut.starts_with("word word ") && cut.ends_with('…'), "{cut}");
            assert!(font.width(&cut, SIZE) <= 200.0);
        });
    }
}
