//! Text that teams write as Markdown (consent form bodies, withdrawal
//! policies), parsed once by pulldown-cmark and given three ways: checked for
//! what a form may not hold, as escaped HTML for pages, and as the PDF's
//! tagged blocks. It refuses raw HTML, images and links that are not web or
//! mail addresses; pages escape them all the same.

use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

use crate::pdf::{Block, Emphasis, Span};

/// Something a form's Markdown may not hold, and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub offset: usize,
    pub message: String,
}

/// The schemes a link in a form may use: a participant taps it on a phone.
fn is_safe_link(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    ["https://", "http://", "mailto:", "tel:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(markdown, Options::empty())
}

/// Every construct a form may not hold, in the order written.
pub fn refused(markdown: &str) -> Vec<Refused> {
    let mut found = Vec::new();
    for (event, range) in parser(markdown).into_offset_iter() {
        let message = match event {
            Event::Html(_) | Event::InlineHtml(_) => {
                "HTML is not allowed in a form: write Markdown (# for headings, - for lists, *emphasis*)".to_owned()
            }
            Event::Start(Tag::Image { .. }) => {
                "images are not allowed in a form: describe it in words, or link to it".to_owned()
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) if link_type != LinkType::Email && !is_safe_link(&dest_url) => {
                format!("the link \"{dest_url}\" must start with https://, http://, mailto: or tel:")
            }
            _ => continue,
        };
        found.push(Refused {
            offset: range.start,
            message,
        });
    }
    found
}

/// Escaped HTML for a page. Headings start at `<h2>` (the page's title is the
/// `<h1>`); raw HTML is shown as text and unsafe links as their words.
pub fn to_html(markdown: &str) -> String {
    let mut unsafe_links = 0usize;
    let events = parser(markdown).filter_map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Some(Event::Start(Tag::Heading {
            level: below(level),
            id,
            classes,
            attrs,
        })),
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(below(level)))),
        Event::Start(Tag::Link { dest_url, .. })
            if !is_safe_link(&dest_url) && !is_email(&dest_url) =>
        {
            unsafe_links += 1;
            None
        }
        Event::End(TagEnd::Link) if unsafe_links > 0 => {
            unsafe_links -= 1;
            None
        }
        Event::Start(Tag::Image { dest_url, .. }) => {
            Some(Event::Text(CowStr::from(format!("[image: {dest_url}] "))))
        }
        Event::End(TagEnd::Image) => None,
        other => Some(other),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// An email autolink's destination, which pulldown-cmark gives without `mailto:`.
fn is_email(url: &str) -> bool {
    !url.contains(':') && url.contains('@')
}

