//! Where everything goes on A4, and what it is: text wrapped by shaped
//! widths, rows that must stay together kept together, page breaks, a
//! footer on each page, and the logical structure (headings, paragraphs,
//! lists, tables) each line belongs to. Right-to-left documents are laid
//! out left to right and then mirrored.

use std::cell::Cell;

use super::fonts::{Fonts, Look};
use super::model::{Block, Clause, Direction, Document, Emphasis, KeyValue, Signature, Span};
use super::text::{cut, plain, width, wrap, Line, Piece};

pub(super) const PAGE_WIDTH: f32 = 595.28;
pub(super) const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.69; // 20 mm
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// Distances from the top edge: the body ends well above the footer.
const BODY_TOP: f32 = MARGIN;
const BODY_BOTTOM: f32 = PAGE_HEIGHT - 76.0;
const FOOTER_TOP: f32 = PAGE_HEIGHT - 50.0;
const LABEL_WIDTH: f32 = 150.0;
const ANSWER_WIDTH: f32 = 80.0;
const LIST_INDENT: f32 = 18.0;
const GUTTER: f32 = 14.0;
const SIGNATURE_LINE: f32 = 220.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TextStyle {
    pub(super) look: Look,
    pub(super) size: f32,
    leading: f32,
    /// 0 is black, 1 white.
    pub(super) grey: f32,
}

const TITLE: TextStyle = TextStyle::new(Look::BOLD, 16.0, 1.3, 0.0);
const HEADING: TextStyle = TextStyle::new(Look::BOLD, 12.0, 1.4, 0.0);
const BODY: TextStyle = TextStyle::new(Look::REGULAR, 10.0, 1.45, 0.0);
const LABEL: TextStyle = TextStyle::new(Look::REGULAR, 10.0, 1.45, 0.35);
const ANSWER: TextStyle = TextStyle::new(Look::BOLD, 10.0, 1.45, 0.0);
const SIGNED_NAME: TextStyle = TextStyle::new(Look::REGULAR, 14.0, 1.5, 0.0);
const NOTE: TextStyle = TextStyle::new(Look::REGULAR, 8.5, 1.4, 0.35);
const FOOTER: TextStyle = TextStyle::new(Look::REGULAR, 7.5, 1.3, 0.4);

impl TextStyle {
    const fn new(look: Look, size: f32, leading: f32, grey: f32) -> Self {
        Self {
            look,
            size,
            leading,
            grey,
        }
    }

    fn line_height(self) -> f32 {
        self.size * self.leading
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Right,
}

/// Whether drawn text is part of the document or of the page furniture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Content {
    /// A leaf of the structure, by number.
    Leaf(usize),
    /// Footer and page number: read once, not on every page.
    Artifact,
}

/// Something drawn on a page. `y` is measured down from the top: of the
/// row inside a `Row`, of the page once placed. Text sits on its baseline
/// in a box `width` wide starting at `x`, aligned in it by `align`.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Mark {
    Text {
        x: f32,
        y: f32,
        width: f32,
        align: Align,
        style: TextStyle,
        line: Line,
        content: Content,
    },
    Rule {
        x: f32,
        y: f32,
        width: f32,
    },
}

pub(super) type Page = Vec<Mark>;

/// The logical structure in reading order, as PDF tags name it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Role {
    /// Level 1 is the document title; the text is the heading's title.
    Heading(u16, String),
    Paragraph,
    List {
        ordered: bool,
    },
    ListItem,
    ListLabel,
    ListBody,
    Table,
    TableRow,
    /// A header cell for its column, or for its row.
    HeaderCell {
        of_row: bool,
    },
    Cell,
    Division,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    Group(Role, Vec<Node>),
    /// A node in a language other than the document's.
    InLanguage(String, Box<Node>),
    Leaf(usize),
}

pub(super) struct Laid {
    pub(super) pages: Vec<Page>,
    pub(super) structure: Vec<Node>,
}

