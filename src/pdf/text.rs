//! Text as it is measured and drawn: pieces in a look, shaped per script
//! run with rustybuzz, broken into lines greedily at whitespace (no
//! hyphenation) in logical order, and each line reordered for display with
//! the Unicode bidirectional algorithm.

use krilla::text::{GlyphId, KrillaGlyph};
use rustybuzz::{Direction, UnicodeBuffer};
use unicode_bidi::{BidiInfo, Level};

use super::fonts::{Face, Family, Fonts, Look};

/// Text in one look.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Piece {
    pub(super) text: String,
    pub(super) look: Look,
}

/// One line, its pieces in logical (reading) order.
pub(super) type Line = Vec<Piece>;

/// Glyphs of one face in one direction, left to right as drawn.
pub(super) struct Run<'f> {
    pub(super) face: &'f Face,
    pub(super) text: String,
    pub(super) glyphs: Vec<KrillaGlyph>,
    /// In em.
    pub(super) advance: f32,
}

impl Piece {
    pub(super) fn new(text: impl Into<String>, look: Look) -> Piece {
        Piece {
            text: text.into(),
            look,
        }
    }
}

/// The plain text of a line.
pub(super) fn plain(line: &[Piece]) -> String {
    line.iter().map(|piece| piece.text.as_str()).collect()
}

/// Width in points of `line` set at `size`.
pub(super) fn width(fonts: &Fonts, line: &[Piece], size: f32) -> f32 {
    let em: f32 = line
        .iter()
        .flat_map(|piece| script_runs(fonts, &piece.text, piece.look, None))
        .map(|run| run.advance)
        .sum();
    em * size
}

/// Each stretch of `text` set in one family, shaped in its script's own
/// direction unless `rtl` says otherwise; in logical order.
fn script_runs<'f>(fonts: &'f Fonts, text: &str, look: Look, rtl: Option<bool>) -> Vec<Run<'f>> {
    let families = fonts.families(text);
    let mut runs = Vec::new();
    let mut start = 0;
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    for n in 0..bounds.len() {
        let last = n + 1 == bounds.len();
        if last || families[n + 1] != families[n] {
            let end = if last { text.len() } else { bounds[n + 1] };
            let family = families[n];
            let rtl = rtl.unwrap_or(family == Family::Naskh);
            runs.push(shape(fonts.face(family, look), &text[start..end], rtl));
            start = end;
        }
    }
    runs
}

fn shape<'f>(face: &'f Face, text: &str, rtl: bool) -> Run<'f> {
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    buffer.set_direction(if rtl {
        Direction::RightToLeft
    } else {
        Direction::LeftToRight
    });
    let shaped = rustybuzz::shape(&face.shaper, &[], buffer);
    let per_em = face.shaper.units_per_em() as f32;
    let clusters: Vec<usize> = shaped
        .glyph_infos()
        .iter()
        .map(|info| info.cluster as usize)
        .collect();
    let cluster_end = |start: usize| {
        let after = clusters.iter().copied().filter(|&c| c > start).min();
        after.unwrap_or(text.len())
    };
    let glyphs: Vec<KrillaGlyph> = shaped
        .glyph_infos()
        .iter()
        .zip(shaped.glyph_positions())
        .map(|(info, position)| {
            let start = info.cluster as usize;
            KrillaGlyph::new(
                GlyphId::new(info.glyph_id),
                position.x_advance as f32 / per_em,
                position.x_offset as f32 / per_em,
                position.y_offset as f32 / per_em,
                position.y_advance as f32 / per_em,
                start..cluster_end(start),
                None,
            )
        })
        .collect();
    let advance = glyphs.iter().map(|glyph| glyph.x_advance).sum();
    Run {
        face,
        text: text.to_owned(),
        glyphs,
        advance,
    }
}

/// The runs of `line` in the order they are drawn, left to right, for a
/// paragraph whose base direction is right to left if `rtl`.
pub(super) fn visual_runs<'f>(fonts: &'f Fonts, line: &[Piece], rtl: bool) -> Vec<Run<'f>> {
    let isolated;
    let line = if rtl {
        isolated = isolate_left_to_right(line);
        &isolated
    } else {
        line
    };
    let text = plain(line);
    let base = if rtl { Level::rtl() } else { Level::ltr() };
    let info = BidiInfo::new(&text, Some(base));
    let Some(paragraph) = info.paragraphs.first() else {
        return Vec::new();
    };
    let (levels, ranges) = info.visual_runs(paragraph, paragraph.range.clone());
    let looks = piece_ranges(line);
    let mut runs = Vec::new();
    for range in ranges {
        let rtl = levels[range.start].is_rtl();
        let mut level_runs: Vec<Run> = looks
            .iter()
            .filter_map(|(piece, look)| {
                let start = piece.start.max(range.start);
                let end = piece.end.min(range.end);
                let shown: String = text[start..end]
                    .chars()
                    .filter(|c| !is_isolate(*c))
                    .collect();
                (!shown.is_empty()).then(|| script_runs(fonts, &shown, *look, Some(rtl)))
            })
            .flatten()
            .collect();
        if rtl {
            level_runs.reverse();
        }
        runs.extend(level_runs);
    }
    runs
}

