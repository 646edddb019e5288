//! Where everything goes on A4: text wrapped by measured glyph widths, rows
//! that must stay together kept together, page breaks, a footer on each page.

use super::font::{Font, Fonts, Weight};
use super::lines::{cut, wrap};
use super::model::{Block, Clause, Document, KeyValue, Signature};

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
const GUTTER: f32 = 14.0;
const SIGNATURE_LINE: f32 = 220.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TextStyle {
    pub(super) weight: Weight,
    pub(super) size: f32,
    leading: f32,
    /// 0 is black, 1 white.
    pub(super) grey: f32,
}

const TITLE: TextStyle = TextStyle::new(Weight::Bold, 16.0, 1.3, 0.0);
const HEADING: TextStyle = TextStyle::new(Weight::Bold, 12.0, 1.4, 0.0);
const BODY: TextStyle = TextStyle::new(Weight::Regular, 10.0, 1.45, 0.0);
const LABEL: TextStyle = TextStyle::new(Weight::Regular, 10.0, 1.45, 0.35);
const ANSWER: TextStyle = TextStyle::new(Weight::Bold, 10.0, 1.45, 0.0);
const SIGNED_NAME: TextStyle = TextStyle::new(Weight::Regular, 14.0, 1.5, 0.0);
const NOTE: TextStyle = TextStyle::new(Weight::Regular, 8.5, 1.4, 0.35);
const FOOTER: TextStyle = TextStyle::new(Weight::Regular, 7.5, 1.3, 0.4);

impl TextStyle {
    const fn new(weight: Weight, size: f32, leading: f32, grey: f32) -> Self {
        Self {
            weight,
            size,
            leading,
            grey,
        }
    }

    fn line_height(self) -> f32 {
        self.size * self.leading
    }
}

/// Something drawn on a page. Inside a `Row`, `y` is measured down from the
/// row's top; once placed on a `Page`, it is PDF's: up from the bottom edge.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Mark {
    Text {
        x: f32,
        y: f32,
        style: TextStyle,
        text: String,
    },
    Rule {
        x: f32,
        y: f32,
        width: f32,
    },
}

pub(super) type Page = Vec<Mark>;

pub(super) fn paginate(doc: &Document, fonts: &Fonts) -> Vec<Page> {
    let setter = Typesetter { fonts };
    let mut groups = vec![setter.title(&doc.metadata.title)];
    groups.extend(doc.blocks.iter().flat_map(|block| setter.block(block)));
    let mut pager = Pager::new();
    for (index, group) in groups.iter().enumerate() {
        pager.place(group, groups.get(index + 1));
    }
    let mut pages = pager.finish();
    let count = pages.len();
    for (index, page) in pages.iter_mut().enumerate() {
        let footer = setter.footer(&doc.footer, index + 1, count);
        page.extend(footer.marks.iter().map(|mark| mark.placed(FOOTER_TOP)));
    }
    pages
}