pub(super) fn lay_out(doc: &Document, fonts: &Fonts) -> Laid {
    let setter = Typesetter {
        fonts,
        leaves: Cell::new(0),
        heading_level: Cell::new(1),
        interface: doc
            .interface_language
            .as_deref()
            .filter(|l| *l != doc.metadata.language),
    };
    let (mut groups, mut structure) = setter.title(&doc.metadata.title);
    for block in &doc.blocks {
        let (block_groups, node) = setter.block(block);
        groups.extend(block_groups);
        structure.extend(node);
    }
    let mut pager = Pager::new();
    for (index, group) in groups.iter().enumerate() {
        pager.place(group, groups.get(index + 1));
    }
    let mut pages = pager.finish();
    let count = pages.len();
    for (index, page) in pages.iter_mut().enumerate() {
        let label = doc
            .page_label
            .replace("{page}", &(index + 1).to_string())
            .replace("{pages}", &count.to_string());
        let footer = setter.footer(&doc.footer, &label);
        page.extend(footer.marks.iter().map(|mark| mark.placed(FOOTER_TOP)));
    }
    if doc.direction() == Direction::RightToLeft {
        pages.iter_mut().flatten().for_each(Mark::mirror);
    }
    Laid { pages, structure }
}

impl Mark {
    fn placed(&self, top: f32) -> Mark {
        let mut mark = self.clone();
        let (Mark::Text { y, .. } | Mark::Rule { y, .. }) = &mut mark;
        *y += top;
        mark
    }

    /// The mark as it stands on a page read from right to left.
    fn mirror(&mut self) {
        match self {
            Mark::Text {
                x, width, align, ..
            } => {
                *x = PAGE_WIDTH - *x - *width;
                *align = match align {
                    Align::Left => Align::Right,
                    Align::Right => Align::Left,
                };
            }
            Mark::Rule { x, width, .. } => *x = PAGE_WIDTH - *x - *width,
        }
    }
}

/// One line across the text column, possibly holding several cells.
struct Row {
    height: f32,
    marks: Vec<Mark>,
}

impl Row {
    fn rule(width: f32, height: f32) -> Row {
        let rule = Mark::Rule {
            x: MARGIN,
            y: height / 2.0,
            width,
        };
        Row {
            height,
            marks: vec![rule],
        }
    }
}

/// Text already broken into lines, to be set in a box from `x` in one style;
/// each line that shows anything is a leaf of the structure.
struct Column {
    x: f32,
    width: f32,
    align: Align,
    style: TextStyle,
    lines: Vec<(Line, Option<usize>)>,
}

impl Column {
    fn leaves(&self) -> Vec<Node> {
        self.lines
            .iter()
            .filter_map(|(_, leaf)| leaf.map(Node::Leaf))
            .collect()
    }

    /// The mark for line `i`, its capitals in the middle of the row.
    fn mark(&self, i: usize, row_height: f32) -> Option<Mark> {
        let (line, leaf) = self.lines.get(i)?;
        Some(Mark::Text {
            x: self.x,
            y: (row_height + 0.7 * self.style.size) / 2.0,
            width: self.width,
            align: self.align,
            style: self.style,
            line: line.clone(),
            content: leaf.map_or(Content::Artifact, Content::Leaf),
        })
    }
}

/// Side-by-side columns become rows: row `i` holds each column's line `i`.
fn side_by_side(columns: &[&Column]) -> Vec<Row> {
    let count = columns.iter().map(|c| c.lines.len()).max().unwrap_or(0);
    let height = columns
        .iter()
        .map(|c| c.style.line_height())
        .fold(0.0, f32::max);
    let row = |i: usize| Row {
        height,
        marks: columns.iter().filter_map(|c| c.mark(i, height)).collect(),
    };
    (0..count).map(row).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// May break between any two rows.
    Flow,
    /// Moves to the next page whole if it fits there.
    Together,
    /// Together, and with the opening of the next group (headings).
    WithNext,
}

struct Group {
    space_before: f32,
    keep: Keep,
    rows: Vec<Row>,
}

impl Group {
    fn new(space_before: f32, keep: Keep, rows: Vec<Row>) -> Self {
        Self {
            space_before,
            keep,
            rows,
        }
    }

