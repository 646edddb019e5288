//! One font as PDF objects: a Type0 font over a CIDFontType2 whose CIDs are
//! glyph ids, the widths of the glyphs used, a ToUnicode map so text copies
//! out as the characters typed, and the subset font program.

use sha2::{Digest, Sha256};
use ttf_parser::GlyphId;

use super::font::{Font, UsedGlyphs};
use super::subset::subset;
use super::writer::{number, utf16_hex, ObjectId, ObjectWriter};
use super::PdfError;

/// Entries per bfchar section; the CMap format allows no more.
const CMAP_SECTION: usize = 100;

/// Writes the font's objects and returns the Type0 font to reference.
pub(super) fn embed(
    out: &mut ObjectWriter,
    font: &Font,
    used: &UsedGlyphs,
) -> Result<ObjectId, PdfError> {
    let program = subset(font, used.keys().copied())?;
    let name = format!("{}+{}", subset_tag(used), font.postscript_name);
    let file = out.stream(&format!(" /Length1 {}", program.len()), &program)?;
    let descriptor = out.add(&descriptor(font, &name, file));
    let cid_font = out.add(&format!(
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
         /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
         /FontDescriptor {descriptor} /W {} /CIDToGIDMap /Identity >>",
        widths(font, used)
    ));
    let to_unicode = out.stream("", to_unicode(used).as_bytes())?;
    Ok(out.add(&format!(
        "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
         /DescendantFonts [{cid_font}] /ToUnicode {to_unicode} >>"
    )))
}

/// Six capitals naming this subset (ISO 32000-1 9.6.4), from its glyphs so
/// the same text always gets the same tag.
fn subset_tag(used: &UsedGlyphs) -> String {
    let mut hash = Sha256::new();
    used.keys().for_each(|id| hash.update(id.to_be_bytes()));
    hash.finalize()
        .iter()
        .take(6)
        .map(|byte| char::from(b'A' + byte % 26))
        .collect()
}

fn descriptor(font: &Font, name: &str, file: ObjectId) -> String {
    let face = &font.face;
    let scaled = |units: i16| number(font.to_thousandths(f32::from(units)));
    let bbox = face.global_bounding_box();
    let cap_height = face.capital_height().unwrap_or(face.ascender());
    // A common estimate of the dominant stem width from the weight class.
    let stem_v = 10.0 + 0.244 * (f32::from(face.weight().to_number()) - 50.0);
    format!(
        "<< /Type /FontDescriptor /FontName /{name} /Flags 32 /FontBBox [{} {} {} {}] \
         /ItalicAngle 0 /Ascent {} /Descent {} /CapHeight {} /StemV {} /FontFile2 {file} >>",
        scaled(bbox.x_min),
        scaled(bbox.y_min),
        scaled(bbox.x_max),
        scaled(bbox.y_max),
        scaled(face.ascender()),
        scaled(face.descender()),
        scaled(cap_height),
        number(stem_v),
    )
}

/// The /W array: each run of consecutive glyph ids with its advance widths.
fn widths(font: &Font, used: &UsedGlyphs) -> String {
    let ids: Vec<u16> = used.keys().copied().collect();
    let runs = ids
        .chunk_by(|a, b| a.checked_add(1) == Some(*b))
        .filter_map(|run| {
            let advances: Vec<String> = run
                .iter()
                .map(|id| number(font.advance(GlyphId(*id))))
                .collect();
            Some(format!("{} [{}]", run.first()?, advances.join(" ")))
        });
    format!("[{}]", runs.collect::<Vec<_>>().join(" "))
}

fn to_unicode(used: &UsedGlyphs) -> String {
    let entries: Vec<String> = used
        .iter()
        .map(|(id, ch)| format!("<{id:04X}> <{}>", utf16_hex(ch.encode_utf8(&mut [0; 4]))))
        .collect();
    let sections: String = entries
        .chunks(CMAP_SECTION)
        .map(|chunk| {
            format!(
                "{} beginbfchar\n{}\nendbfchar\n",
                chunk.len(),
                chunk.join("\n")
            )
        })
        .collect();
    format!(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n\
         {sections}endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )
}