impl Mark {
    fn placed(&self, top: f32) -> Mark {
        let mut mark = self.clone();
        let (Mark::Text { y, .. } | Mark::Rule { y, .. }) = &mut mark;
        *y = PAGE_HEIGHT - top - *y;
        mark
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

/// Places text so its capitals sit in the middle of the row.
fn text_mark(x: f32, style: TextStyle, text: &str, row_height: f32) -> Mark {
    let y = (row_height + 0.7 * style.size) / 2.0;
    Mark::Text {
        x,
        y,
        style,
        text: text.to_owned(),
    }
}

/// Text already broken into lines, to be set from `x` in one style.
struct Column {
    x: f32,
    style: TextStyle,
    lines: Vec<String>,
}

/// Side-by-side columns become rows: row `i` holds each column's line `i`.
fn side_by_side(columns: &[Column]) -> Vec<Row> {
    let count = columns.iter().map(|c| c.lines.len()).max().unwrap_or(0);
    let height = columns
        .iter()
        .map(|c| c.style.line_height())
        .fold(0.0, f32::max);
    let row = |i: usize| Row {
        height,
        marks: columns
            .iter()
            .filter_map(|c| Some(text_mark(c.x, c.style, c.lines.get(i)?, height)))
            .collect(),
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
}

impl Typesetter<'_> {
    fn title(&self, title: &str) -> Group {
        let mut rows = self.lines(TITLE, title, TEXT_WIDTH);
        rows.push(Row::rule(TEXT_WIDTH, 16.0));
        Group::new(0.0, Keep::Together, rows)
    }

    fn block(&self, block: &Block) -> Vec<Group> {
        match block {
            Block::Heading(text) => vec![self.heading(text)],
            Block::Paragraph(text) => vec![self.paragraph(text)],
            Block::KeyValues(pairs) => pairs.iter().map(|pair| self.key_value(pair)).collect(),
            Block::Clauses(clauses) => clauses
                .iter()
                .enumerate()
                .map(|(i, clause)| self.clause(clause, i == 0))
                .collect(),
            Block::Signature(signature) => vec![self.signature(signature)],
        }
    }

    fn heading(&self, text: &str) -> Group {
        Group::new(14.0, Keep::WithNext, self.lines(HEADING, text, TEXT_WIDTH))
    }

    fn paragraph(&self, text: &str) -> Group {
        Group::new(6.0, Keep::Flow, self.lines(BODY, text, TEXT_WIDTH))
    }

    fn key_value(&self, pair: &KeyValue) -> Group {
        let value_x = MARGIN + LABEL_WIDTH + GUTTER;
        let value_width = TEXT_WIDTH - LABEL_WIDTH - GUTTER;
        let rows = side_by_side(&[
            self.column(MARGIN, LABEL, &pair.label, LABEL_WIDTH),
            self.column(value_x, BODY, &pair.value, value_width),
        ]);
        Group::new(3.0, Keep::Together, rows)
    }

    /// Ruled like a table: a rule under each clause, and above the first.
    fn clause(&self, clause: &Clause, first: bool) -> Group {
        let text_width = TEXT_WIDTH - ANSWER_WIDTH - GUTTER;
        let answer_x = MARGIN + TEXT_WIDTH - ANSWER_WIDTH;
        let mut rows = side_by_side(&[
            self.column(MARGIN, BODY, &clause.text, text_width),
            self.column(answer_x, ANSWER, &clause.answer, ANSWER_WIDTH),
        ]);
        if first {
            rows.insert(0, Row::rule(TEXT_WIDTH, 10.0));
        }
        rows.push(Row::rule(TEXT_WIDTH, 10.0));
        Group::new(4.0, Keep::Together, rows)
    }

    fn signature(&self, signature: &Signature) -> Group {
        let mut rows = self.lines(LABEL, &signature.label, TEXT_WIDTH);
        rows.extend(self.lines(SIGNED_NAME, &signature.name, SIGNATURE_LINE));
        rows.push(Row::rule(SIGNATURE_LINE, 6.0));
        rows.extend(self.lines(NOTE, &signature.time, TEXT_WIDTH));
        Group::new(14.0, Keep::Together, rows)
    }

    /// A rule, the footer text cut to fit, and "Page N of M" at the right.
    fn footer(&self, text: &str, number: usize, count: usize) -> Row {
        let page = format!("Page {number} of {count}");
        let page_width = self.font(FOOTER).width(&page, FOOTER.size);
        let text_width = TEXT_WIDTH - page_width - GUTTER;
        let text = cut(self.font(FOOTER), FOOTER.size, text, text_width);
        let height = FOOTER.line_height() + 8.0;
        let marks = vec![
            Mark::Rule {
                x: MARGIN,
                y: 0.0,
                width: TEXT_WIDTH,
            },
            text_mark(MARGIN, FOOTER, &text, height),
            text_mark(MARGIN + TEXT_WIDTH - page_width, FOOTER, &page, height),
        ];
        Row { height, marks }
    }

    /// Text set from the left margin, one row per line.
    fn lines(&self, style: TextStyle, text: &str, width: f32) -> Vec<Row> {
        side_by_side(&[self.column(MARGIN, style, text, width)])
    }

    fn column(&self, x: f32, style: TextStyle, text: &str, width: f32) -> Column {
        Column {
            x,
            style,
            lines: wrap(self.font(style), style.size, text, width),
        }
    }

    fn font(&self, style: TextStyle) -> &Font {
        self.fonts.get(style.weight)
    }
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

    /// Filler lines, then a heading over a three-line clause, so that across
    /// the range the heading lands at every height near the page bottom.
    fn pages_with_heading_after(filler_lines: usize) -> Vec<Page> {
        let metadata = Metadata {
            title: "Title".into(),
            author: String::new(),
            producer: String::new(),
            created_unix_ms: 0,
        };
        let blocks = vec![
            Block::Paragraph("line\n".repeat(filler_lines)),
            Block::Heading("Your answers".into()),
            Block::Clauses(vec![Clause::new("one\ntwo\nthree", "Yes")]),
        ];
        let doc = Document {
            metadata,
            footer: "footer".into(),
            blocks,
        };
        paginate(&doc, &Fonts::load().unwrap())
    }

    fn page_of(pages: &[Page], needle: &str) -> Option<usize> {
        let is_needle = |mark: &Mark| matches!(mark, Mark::Text { text, .. } if text == needle);
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
                assert!(lowest.fold(PAGE_HEIGHT, f32::min) >= PAGE_HEIGHT - BODY_BOTTOM);
            }
        }
    }
}
