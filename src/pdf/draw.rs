//! The laid-out pages written by krilla as PDF/A-2a and PDF/UA-1: every line
//! of text a marked span in the structure tree, footers and rules marked as
//! artifacts, the language and title in the metadata. krilla checks both
//! standards as it writes; a document that fails them is an error, never a
//! PDF. Nothing here reads a clock: the same document gives the same bytes.

use std::collections::HashMap;
use std::num::NonZeroU16;

use krilla::color::rgb;
use krilla::configure::{Accessibility, Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime, Metadata, TextDirection};
use krilla::num::NormalizedF32;
use krilla::outline::Outline;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::tagging::{
    Artifact, ArtifactType, ContentTag, Identifier, ListNumbering, Node as TagNode, SpanTag,
    TableHeaderScope, Tag, TagGroup, TagKind, TagTree,
};
use krilla::{Document as Pdf, SerializeSettings};

use super::fonts::Fonts;
use super::layout::{lay_out, Align, Content, Mark, Node, Role, PAGE_HEIGHT, PAGE_WIDTH};
use super::model::{Direction, Document};
use super::text::{plain, visual_runs};
use super::PdfError;

pub(super) fn render(doc: &Document) -> Result<Vec<u8>, PdfError> {
    let created = creation_date(doc.metadata.created_unix_ms)?;
    let fonts = Fonts::load();
    let laid = lay_out(doc, &fonts);
    let rtl = doc.direction() == Direction::RightToLeft;
    let mut pdf = Pdf::new_with(settings()?);
    let mut leaves = HashMap::new();
    let size = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or(PdfError::PageSize)?;
    for marks in &laid.pages {
        let mut page = pdf.start_page_with(size.clone());
        let mut surface = page.surface();
        for mark in marks {
            draw(&mut surface, &fonts, mark, rtl, &mut leaves);
        }
        surface.finish();
        page.finish();
    }
    let language = doc.metadata.language.clone();
    let mut tree = TagTree::new().with_lang(Some(language.clone()));
    for node in laid.structure {
        if let Some(node) = tag(node, &mut leaves) {
            tree.push(node);
        }
    }
    pdf.set_tag_tree(tree);
    // PDF/UA wants an outline; headings are few and the structure tree
    // already lists them, so it stays empty.
    pdf.set_outline(Outline::new());
    let mut metadata = Metadata::new()
        .title(doc.metadata.title.clone())
        .producer(doc.metadata.producer.clone())
        .language(language)
        .creation_date(created);
    if !doc.metadata.author.is_empty() {
        metadata = metadata.authors(vec![doc.metadata.author.clone()]);
    }
    if rtl {
        metadata = metadata.text_direction(TextDirection::RightToLeft);
    }
    pdf.set_metadata(metadata);
    pdf.finish().map_err(PdfError::from)
}

fn settings() -> Result<SerializeSettings, PdfError> {
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_A)
        .with_accessibility_validator(Accessibility::UA1)
        .finish()
        .map_err(|e| PdfError::Configuration(format!("{e:?}")))?;
    Ok(SerializeSettings {
        configuration,
        enable_tagging: true,
        ..SerializeSettings::default()
    })
}

/// The creation time in UTC, to the second.
fn creation_date(unix_ms: i64) -> Result<DateTime, PdfError> {
    use chrono::{Datelike, Timelike};
    let time = chrono::DateTime::from_timestamp_millis(unix_ms)
        .filter(|time| (1..=9999).contains(&time.year()))
        .ok_or(PdfError::CreationTime(unix_ms))?;
    let year = u16::try_from(time.year()).map_err(|_| PdfError::CreationTime(unix_ms))?;
    let two = |n: u32| u8::try_from(n).unwrap_or(0);
    Ok(DateTime::new(year)
        .month(two(time.month()))
        .day(two(time.day()))
        .hour(two(time.hour()))
        .minute(two(time.minute()))
        .second(two(time.second()))
        .utc_offset_hour(0)
        .utc_offset_minute(0))
}