    fn height(&self) -> f32 {
        self.rows.iter().map(|row| row.height).sum()
    }

    /// What must fit below a heading for the heading to stay on its page.
    fn opening_height(&self) -> f32 {
        match (self.keep, self.rows.first()) {
            (Keep::Flow, Some(row)) => row.height,
            (Keep::Flow, None) => 0.0,
            _ => self.height(),
        }
    }
}

struct Typesetter<'a> {
    fonts: &'a Fonts,
    /// Leaves numbered so far.
    leaves: Cell<usize>,
    /// The level of the last heading, so that levels never skip one.
    heading_level: Cell<u16>,
    /// The language of fieldkit's own words, when not the document's.
    interface: Option<&'a str>,
}

type Laid1 = (Vec<Group>, Vec<Node>);

impl Typesetter<'_> {
    fn title(&self, title: &str) -> Laid1 {
        let column = self.column(MARGIN, TEXT_WIDTH, TITLE, &self.plain(title, TITLE));
        let mut rows = side_by_side(&[&column]);
        rows.push(Row::rule(TEXT_WIDTH, 16.0));
        let heading = Node::Group(Role::Heading(1, title.to_owned()), column.leaves());
        (vec![Group::new(0.0, Keep::Together, rows)], vec![heading])
    }

    fn block(&self, block: &Block) -> Laid1 {
        match block {
            Block::Heading { level, text } => self.heading(*level, text),
            Block::Paragraph(spans) => self.paragraph(spans),
            Block::List { ordered, items } => self.list(*ordered, items),
            Block::KeyValues(pairs) => self.key_values(pairs),
            Block::Clauses { headers, rows } => self.clauses(headers, rows),
            Block::Signature(signature) => {
                let (groups, nodes) = self.signature(signature);
                (groups, nodes.into_iter().map(|n| self.ours(n)).collect())
            }
            Block::Section(text) => {
                let (groups, nodes) = self.heading(1, text);
                (groups, nodes.into_iter().map(|n| self.ours(n)).collect())
            }
        }
    }

    /// A node of fieldkit's own words, tagged with their language when it
    /// is not the document's.
    fn ours(&self, node: Node) -> Node {
        match self.interface {
            Some(language) => Node::InLanguage(language.to_owned(), Box::new(node)),
            None => node,
        }
    }

    /// The title is level 1, so a heading of level 1 is tagged H2.
    fn heading(&self, level: u8, text: &str) -> Laid1 {
        if text.trim().is_empty() {
            return (Vec::new(), Vec::new());
        }
        let wanted = u16::from(level.clamp(1, 3)) + 1;
        let level = wanted.min(self.heading_level.get() + 1);
        self.heading_level.set(level);
        let column = self.column(MARGIN, TEXT_WIDTH, HEADING, &self.plain(text, HEADING));
        let group = Group::new(14.0, Keep::WithNext, side_by_side(&[&column]));
        let node = Node::Group(Role::Heading(level, text.to_owned()), column.leaves());
        (vec![group], vec![node])
    }

    fn paragraph(&self, spans: &[Span]) -> Laid1 {
        let column = self.column(MARGIN, TEXT_WIDTH, BODY, &self.spans(spans));
        let group = Group::new(6.0, Keep::Flow, side_by_side(&[&column]));
        (
            vec![group],
            vec![Node::Group(Role::Paragraph, column.leaves())],
        )
    }

    fn list(&self, ordered: bool, items: &[Vec<Span>]) -> Laid1 {
        let mut groups = Vec::new();
        let mut nodes = Vec::new();
        for (n, item) in items.iter().enumerate() {
            let label = if ordered {
                format!("{}.", n + 1)
            } else {
                "•".to_owned()
            };
            let label = self.column(MARGIN, LIST_INDENT, BODY, &self.plain(&label, BODY));
            let body_x = MARGIN + LIST_INDENT;
            let body = self.column(body_x, TEXT_WIDTH - LIST_INDENT, BODY, &self.spans(item));
            groups.push(Group::new(3.0, Keep::Flow, side_by_side(&[&label, &body])));
            let children = vec![
                Node::Group(Role::ListLabel, label.leaves()),
                Node::Group(Role::ListBody, body.leaves()),
            ];
            nodes.push(Node::Group(Role::ListItem, children));
        }
        (groups, vec![Node::Group(Role::List { ordered }, nodes)])
    }

    /// A table of two columns, each label heading its row.
    fn key_values(&self, pairs: &[KeyValue]) -> Laid1 {
        let value_x = MARGIN + LABEL_WIDTH + GUTTER;
        let value_width = TEXT_WIDTH - LABEL_WIDTH - GUTTER;
        let mut groups = Vec::new();
        let mut rows = Vec::new();
        for pair in pairs {
            let label = self.column(MARGIN, LABEL_WIDTH, LABEL, &self.plain(&pair.label, LABEL));
            let value = self.column(value_x, value_width, BODY, &self.plain(&pair.value, BODY));
            groups.push(Group::new(
                3.0,
                Keep::Together,
                side_by_side(&[&label, &value]),
            ));
            rows.push(table_row(vec![
                cell(Role::HeaderCell { of_row: true }, &label),
                cell(Role::Cell, &value),
            ]));
        }
        (groups, vec![self.ours(Node::Group(Role::Table, rows))])
    }

    /// Ruled like a table: the column headers, a rule, and a rule under
    /// each clause. The headers stay with the first clause.
    fn clauses(&self, headers: &[String; 2], clauses: &[Clause]) -> Laid1 {
        let text_width = TEXT_WIDTH - ANSWER_WIDTH - GUTTER;
        let answer_x = MARGIN + TEXT_WIDTH - ANSWER_WIDTH;
        let header_text = self.column(MARGIN, text_width, LABEL, &self.plain(&headers[0], LABEL));
        let header_answer = self.column(
            answer_x,
            ANSWER_WIDTH,
            LABEL,
            &self.plain(&headers[1], LABEL),
        );
        let mut opening = side_by_side(&[&header_text, &header_answer]);
        opening.push(Row::rule(TEXT_WIDTH, 10.0));
        let mut rows = vec![table_row(vec![
            self.ours(cell(Role::HeaderCell { of_row: false }, &header_text)),
            self.ours(cell(Role::HeaderCell { of_row: false }, &header_answer)),
        ])];
        let mut groups = Vec::new();
        for clause in clauses {
            let text = self.column(MARGIN, text_width, BODY, &self.plain(&clause.text, BODY));
            let answer = self.column(
                answer_x,
                ANSWER_WIDTH,
                ANSWER,
                &self.plain(&clause.answer, ANSWER),
            );
            let mut group_rows = std::mem::take(&mut opening);
            group_rows.extend(side_by_side(&[&text, &answer]));
            group_rows.push(Row::rule(TEXT_WIDTH, 10.0));
            groups.push(Group::new(4.0, Keep::Together, group_rows));
            rows.push(table_row(vec![
                cell(Role::Cell, &text),
                self.ours(cell(Role::Cell, &answer)),
            ]));
        }
        if !opening.is_empty() {
            groups.push(Group::new(4.0, Keep::Together, opening));
        }
        (groups, vec![Node::Group(Role::Table, rows)])
    }

    fn signature(&self, signature: &Signature) -> Laid1 {
        let label = self.column(
            MARGIN,
            TEXT_WIDTH,
            LABEL,
            &self.plain(&signature.label, LABEL),
        );
        let name = self.column(
            MARGIN,
            SIGNATURE_LINE,
            SIGNED_NAME,
            &self.plain(&signature.name, SIGNED_NAME),
        );
        let time = self.column(MARGIN, TEXT_WIDTH, NOTE, &self.plain(&signature.time, NOTE));
        let mut rows = side_by_side(&[&label]);
        rows.extend(side_by_side(&[&name]));
        rows.push(Row::rule(SIGNATURE_LINE, 6.0));
        rows.extend(side_by_side(&[&time]));
        let paragraphs = [label, name, time]
            .iter()
            .map(|column| Node::Group(Role::Paragraph, column.leaves()))
            .collect();
        let group = Group::new(14.0, Keep::Together, rows);
        (vec![group], vec![Node::Group(Role::Division, paragraphs)])
    }

    /// A rule, the footer text cut to fit, and the page label at the end.
    fn footer(&self, text: &str, label: &str) -> Row {
        let label_width = width(self.fonts, &self.plain(label, FOOTER), FOOTER.size);
        let text_width = TEXT_WIDTH - label_width - GUTTER;
        let text = cut(self.fonts, FOOTER.look, FOOTER.size, text, text_width);
        let height = FOOTER.line_height() + 8.0;
        let artifact = |x: f32, width: f32, align: Align, text: &str| Column {
            x,
            width,
            align,
            style: FOOTER,
            lines: vec![(self.plain(text, FOOTER), None)],
        };
        let mut marks = vec![Mark::Rule {
            x: MARGIN,
            y: 0.0,
            width: TEXT_WIDTH,
        }];
        let label = artifact(MARGIN, TEXT_WIDTH, Align::Right, label);
        let text = artifact(MARGIN, text_width, Align::Left, &text);
        marks.extend(
            [text.mark(0, height), label.mark(0, height)]
                .into_iter()
                .flatten(),
        );
        Row { height, marks }
    }

    fn column(&self, x: f32, width: f32, style: TextStyle, pieces: &[Piece]) -> Column {
        let lines = wrap(self.fonts, pieces, style.size, width)
            .into_iter()
            .map(|line| {
                let shows = !plain(&line).trim().is_empty();
                let leaf = shows.then(|| self.leaves.replace(self.leaves.get() + 1));
                (line, leaf)
            })
            .collect();
        Column {
            x,
            width,
            align: Align::Left,
            style,
            lines,
        }
    }

    fn plain(&self, text: &str, style: TextStyle) -> Vec<Piece> {
        vec![Piece::new(self.fonts.printable(text), style.look)]
    }

    /// Spans in their looks; a link's address follows its text.
    fn spans(&self, spans: &[Span]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for span in spans {
            let look = Look {
                bold: matches!(span.emphasis, Emphasis::Strong | Emphasis::StrongEmphasis),
                italic: span.emphasis == Emphasis::Emphasis,
            };
            pieces.push(Piece::new(self.fonts.printable(&span.text), look));
            if let Some(url) = &span.link {
                let url = format!(" ({})", self.fonts.printable(url));
                pieces.push(Piece::new(url, Look::REGULAR));
            }
        }
        pieces
    }
}

