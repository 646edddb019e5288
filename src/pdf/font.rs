//! The two embedded faces and what layout and embedding need from them:
//! glyph ids, advance widths and descriptor metrics. No shaping, no kerning.

use std::collections::BTreeMap;

use ttf_parser::{Face, GlyphId};

use super::PdfError;

const REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Shown instead of a character the font lacks, so nothing silently vanishes.
const FALLBACK: char = '?';

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Weight {
    Regular,
    Bold,
}

/// Glyph ids used on the pages, each with the character it stands for.
pub(super) type UsedGlyphs = BTreeMap<u16, char>;

pub(super) struct Font {
    pub(super) postscript_name: &'static str,
    pub(super) face: Face<'static>,
    fallback: GlyphId,
}

pub(super) struct Fonts {
    regular: Font,
    bold: Font,
}

impl Fonts {
    pub(super) fn load() -> Result<Self, PdfError> {
        Ok(Self {
            regular: Font::load("DejaVuSans", REGULAR)?,
            bold: Font::load("DejaVuSans-Bold", BOLD)?,
        })
    }

    pub(super) fn get(&self, weight: Weight) -> &Font {
        match weight {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }
}

impl Font {
    fn load(postscript_name: &'static str, data: &'static [u8]) -> Result<Self, PdfError> {
        let face = Face::parse(data, 0).map_err(|_| PdfError::Font)?;
        let fallback = face.glyph_index(FALLBACK).unwrap_or(GlyphId(0));
        Ok(Self {
            postscript_name,
            face,
            fallback,
        })
    }

    /// The glyph drawn for `ch` and the character it really shows.
    pub(super) fn glyph(&self, ch: char) -> (GlyphId, char) {
        match self.face.glyph_index(ch) {
            Some(id) => (id, ch),
            None => (self.fallback, FALLBACK),
        }
    }

    /// Advance width in thousandths of the font size, the unit PDF wants.
    pub(super) fn advance(&self, glyph: GlyphId) -> f32 {
        self.to_thousandths(self.face.glyph_hor_advance(glyph).unwrap_or(0).into())
    }

    pub(super) fn width(&self, text: &str, size: f32) -> f32 {
        let total: f32 = text.chars().map(|ch| self.advance(self.glyph(ch).0)).sum();
        total * size / 1000.0
    }

    pub(super) fn to_thousandths(&self, font_units: f32) -> f32 {
        font_units * 1000.0 / f32::from(self.face.units_per_em())
    }
}