fn draw(
    surface: &mut Surface,
    fonts: &Fonts,
    mark: &Mark,
    rtl: bool,
    leaves: &mut HashMap<usize, Identifier>,
) {
    match mark {
        Mark::Text {
            x,
            y,
            width,
            align,
            style,
            line,
            content,
        } => {
            if plain(line).trim().is_empty() {
                return;
            }
            let runs = visual_runs(fonts, line, rtl);
            let drawn: f32 = runs.iter().map(|run| run.advance).sum::<f32>() * style.size;
            let mut pen = match align {
                Align::Left => *x,
                Align::Right => x + width - drawn,
            };
            let tag = match content {
                Content::Leaf(_) => ContentTag::Span(SpanTag::empty()),
                Content::Artifact => {
                    ContentTag::Artifact(Artifact::new(ArtifactType::Footer, None))
                }
            };
            let id = surface.start_tagged(tag);
            surface.set_fill(Some(grey_fill(style.grey)));
            for run in runs {
                let start = Point::from_xy(pen, *y);
                let font = run.face.pdf.clone();
                surface.draw_glyphs(start, &run.glyphs, font, &run.text, style.size, false);
                pen += run.advance * style.size;
            }
            surface.end_tagged();
            if let Content::Leaf(n) = content {
                leaves.insert(*n, id);
            }
        }
        Mark::Rule { x, y, width } => {
            let mut path = PathBuilder::new();
            path.move_to(*x, *y);
            path.line_to(x + width, *y);
            let Some(path) = path.finish() else { return };
            surface.start_tagged(ContentTag::Artifact(Artifact::new(
                ArtifactType::Layout,
                None,
            )));
            surface.set_fill(None);
            surface.set_stroke(Some(Stroke {
                paint: rgb::Color::new(153, 153, 153).into(),
                width: 0.5,
                ..Stroke::default()
            }));
            surface.draw_path(&path);
            surface.set_stroke(None);
            surface.end_tagged();
        }
    }
}

fn grey_fill(grey: f32) -> Fill {
    let level = (grey.clamp(0.0, 1.0) * 255.0).round() as u8;
    Fill {
        paint: rgb::Color::new(level, level, level).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// Our structure as krilla's tag tree; groups left with nothing drawn in
/// them are dropped, as PDF/UA wants no empty structure elements.
fn tag(node: Node, leaves: &mut HashMap<usize, Identifier>) -> Option<TagNode> {
    match node {
        Node::Leaf(n) => leaves.remove(&n).map(TagNode::from),
        Node::Group(role, children) => group(kind(role), children, leaves),
        Node::InLanguage(language, node) => match *node {
            Node::Group(role, children) => {
                group(kind(role).with_lang(Some(language)), children, leaves)
            }
            other => tag(other, leaves),
        },
    }
}

fn group(
    kind: TagKind,
    children: Vec<Node>,
    leaves: &mut HashMap<usize, Identifier>,
) -> Option<TagNode> {
    let children: Vec<TagNode> = children
        .into_iter()
        .filter_map(|child| tag(child, leaves))
        .collect();
    (!children.is_empty()).then(|| TagGroup::with_children(kind, children).into())
}

fn kind(role: Role) -> TagKind {
    match role {
        Role::Heading(level, title) => Tag::Hn(
            NonZeroU16::new(level).unwrap_or(NonZeroU16::MIN),
            Some(title),
        )
        .into(),
        Role::Paragraph => Tag::P.into(),
        Role::List { ordered: true } => Tag::L(ListNumbering::Decimal).into(),
        Role::List { ordered: false } => Tag::L(ListNumbering::Disc).into(),
        Role::ListItem => Tag::LI.into(),
        Role::ListLabel => Tag::Lbl.into(),
        Role::ListBody => Tag::LBody.into(),
        Role::Table => Tag::Table.into(),
        Role::TableRow => Tag::TR.into(),
        Role::HeaderCell { of_row: true } => Tag::TH(TableHeaderScope::Row).into(),
        Role::HeaderCell { of_row: false } => Tag::TH(TableHeaderScope::Column).into(),
        Role::Cell => Tag::TD.into(),
        Role::Division => Tag::Div.into(),
    }
}
