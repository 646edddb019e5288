//! A copy of a TrueType font holding only the outlines a document draws.
//! Glyph ids do not move (so the Identity CID-to-glyph map still holds):
//! unused outlines are emptied and tables a PDF viewer never reads dropped.

use std::collections::BTreeSet;
use std::num::NonZeroU16;

use ttf_parser::{loca, Face, GlyphId, Tag};

use super::font::Font;
use super::PdfError;

/// Copied as they are: ISO 32000-1 9.9 lists these (with glyf, loca and
/// head, which are rebuilt) as what a CIDFontType2 program needs; OS/2
/// gives viewers the face's vertical metrics.
const COPIED: [&[u8; 4]; 7] = [
    b"OS/2", b"cvt ", b"fpgm", b"hhea", b"hmtx", b"maxp", b"prep",
];

// Composite glyph flags (OpenType 'glyf').
const ARG_1_AND_2_ARE_WORDS: u16 = 0x0001;
const WE_HAVE_A_SCALE: u16 = 0x0008;
const MORE_COMPONENTS: u16 = 0x0020;
const WE_HAVE_AN_X_AND_Y_SCALE: u16 = 0x0040;
const WE_HAVE_A_TWO_BY_TWO: u16 = 0x0080;

/// The "magic" the head table's checksum adjustment makes the file sum to.
const FONT_CHECKSUM: u32 = 0xB1B0_AFBA;

type Table = ([u8; 4], Vec<u8>);

pub(super) fn subset(
    font: &Font,
    used: impl IntoIterator<Item = u16>,
) -> Result<Vec<u8>, PdfError> {
    let raw = font.face.raw_face();
    let outlines = Outlines::of(&font.face)?;
    let head = raw.table(Tag::from_bytes(b"head")).ok_or(PdfError::Font)?;
    let (glyf, loca) = outlines.keeping(&outlines.closure(used), font.face.number_of_glyphs());
    let mut tables = vec![
        (*b"glyf", glyf),
        (*b"loca", loca),
        (*b"head", long_loca_head(head)?),
    ];
    tables.extend(
        COPIED
            .iter()
            .filter_map(|tag| Some((**tag, raw.table(Tag::from_bytes(tag))?.to_vec()))),
    );
    tables.sort();
    Ok(assemble(&tables))
}

struct Outlines<'a> {
    glyf: &'a [u8],
    offsets: loca::Table<'a>,
}

impl<'a> Outlines<'a> {
    fn of(face: &Face<'a>) -> Result<Self, PdfError> {
        let raw = face.raw_face();
        let table = |tag: &[u8; 4]| raw.table(Tag::from_bytes(tag)).ok_or(PdfError::Font);
        let count = NonZeroU16::new(face.number_of_glyphs()).ok_or(PdfError::Font)?;
        let format = face.tables().head.index_to_location_format;
        let offsets = loca::Table::parse(count, format, table(b"loca")?).ok_or(PdfError::Font)?;
        Ok(Self {
            glyf: table(b"glyf")?,
            offsets,
        })
    }

    fn glyph(&self, id: u16) -> &[u8] {
        let range = self.offsets.glyph_range(GlyphId(id));
        range
            .and_then(|range| self.glyf.get(range))
            .unwrap_or_default()
    }

    /// The glyphs asked for, the glyphs they are composed of, and .notdef.
    fn closure(&self, used: impl IntoIterator<Item = u16>) -> BTreeSet<u16> {
        let mut keep = BTreeSet::new();
        let mut pending: Vec<u16> = used.into_iter().chain([0]).collect();
        while let Some(id) = pending.pop() {
            if keep.insert(id) {
                pending.extend(components(self.glyph(id)));
            }
        }
        keep
    }

    /// New 'glyf' and long-format 'loca' tables with only `keep`'s outlines.
    fn keeping(&self, keep: &BTreeSet<u16>, count: u16) -> (Vec<u8>, Vec<u8>) {
        let mut glyf = Vec::new();
        let mut offsets = Vec::new();
        for id in 0..count {
            offsets.extend(be32(glyf.len()));
            if keep.contains(&id) {
                glyf.extend(self.glyph(id));
                pad(&mut glyf);
            }
        }
        offsets.extend(be32(glyf.len()));
        (glyf, offsets)
    }
}

/// The glyph ids a composite glyph is built from; none for a simple glyph.
fn components(glyph: &[u8]) -> Vec<u16> {
    let mut found = Vec::new();
    if read_u16(glyph, 0).is_none_or(|contours| contours as i16 >= 0) {
        return found;
    }
    let mut at = 10;
    while let (Some(flags), Some(id)) = (read_u16(glyph, at), read_u16(glyph, at + 2)) {
        found.push(id);
        if flags & MORE_COMPONENTS == 0 {
            break;
        }
        at += 4 + argument_bytes(flags);
    }
    found
}

