//! Text that teams write as Markdown (consent form bodies, withdrawal
//! policies), parsed once by pulldown-cmark and given three ways: checked for
//! what a form may not hold, as escaped HTML for pages, and as the PDF's
//! tagged blocks. It refuses raw HTML, images and links that are not web or
//! mail addresses; pages escape them all the same.

use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

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

#[cfg(test)]
mod tests {
    use super::*;

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
