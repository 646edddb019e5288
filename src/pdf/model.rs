//! What a PDF copy says, without any notion of pages or bytes: the caller
//! fills these in, `render` decides where everything goes.

use super::PdfError;

/// The document information dictionary. The creation time is passed in so
/// the same record always renders to the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub title: String,
    pub author: String,
    pub producer: String,
    pub created_unix_ms: i64,
}

/// A labelled value such as "Study" / "CONNECT-2".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub label: String,
    pub value: String,
}

/// A statement and the answer given to it, shown as written ("Yes", "No").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    pub text: String,
    pub answer: String,
}

/// A typed signature: who signed in which role, and when (already formatted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub label: String,
    pub name: String,
    pub time: String,
}

/// Text may hold any Unicode; a line break (`\n`) starts a new line.
/// Characters DejaVu Sans lacks are shown (and extracted) as '?'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    KeyValues(Vec<KeyValue>),
    Clauses(Vec<Clause>),
    Signature(Signature),
}

/// The title opens the first page; the footer line (cut with "…" if it is
/// wider than the page) closes every page, followed by "Page N of M".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub metadata: Metadata,
    pub footer: String,
    pub blocks: Vec<Block>,
}

impl Document {
    /// The PDF bytes; the same document always gives the same bytes.
    pub fn render(&self) -> Result<Vec<u8>, PdfError> {
        super::writer::render(self)
    }
}

impl KeyValue {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

impl Clause {
    pub fn new(text: impl Into<String>, answer: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            answer: answer.into(),
        }
    }
}
