//! What a PDF copy says, without any notion of pages or bytes: the caller
//! fills these in, `render` decides where everything goes.

use super::PdfError;

/// The document's metadata. The creation time is passed in so the same
/// record always renders to the same bytes; the language (BCP 47, "en-GB",
/// "ur") is the document's and decides its direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub title: String,
    pub author: String,
    pub producer: String,
    pub created_unix_ms: i64,
    pub language: String,
}

/// How a span of text stands out. Strong is set in bold, emphasis in
/// italic (Arabic script has no italic and stays upright), both in bold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emphasis {
    #[default]
    None,
    Strong,
    Emphasis,
    StrongEmphasis,
}

/// A piece of a paragraph or list item. A link is printed after its text as
/// " (URL)", so a printed copy keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub emphasis: Emphasis,
    pub link: Option<String>,
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
/// Characters no bundled font has are shown (and extracted) as '?'; see
/// [`super::uncovered_chars`] to refuse them earlier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Level 1 to 3, below the document title.
    Heading {
        level: u8,
        text: String,
    },
    Paragraph(Vec<Span>),
    List {
        ordered: bool,
        items: Vec<Vec<Span>>,
    },
    KeyValues(Vec<KeyValue>),
    Clauses {
        headers: [String; 2],
        rows: Vec<Clause>,
    },
    Signature(Signature),
    /// A top-level heading fieldkit writes itself ("Your answers"), in the
    /// document's interface language.
    Section(String),
}

/// The metadata title opens the first page; the footer line (cut with "…"
/// if it is too wide) closes every page, beside the page label, a template
/// with `{page}` and `{pages}` ("Page {page} of {pages}").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub metadata: Metadata,
    pub footer: String,
    pub page_label: String,
    /// The language of what fieldkit writes itself (sections, labels and
    /// their values, the clause table's headers and answers, signatures)
    /// when it is not the document's (an English copy of an Urdu form): each
    /// such part is tagged with it, so a screen reader speaks it in its own
    /// language (PDF/UA-1 7.2). None when everything is in the document's.
    pub interface_language: Option<String>,
    pub blocks: Vec<Block>,
}

/// Which way lines run, from the document's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    LeftToRight,
    RightToLeft,
}

impl Document {
    /// The PDF bytes (PDF/A-2a and PDF/UA-1); the same document always
    /// gives the same bytes.
    pub fn render(&self) -> Result<Vec<u8>, PdfError> {
        super::draw::render(self)
    }

    pub(super) fn direction(&self) -> Direction {
        if super::is_right_to_left(&self.metadata.language) {
            Direction::RightToLeft
        } else {
            Direction::LeftToRight
        }
    }
}

impl Span {
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            emphasis: Emphasis::None,
            link: None,
        }
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
