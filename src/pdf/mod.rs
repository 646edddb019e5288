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