fn below(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

/// Collects the spans of one paragraph, heading or list item.
#[derive(Default)]
struct Spans {
    spans: Vec<Span>,
    strong: usize,
    emphasis: usize,
    link: Vec<Option<String>>,
}

impl Spans {
    fn push(&mut self, text: &str) {
        let emphasis = match (self.strong > 0, self.emphasis > 0) {
            (false, false) => Emphasis::None,
            (true, false) => Emphasis::Strong,
            (false, true) => Emphasis::Emphasis,
            (true, true) => Emphasis::StrongEmphasis,
        };
        let link = self.link.iter().rev().find_map(Clone::clone);
        match self.spans.last_mut() {
            Some(last) if last.emphasis == emphasis && last.link == link => {
                last.text.push_str(text);
            }
            _ => self.spans.push(Span {
                text: text.to_owned(),
                emphasis,
                link,
            }),
        }
    }

    fn take(&mut self) -> Vec<Span> {
        let mut spans = std::mem::take(&mut self.spans);
        if let Some(first) = spans.first_mut() {
            first.text = first.text.trim_start().to_owned();
        }
        if let Some(last) = spans.last_mut() {
            last.text = last.text.trim_end().to_owned();
        }
        spans.retain(|s| !s.text.is_empty());
        spans
    }

    fn text(&mut self) -> String {
        self.take().into_iter().map(|s| s.text).collect()
    }
}

/// An open list: whether numbered, and the items finished so far.
struct OpenList {
    ordered: bool,
    items: Vec<Vec<Span>>,
}

/// The PDF's blocks: headings (`#` is level 1), paragraphs, and lists, with
/// emphasis and links kept. A list inside a list becomes more items of the
/// outer one, and a quote or code its plain words.
pub fn to_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut spans = Spans::default();
    let mut lists: Vec<OpenList> = Vec::new();
    for event in parser(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                spans.push(&t);
            }
            Event::SoftBreak => spans.push(" "),
            Event::HardBreak => spans.push("\n"),
            Event::Start(Tag::Strong) => spans.strong += 1,
            Event::End(TagEnd::Strong) => spans.strong = spans.strong.saturating_sub(1),
            Event::Start(Tag::Emphasis) => spans.emphasis += 1,
            Event::End(TagEnd::Emphasis) => spans.emphasis = spans.emphasis.saturating_sub(1),
            Event::Start(Tag::Link { dest_url, .. }) => {
                let safe = is_safe_link(&dest_url) || is_email(&dest_url);
                spans.link.push(safe.then(|| dest_url.to_string()));
            }
            Event::End(TagEnd::Link) => {
                spans.link.pop();
            }
            Event::Start(Tag::List(first)) => {
                // Words before a nested list belong to the item that holds it.
                if let Some(outer) = lists.last_mut() {
                    let words = spans.take();
                    if !words.is_empty() {
                        outer.items.push(words);
                    }
                }
                lists.push(OpenList {
                    ordered: first.is_some(),
                    items: Vec::new(),
                });
            }
            Event::End(TagEnd::List(_)) => {
                let Some(done) = lists.pop() else { continue };
                match lists.last_mut() {
                    Some(outer) => outer.items.extend(done.items),
                    None => blocks.push(Block::List {
                        ordered: done.ordered,
                        items: done.items,
                    }),
                }
            }
            Event::End(TagEnd::Item) => {
                let words = spans.take();
                if let (Some(list), false) = (lists.last_mut(), words.is_empty()) {
                    list.items.push(words);
                }
            }
            Event::End(TagEnd::Heading(level)) => blocks.push(Block::Heading {
                level: match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    _ => 3,
                },
                text: spans.text(),
            }),
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock) if lists.is_empty() => {
                let words = spans.take();
                if !words.is_empty() {
                    blocks.push(Block::Paragraph(words));
                }
            }
            Event::End(TagEnd::Paragraph) => spans.push(" "),
            _ => {}
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Span {
        Span::plain(text)
    }

    fn styled(text: &str, emphasis: Emphasis) -> Span {
        Span {
            emphasis,
            ..Span::plain(text)
        }
    }

    #[test]
    fn a_bulleted_list_stays_a_list_in_the_pdf_with_its_emphasis() {
        let md = "Thank you.\nYou may be asked to:\n\n- answer a *vox pop*, about\n  five minutes;\n- take part in an **interview**.\n\nPlease read.";
        assert_eq!(
            to_blocks(md),
            [
                Block::Paragraph(vec![plain("Thank you. You may be asked to:")]),
                Block::List {
                    ordered: false,
                    items: vec![
                        vec![
                            plain("answer a "),
                            styled("vox pop", Emphasis::Emphasis),
                            plain(", about five minutes;"),
                        ],
                        vec![
                            plain("take part in an "),
                            styled("interview", Emphasis::Strong),
                            plain("."),
                        ],
                    ],
                },
                Block::Paragraph(vec![plain("Please read.")]),
            ]
        );
    }

    #[test]
    fn headings_keep_their_levels_in_the_pdf() {
        let blocks = to_blocks("## Designing Together\n\nText.\n\n### Who we are");
        assert_eq!(
            blocks[0],
            Block::Heading {
                level: 2,
                text: "Designing Together".into()
            }
        );
        assert_eq!(
            blocks[2],
            Block::Heading {
                level: 3,
                text: "Who we are".into()
            }
        );
    }

    #[test]
    fn a_numbered_list_with_a_nested_list_keeps_every_item() {
        let md = "1. first\n2. second:\n   - inner a\n   - inner b\n3. third";
        let blocks = to_blocks(md);
        let Block::List { ordered, items } = &blocks[0] else {
            panic!("not a list: {blocks:?}");
        };
        assert!(ordered);
        let words: Vec<String> = items
            .iter()
            .map(|i| i.iter().map(|s| s.text.as_str()).collect())
            .collect();
        assert_eq!(words, ["first", "second:", "inner a", "inner b", "third"]);
    }

    #[test]
    fn a_blockquote_and_code_become_plain_paragraphs() {
        let md = "> **Note.** Read\n> this.\n\n    code here";
        assert_eq!(
            to_blocks(md),
            [
                Block::Paragraph(vec![
                    styled("Note.", Emphasis::Strong),
                    plain(" Read this.")
                ]),
                Block::Paragraph(vec![plain("code here")]),
            ]
        );
    }

    #[test]
    fn only_safe_links_reach_the_pdf() {
        let md = "[ok](https://example.org) and [bad](javascript:alert(1))";
        let Block::Paragraph(spans) = &to_blocks(md)[0] else {
            panic!()
        };
        let links: Vec<Option<&str>> = spans.iter().map(|s| s.link.as_deref()).collect();
        assert_eq!(links, [Some("https://example.org"), None]);
    }

    #[test]
    fn a_bulleted_list_is_a_list_and_emphasis_is_kept() {
        let md = "You may be asked to:\n\n- answer a *vox pop*, about\n  five minutes;\n- take part in an **interview**.";
        let html = to_html(md);
        assert!(
            html.contains("<ul>\n<li>answer a <em>vox pop</em>, about\nfive minutes;</li>"),
            "{html}"
        );
        assert!(html.contains("<strong>interview</strong>"), "{html}");
    }

    #[test]
    fn headings_sit_below_the_page_title() {
        let html = to_html("# Top\n\n## Designing Together");
        assert_eq!(html, "<h2>Top</h2>\n<h3>Designing Together</h3>\n");
    }

    #[test]
    fn raw_html_is_refused_and_still_escaped() {
        let md = "Hello <script>alert(1)</script>\n\n<div onclick=x>hi</div>";
        let refused = refused(md);
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert_eq!(refused[0].offset, 6);
        let html = to_html(md);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn only_web_mail_and_phone_links_pass() {
        let md = "[ok](https://example.org) [mail](mailto:team@example.org) <team@example.org> [bad](javascript:alert(1)) ![pic](https://x.org/a.png)";
        let messages: Vec<String> = refused(md).into_iter().map(|r| r.message).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("javascript:alert(1)"));
        assert!(messages[1].starts_with("images are not allowed"));
        let html = to_html(md);
        assert!(
            html.contains(r#"<a href="https://example.org">ok</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="mailto:team@example.org">team@example.org</a>"#),
            "{html}"
        );
        assert!(!html.contains("javascript"), "{html}");
        assert!(!html.contains("<img"), "{html}");
    }
}