const LEFT_TO_RIGHT_ISOLATE: char = '\u{2066}';
const POP_DIRECTIONAL_ISOLATE: char = '\u{2069}';

fn is_isolate(ch: char) -> bool {
    ch == LEFT_TO_RIGHT_ISOLATE || ch == POP_DIRECTIONAL_ISOLATE
}

/// Each stretch of left-to-right words inside right-to-left text isolated,
/// as HTML's `<bdi>` would: by the bidi algorithm alone, "24/NW/0123" after
/// Urdu shows as "NW/0123/24" (digits after Arabic letters count as Arabic
/// numbers, and the "/" between them and the Latin takes the paragraph's
/// direction). Isolated, a reference reads as written.
fn isolate_left_to_right(line: &[Piece]) -> Vec<Piece> {
    use unicode_bidi::{bidi_class, BidiClass};
    let chars: Vec<(char, Look)> = line
        .iter()
        .flat_map(|piece| piece.text.chars().map(move |ch| (ch, piece.look)))
        .collect();
    let mut words: Vec<(usize, usize, bool)> = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let end = (at..chars.len())
            .find(|&i| chars[i].0.is_whitespace() != chars[at].0.is_whitespace())
            .unwrap_or(chars.len());
        if !chars[at].0.is_whitespace() {
            let classes: Vec<BidiClass> =
                chars[at..end].iter().map(|(c, _)| bidi_class(*c)).collect();
            let strong_ltr = classes
                .iter()
                .any(|c| matches!(c, BidiClass::L | BidiClass::EN));
            let any_rtl = classes
                .iter()
                .any(|c| matches!(c, BidiClass::R | BidiClass::AL | BidiClass::AN));
            words.push((at, end, strong_ltr && !any_rtl));
        }
        at = end;
    }
    let mut opens = Vec::new();
    let mut closes = Vec::new();
    for (n, &(start, end, ltr)) in words.iter().enumerate() {
        let previous_ltr = n > 0 && words[n - 1].2;
        let next_ltr = words.get(n + 1).is_some_and(|w| w.2);
        if ltr && !previous_ltr {
            opens.push(start);
        }
        if ltr && !next_ltr {
            closes.push(end - 1);
        }
    }
    let mut pieces = Vec::new();
    for (i, (ch, look)) in chars.into_iter().enumerate() {
        if opens.contains(&i) {
            pieces.push(Piece::new(LEFT_TO_RIGHT_ISOLATE, look));
        }
        pieces.push(Piece::new(ch, look));
        if closes.contains(&i) {
            pieces.push(Piece::new(POP_DIRECTIONAL_ISOLATE, look));
        }
    }
    merge(pieces)
}

fn piece_ranges(line: &[Piece]) -> Vec<(std::ops::Range<usize>, Look)> {
    let mut start = 0;
    line.iter()
        .map(|piece| {
            let range = start..start + piece.text.len();
            start = range.end;
            (range, piece.look)
        })
        .collect()
}

/// `pieces` as lines no wider than `width` points; `\n` forces a break and
/// an empty line stays an empty line. Whitespace between words becomes one
/// space; a word wider than the column is split between characters.
pub(super) fn wrap(fonts: &Fonts, pieces: &[Piece], size: f32, width: f32) -> Vec<Line> {
    let mut lines = Vec::new();
    for paragraph in split_lines(pieces) {
        let mut line: Line = Vec::new();
        let mut used = 0.0;
        for word in words(&paragraph) {
            for part in split_word(fonts, &word, size, width) {
                let part_width = self::width(fonts, &part, size);
                let space = Piece::new(" ", part[0].look);
                let space_width = self::width(fonts, std::slice::from_ref(&space), size);
                if !line.is_empty() && used + space_width + part_width > width {
                    lines.push(merge(std::mem::take(&mut line)));
                }
                if line.is_empty() {
                    used = part_width;
                } else {
                    line.push(space);
                    used += space_width + part_width;
                }
                line.extend(part);
            }
        }
        lines.push(merge(line));
    }
    lines
}

/// The pieces between forced line breaks.
fn split_lines(pieces: &[Piece]) -> Vec<Vec<Piece>> {
    let mut lines = vec![Vec::new()];
    for piece in pieces {
        for (n, text) in piece.text.split('\n').enumerate() {
            if n > 0 {
                lines.push(Vec::new());
            }
            if let Some(line) = lines.last_mut() {
                line.push(Piece::new(text, piece.look));
            }
        }
    }
    lines
}

/// Runs of non-whitespace, each possibly changing look inside.
fn words(pieces: &[Piece]) -> Vec<Vec<Piece>> {
    let mut words = Vec::new();
    let mut word: Vec<Piece> = Vec::new();
    for piece in pieces {
        for ch in piece.text.chars() {
            if ch.is_whitespace() {
                if !word.is_empty() {
                    words.push(merge(std::mem::take(&mut word)));
                }
            } else {
                word.push(Piece::new(ch, piece.look));
            }
        }
    }
    if !word.is_empty() {
        words.push(merge(word));
    }
    words
}

