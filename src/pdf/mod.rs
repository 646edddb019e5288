//! PDF copies of what a person signed (C4): A4 pages of headings,
//! paragraphs, lists, key-value rows, clauses and a signature, in any
//! language our bundled Noto fonts cover (Latin, Greek, Cyrillic, Arabic
//! script; right to left where the language is). krilla shapes, subsets,
//! tags and checks them as PDF/A-2a and PDF/UA-1; the same document always
//! gives the same bytes. No images, forms, encryption or clock.

mod draw;
mod fonts;
mod layout;
mod model;
mod text;

#[cfg(test)]
mod tests;

pub use fonts::uncovered_chars;
pub use model::{Block, Clause, Document, Emphasis, KeyValue, Metadata, Signature, Span};

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("creation time {0} ms is outside the years 1 to 9999")]
    CreationTime(i64),
    #[error("the page size is not one krilla accepts")]
    PageSize,
    #[error("the PDF/A and PDF/UA settings do not fit together: {0}")]
    Configuration(String),
    /// krilla's PDF/A-2a or PDF/UA-1 validator refused the document.
    #[error("the PDF would not meet PDF/A-2a and PDF/UA-1: {0:?}")]
    Validation(Vec<String>),
    #[error("krilla could not write the PDF: {0}")]
    Write(String),
}

impl From<krilla::error::KrillaError> for PdfError {
    fn from(error: krilla::error::KrillaError) -> Self {
        match error {
            krilla::error::KrillaError::Validation(errors) => PdfError::Validation(
                errors
                    .iter()
                    .map(|(error, _)| format!("{error:?}"))
                    .collect(),
            ),
            other => PdfError::Write(other.to_string()),
        }
    }
}

/// Whether text in this language (a BCP 47 tag) is written right to left:
/// its primary subtag is one of Arabic, Urdu, Persian, Hebrew, Pashto,
/// Sindhi, Uyghur, Yiddish, Dhivehi or Central Kurdish.
pub fn is_right_to_left(language: &str) -> bool {
    let primary = language.split(['-', '_']).next().unwrap_or_default();
    ["ar", "ckb", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(primary))
}