fn cell(role: Role, column: &Column) -> Node {
    Node::Group(role, column.leaves())
}

fn table_row(cells: Vec<Node>) -> Node {
    Node::Group(Role::TableRow, cells)
}

/// Fills pages top to bottom, starting a new page when a row would cross
/// the bottom margin or a group that must stay together does not fit.
struct Pager {
    done: Vec<Page>,
    page: Page,
    top: f32,
}

impl Pager {
    fn new() -> Self {
        Pager {
            done: Vec::new(),
            page: Vec::new(),
            top: BODY_TOP,
        }
    }

    fn place(&mut self, group: &Group, next: Option<&Group>) {
        let follower = match (group.keep, next) {
            (Keep::WithNext, Some(next)) => next.space_before + next.opening_height(),
            _ => 0.0,
        };
        let needed = group.height() + follower;
        let fits_empty_page = needed <= BODY_BOTTOM - BODY_TOP;
        let fits_here = group.space_before + needed <= BODY_BOTTOM - self.top;
        if group.keep != Keep::Flow && !fits_here && fits_empty_page {
            self.break_page();
        }
        if !self.at_top() {
            self.top += group.space_before;
        }
        for row in &group.rows {
            self.place_row(row);
        }
    }

    fn place_row(&mut self, row: &Row) {
        if self.top + row.height > BODY_BOTTOM {
            self.break_page();
        }
        self.page
            .extend(row.marks.iter().map(|mark| mark.placed(self.top)));
        self.top += row.height;
    }

