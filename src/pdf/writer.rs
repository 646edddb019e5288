//! The file around the pages: numbered objects, compressed streams, the
//! cross-reference table, and a trailer /ID hashed from everything before it.

use std::fmt;
use std::io::Write;

use chrono::{DateTime, Datelike};
use flate2::write::ZlibEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::content::{page_content, resource_name, GlyphUse};
use super::embed::embed;
use super::font::Fonts;
use super::layout::{paginate, PAGE_HEIGHT, PAGE_WIDTH};
use super::model::{Document, Metadata};
use super::PdfError;

/// The second line's high bytes tell transfer tools the file is binary.
const HEADER: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n";

pub(super) fn render(doc: &Document) -> Result<Vec<u8>, PdfError> {
    let created = pdf_date(doc.metadata.created_unix_ms)?;
    let fonts = Fonts::load()?;
    let mut used = GlyphUse::new();
    let contents: Vec<String> = paginate(doc, &fonts)
        .iter()
        .map(|page| page_content(page, &fonts, &mut used))
        .collect();

    let mut out = ObjectWriter::new();
    let catalog = out.reserve();
    let tree = out.reserve();
    let font_refs = embed_fonts(&mut out, &fonts, &used)?;
    write_pages(&mut out, tree, &font_refs, &contents)?;
    out.write(
        catalog,
        format!("<< /Type /Catalog /Pages {tree} >>").as_bytes(),
    );
    let info = out.add(&info(&doc.metadata, &created));
    Ok(out.finish(catalog, info))
}

/// Embeds each font the pages use; returns the entries of a /Font resource
/// dictionary naming them.
fn embed_fonts(out: &mut ObjectWriter, fonts: &Fonts, used: &GlyphUse) -> Result<String, PdfError> {
    let mut refs = String::new();
    for (weight, glyphs) in used {
        let font = embed(out, fonts.get(*weight), glyphs)?;
        refs.push_str(&format!("/{} {font} ", resource_name(*weight)));
    }
    Ok(refs)
}

/// The page tree `tree`: one page per content stream, all sharing the fonts.
fn write_pages(
    out: &mut ObjectWriter,
    tree: ObjectId,
    font_refs: &str,
    contents: &[String],
) -> Result<(), PdfError> {
    let media_box = format!("[0 0 {} {}]", number(PAGE_WIDTH), number(PAGE_HEIGHT));
    let mut kids = Vec::new();
    for content in contents {
        let stream = out.stream("", content.as_bytes())?;
        let page = out.add(&format!(
            "<< /Type /Page /Parent {tree} /MediaBox {media_box} \
             /Resources << /Font << {font_refs}>> >> /Contents {stream} >>"
        ));
        kids.push(page.to_string());
    }
    let count = kids.len();
    let pages = format!(
        "<< /Type /Pages /Kids [{}] /Count {count} >>",
        kids.join(" ")
    );
    out.write(tree, pages.as_bytes());
    Ok(())
}

fn info(metadata: &Metadata, created: &str) -> String {
    format!(
        "<< /Title <{}> /Author <{}> /Producer <{}> /CreationDate ({created}) /ModDate ({created}) >>",
        text_string(&metadata.title),
        text_string(&metadata.author),
        text_string(&metadata.producer),
    )
}

/// A PDF date in UTC (ISO 32000-1 7.9.4), which has room for years 1-9999.
fn pdf_date(unix_ms: i64) -> Result<String, PdfError> {
    let time = DateTime::from_timestamp_millis(unix_ms)
        .filter(|time| (1..=9999).contains(&time.year()))
        .ok_or(PdfError::CreationTime(unix_ms))?;
    Ok(time.format("D:%Y%m%d%H%M%SZ").to_string())
}

/// A text string as UTF-16BE with its byte order mark, in hex.
fn text_string(text: &str) -> String {
    format!("FEFF{}", utf16_hex(text))
}

pub(super) fn utf16_hex(text: &str) -> String {
    text.encode_utf16()
        .map(|unit| format!("{unit:04X}"))
        .collect()
}

/// Points with at most two decimals and no trailing zeros: short, and the
/// same on every machine.
pub(super) fn number(value: f32) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// An indirect reference; displays as `N 0 R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ObjectId(usize);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} 0 R", self.0)
    }
}

pub(super) struct ObjectWriter {
    out: Vec<u8>,
    /// Byte offset of each object, by number less one; 0 until written.
    offsets: Vec<usize>,
}

impl ObjectWriter {
    fn new() -> Self {
        Self {
            out: HEADER.to_vec(),
            offsets: Vec::new(),
        }
    }

    /// A number for an object written later, so others can refer to it.
    fn reserve(&mut self) -> ObjectId {
        self.offsets.push(0);
        ObjectId(self.offsets.len())
    }

    fn write(&mut self, id: ObjectId, body: &[u8]) {
        if let Some(offset) = self.offsets.get_mut(id.0.wrapping_sub(1)) {
            *offset = self.out.len();
        }
        self.out.extend(format!("{} 0 obj\n", id.0).as_bytes());
        self.out.extend(body);
        self.out.extend(b"\nendobj\n");
    }

    pub(super) fn add(&mut self, dictionary: &str) -> ObjectId {
        let id = self.reserve();
        self.write(id, dictionary.as_bytes());
        id
    }

    /// A Flate-compressed stream; `entries` (each with a leading space) go
    /// into its dictionary after /Filter and /Length.
    pub(super) fn stream(&mut self, entries: &str, data: &[u8]) -> Result<ObjectId, PdfError> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(data)?;
        let packed = encoder.finish()?;
        let mut body = format!(
            "<< /Filter /FlateDecode /Length {}{entries} >>\nstream\n",
            packed.len()
        )
        .into_bytes();
        body.extend(packed);
        body.extend(b"\nendstream");
        let id = self.reserve();
        self.write(id, &body);
        Ok(id)
    }

    fn finish(mut self, root: ObjectId, info: ObjectId) -> Vec<u8> {
        let hash = Sha256::digest(&self.out);
        let file_id = hex::encode_upper(&hash[..16]);
        let xref_at = self.out.len();
        let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len() + 1);
        for offset in &self.offsets {
            tail.push_str(&format!("{offset:010} 00000 n \n"));
        }
        tail.push_str(&format!(
            "trailer\n<< /Size {} /Root {root} /Info {info} /ID [<{file_id}> <{file_id}>] >>\n\
             startxref\n{xref_at}\n%%EOF\n",
            self.offsets.len() + 1
        ));
        self.out.extend(tail.as_bytes());
        self.out
    }
}