/// Bytes of offsets and transform that follow a component's flags and id.
fn argument_bytes(flags: u16) -> usize {
    let offsets = if flags & ARG_1_AND_2_ARE_WORDS != 0 {
        4
    } else {
        2
    };
    let transform = if flags & WE_HAVE_A_SCALE != 0 {
        2
    } else if flags & WE_HAVE_AN_X_AND_Y_SCALE != 0 {
        4
    } else if flags & WE_HAVE_A_TWO_BY_TWO != 0 {
        8
    } else {
        0
    };
    offsets + transform
}

/// 'head' saying loca is long, with the checksum adjustment zeroed until
/// the whole file is known.
fn long_loca_head(head: &[u8]) -> Result<Vec<u8>, PdfError> {
    let mut head = head.to_vec();
    head.get_mut(8..12).ok_or(PdfError::Font)?.fill(0);
    head.get_mut(50..52)
        .ok_or(PdfError::Font)?
        .copy_from_slice(&1u16.to_be_bytes());
    Ok(head)
}

/// The font file: table directory, then each table padded to four bytes.
fn assemble(tables: &[Table]) -> Vec<u8> {
    let count = u16::try_from(tables.len()).unwrap_or(u16::MAX);
    let selector = (u16::BITS - 1).saturating_sub(count.leading_zeros()) as u16;
    let search_range = 16u16 << selector;
    let mut out = Vec::new();
    out.extend(0x0001_0000u32.to_be_bytes());
    for field in [
        count,
        search_range,
        selector,
        count.saturating_mul(16).saturating_sub(search_range),
    ] {
        out.extend(field.to_be_bytes());
    }
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (tag, data) in tables {
        head_at = head_at.or((tag == b"head").then_some(offset));
        out.extend(tag);
        out.extend(checksum(data).to_be_bytes());
        out.extend(be32(offset));
        out.extend(be32(data.len()));
        offset += data.len().next_multiple_of(4);
    }
    for (_, data) in tables {
        out.extend(data);
        pad(&mut out);
    }
    let adjustment = FONT_CHECKSUM.wrapping_sub(checksum(&out));
    if let Some(field) = head_at.and_then(|at| out.get_mut(at + 8..at + 12)) {
        field.copy_from_slice(&adjustment.to_be_bytes());
    }
    out
}

fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, chunk| {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        sum.wrapping_add(u32::from_be_bytes(word))
    })
}

fn read_u16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// Font files are far below 4 GiB, so offsets and lengths fit in 32 bits.
fn be32(value: usize) -> [u8; 4] {
    u32::try_from(value).unwrap_or(u32::MAX).to_be_bytes()
}

fn pad(data: &mut Vec<u8>) {
    data.resize(data.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::font::{Fonts, Weight};

    #[test]
    fn subset_keeps_used_outlines_and_their_components_unchanged() {
        let fonts = Fonts::load().unwrap();
        let font = fonts.get(Weight::Regular);
        let used: Vec<u16> = "Siân Ó Dónaill"
            .chars()
            .map(|ch| font.glyph(ch).0 .0)
            .collect();
        let program = subset(font, used.iter().copied()).unwrap();
        let original = Outlines::of(&font.face).unwrap();
        let copy_face = Face::parse(&program, 0).unwrap();
        let copy = Outlines::of(&copy_face).unwrap();
        let keep = original.closure(used.iter().copied());
        let asked: BTreeSet<u16> = used.iter().copied().chain([0]).collect();
        assert!(
            keep.len() > asked.len(),
            "accented letters pull in their components"
        );
        for id in 0..font.face.number_of_glyphs() {
            let expected = if keep.contains(&id) {
                original.glyph(id)
            } else {
                &[]
            };
            assert_eq!(copy.glyph(id), expected, "glyph {id}");
        }
        assert_eq!(
            copy_face.glyph_hor_advance(GlyphId(used[0])),
            font.face.glyph_hor_advance(GlyphId(used[0]))
        );
    }

    #[test]
    fn subset_sums_to_the_font_checksum() {
        let fonts = Fonts::load().unwrap();
        let program = subset(fonts.get(Weight::Bold), [36, 37]).unwrap();
        assert_eq!(checksum(&program), FONT_CHECKSUM);
        assert!(program.len() < 100_000, "{} bytes", program.len());
    }
}