    fn at_top(&self) -> bool {
        self.top <= BODY_TOP
    }

    /// Never leaves a page empty, so an oversized row cannot loop forever.
    fn break_page(&mut self) {
        if !self.at_top() {
            self.done.push(std::mem::take(&mut self.page));
            self.top = BODY_TOP;
        }
    }

    fn finish(mut self) -> Vec<Page> {
        self.done.push(self.page);
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::Metadata;

    fn document(language: &str, blocks: Vec<Block>) -> Document {
        let metadata = Metadata {
            title: "Title".into(),
            author: String::new(),
            producer: String::new(),
            created_unix_ms: 0,
            language: language.into(),
        };
        Document {
            metadata,
            footer: "footer".into(),
            page_label: "Page {page} of {pages}".into(),
            interface_language: None,
            blocks,
        }
    }

    /// Filler lines, then a heading over a three-line clause, so that across
    /// the range the heading lands at every height near the page bottom.
    fn pages_with_heading_after(filler_lines: usize) -> Vec<Page> {
        let blocks = vec![
            Block::Paragraph(vec![Span::plain("line\n".repeat(filler_lines))]),
            Block::Heading {
                level: 1,
                text: "Your answers".into(),
            },
            Block::Clauses {
                headers: ["Statement".into(), "Answer".into()],
                rows: vec![Clause::new("one\ntwo\nthree", "Yes")],
            },
        ];
        lay_out(&document("en-GB", blocks), &Fonts::load()).pages
    }

    fn page_of(pages: &[Page], needle: &str) -> Option<usize> {
        let is_needle =
            |mark: &Mark| matches!(mark, Mark::Text { line, .. } if plain(line) == needle);
        pages.iter().position(|page| page.iter().any(is_needle))
    }

    #[test]
    fn a_heading_never_ends_a_page_without_what_follows() {
        let mut heading_pages = Vec::new();
        for filler in 35..55 {
            let pages = pages_with_heading_after(filler);
            let heading = page_of(&pages, "Your answers");
            assert_eq!(heading, page_of(&pages, "three"), "{filler}");
            assert_eq!(page_of(&pages, "one"), page_of(&pages, "three"), "{filler}");
            heading_pages.push(heading);
        }
        assert!(heading_pages.contains(&Some(0)) && heading_pages.contains(&Some(1)));
    }

    #[test]
    fn only_the_footer_is_set_in_the_bottom_margin() {
        for filler in 35..55 {
            for page in pages_with_heading_after(filler) {
                let lowest = page.iter().filter_map(|mark| match mark {
                    Mark::Text { y, style, .. } if *style != FOOTER => Some(*y),
                    _ => None,
                });
                assert!(lowest.fold(0.0, f32::max) <= BODY_BOTTOM);
            }
        }
    }

    #[test]
    fn headings_never_skip_a_level_below_the_title() {
        let heading = |level, text: &str| Block::Heading {
            level,
            text: text.into(),
        };
        let doc = document("en", vec![heading(3, "deep"), heading(1, "top")]);
        let levels: Vec<u16> = lay_out(&doc, &Fonts::load())
            .structure
            .iter()
            .filter_map(|node| match node {
                Node::Group(Role::Heading(level, _), _) => Some(*level),
                _ => None,
            })
            .collect();
        assert_eq!(levels, [1, 2, 2]);
    }

    #[test]
    fn right_to_left_documents_are_mirrored() {
        let clauses = Block::Clauses {
            headers: ["بیان".into(), "جواب".into()],
            rows: vec![Clause::new("میں متفق ہوں", "ہاں")],
        };
        let pages = lay_out(&document("ur-PK", vec![clauses]), &Fonts::load()).pages;
        let x_of = |needle: &str| {
            pages[0].iter().find_map(|mark| match mark {
                Mark::Text { x, line, align, .. } if plain(line) == needle => Some((*x, *align)),
                _ => None,
            })
        };
        let (statement_x, align) = x_of("میں متفق ہوں").unwrap();
        let (answer_x, _) = x_of("ہاں").unwrap();
        assert!(statement_x > answer_x, "the first column is on the right");
        assert_eq!(align, Align::Right);
    }
}
