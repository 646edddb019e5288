//! A page's marks as a content stream. Text is shown as two-byte glyph ids
//! (Identity-H); each glyph shown is recorded for the font objects.

use std::collections::BTreeMap;

use super::font::{Fonts, UsedGlyphs, Weight};
use super::layout::{Mark, Page};
use super::writer::number;

/// Shade of the thin rules between rows, 0 black to 1 white.
const RULE_GREY: f32 = 0.75;

pub(super) type GlyphUse = BTreeMap<Weight, UsedGlyphs>;

pub(super) fn resource_name(weight: Weight) -> &'static str {
    match weight {
        Weight::Regular => "F1",
        Weight::Bold => "F2",
    }
}

pub(super) fn page_content(page: &Page, fonts: &Fonts, used: &mut GlyphUse) -> String {
    let mut ops = String::new();
    for mark in page {
        let op = match mark {
            Mark::Text { text, .. } if text.is_empty() => continue,
            Mark::Text { x, y, style, text } => {
                let glyphs = glyph_hex(
                    fonts,
                    style.weight,
                    text,
                    used.entry(style.weight).or_default(),
                );
                let (font, size, grey) = (
                    resource_name(style.weight),
                    number(style.size),
                    number(style.grey),
                );
                format!(
                    "BT /{font} {size} Tf {grey} g {} {} Td <{glyphs}> Tj ET\n",
                    number(*x),
                    number(*y)
                )
            }
            Mark::Rule { x, y, width } => {
                let (x, y, end) = (number(*x), number(*y), number(x + width));
                format!("{} G 0.5 w {x} {y} m {end} {y} l S\n", number(RULE_GREY))
            }
        };
        ops.push_str(&op);
    }
    ops
}

fn glyph_hex(fonts: &Fonts, weight: Weight, text: &str, used: &mut UsedGlyphs) -> String {
    let font = fonts.get(weight);
    let mut hex = String::with_capacity(text.len() * 4);
    for ch in text.chars() {
        let (glyph, shown) = font.glyph(ch);
        used.entry(glyph.0).or_insert(shown);
        hex.push_str(&format!("{:04X}", glyph.0));
    }
    hex
}