/// Neighbouring pieces in the same look joined into one.
fn merge(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut merged: Vec<Piece> = Vec::new();
    for piece in pieces {
        match merged.last_mut() {
            Some(last) if last.look == piece.look => last.text.push_str(&piece.text),
            _ => merged.push(piece),
        }
    }
    merged
}

/// A word in parts no wider than `width`, each at least one character.
fn split_word(fonts: &Fonts, word: &[Piece], size: f32, width: f32) -> Vec<Vec<Piece>> {
    if self::width(fonts, word, size) <= width {
        return vec![word.to_vec()];
    }
    let mut parts: Vec<Vec<Piece>> = vec![Vec::new()];
    for piece in word {
        for ch in piece.text.chars() {
            let mut longer = parts.last().cloned().unwrap_or_default();
            longer.push(Piece::new(ch, piece.look));
            let longer = merge(longer);
            match parts.last_mut() {
                Some(last) if last.is_empty() || self::width(fonts, &longer, size) <= width => {
                    *last = longer;
                }
                _ => parts.push(vec![Piece::new(ch, piece.look)]),
            }
        }
    }
    parts
}

/// `text` on one line, ending in "…" where it had to be cut to fit.
pub(super) fn cut(fonts: &Fonts, look: Look, size: f32, text: &str, width: f32) -> String {
    let measure = |text: &str| self::width(fonts, &[Piece::new(text, look)], size);
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if measure(&line) <= width {
        return line;
    }
    while !line.is_empty() && measure(&format!("{line}…")) > width {
        line.pop();
    }
    format!("{}…", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: f32 = 10.0;

    fn regular(text: &str) -> Vec<Piece> {
        vec![Piece::new(text, Look::REGULAR)]
    }

    fn texts(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|line| plain(line)).collect()
    }

    #[test]
    fn wrapped_lines_fit_and_keep_every_word_in_order() {
        let fonts = Fonts::load();
        let text = "Siân Ó Dónaill agreed — “in full” — to take part, and Zoë signed. ".repeat(6);
        let lines = wrap(&fonts, &regular(&text), SIZE, 180.0);
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|line| width(&fonts, line, SIZE) <= 180.0));
        assert_eq!(
            texts(&lines)
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn line_breaks_are_kept_and_overlong_words_split() {
        let fonts = Fonts::load();
        assert_eq!(
            texts(&wrap(&fonts, &regular("one\n\ntwo"), SIZE, 100.0)),
            ["one", "", "two"]
        );
        let long = "x".repeat(400);
        let lines = wrap(&fonts, &regular(&long), SIZE, 100.0);
        assert!(lines.len() > 1 && lines.iter().all(|line| width(&fonts, line, SIZE) <= 100.0));
        assert_eq!(texts(&lines).concat(), long);
    }

    #[test]
    fn a_change_of_look_inside_a_word_keeps_the_word_whole() {
        let fonts = Fonts::load();
        let pieces = [
            Piece::new("plain ", Look::REGULAR),
            Piece::new("bold", Look::BOLD),
            Piece::new(", plain", Look::REGULAR),
        ];
        let lines = wrap(&fonts, &pieces, SIZE, 400.0);
        assert_eq!(lines.len(), 1);
        assert_eq!(plain(&lines[0]), "plain bold, plain");
        assert_eq!(lines[0].len(), 3);
    }

    #[test]
    fn cut_text_fits_and_ends_in_an_ellipsis() {
        let fonts = Fonts::load();
        let look = Look::REGULAR;
        assert_eq!(cut(&fonts, look, SIZE, "short  text", 200.0), "short text");
        let cut = cut(&fonts, look, SIZE, &"word ".repeat(100), 200.0);
        assert!(cut.starts_with("word word ") && cut.ends_with('…'), "{cut}");
        assert!(width(&fonts, &regular(&cut), SIZE) <= 200.0);
    }

    #[test]
    fn latin_and_numbers_inside_urdu_are_drawn_left_to_right_after_it() {
        let fonts = Fonts::load();
        // "reference 24/NW/0123" in Urdu order: the Urdu word is read first
        // and so drawn rightmost; the reference keeps its own order.
        let runs = visual_runs(&fonts, &regular("حوالہ 24/NW/0123"), true);
        let drawn: Vec<&str> = runs.iter().map(|run| run.text.as_str()).collect();
        let reference: String = drawn.iter().filter(|t| t.is_ascii()).copied().collect();
        assert_eq!(reference.trim(), "24/NW/0123", "{drawn:?}");
        let first = drawn.iter().position(|t| t.contains("NW")).unwrap();
        let urdu = drawn.iter().position(|t| t.contains('ح')).unwrap();
        assert!(first < urdu, "{drawn:?}");
    }
}
