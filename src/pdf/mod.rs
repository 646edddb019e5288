//! PDF copies of what a person signed (C4): A4 pages of headings, paragraphs,
//! key-value rows, clauses and a signature, set in embedded DejaVu Sans and
//! written byte-for-byte reproducibly. No images, forms, encryption or clock.

mod content;
mod embed;
mod font;
mod layout;
mod lines;
mod model;
mod subset;
mod writer;

#[cfg(test)]
mod tests;

pub use model::{Block, Clause, Document, KeyValue, Metadata, Signature};

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font could not be read")]
    Font,
    #[error("creation time {0} ms is outside the years 1 to 9999")]
    CreationTime(i64),
    #[error("compressing a PDF stream failed: {0}")]
    Compress(#[from] std::io::Error),
}

/// Whether text in this language (a BCP 47 tag) is written right to left.
pub fn is_right_to_left(language: &str) -> bool {
    let primary = language.split('-').next().unwrap_or_default();
    ["ar", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"].contains(&primary)
}
