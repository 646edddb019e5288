//! Word documents (.docx): the paragraphs of `word/document.xml`, read as a
//! plain-text transcript (see the `plain` module).
//!
//! A .docx is a zip, so it is opened defensively: at most [`MAX_ENTRIES`]
//! entries, and the document part is unpacked through a limit of
//! [`MAX_DOCUMENT_BYTES`] whatever size the zip declares, so a zip bomb
//! costs bounded work. Errors have no line number (line 0): the researcher
//! sees pages, not lines of XML.
//!
//! Only what a reader sees as the body's text is taken: text runs (`w:t`),
//! tabs as spaces, line breaks as new lines. Deleted text in tracked changes
//! (`w:delText`), field codes (`w:instrText`), tab-stop definitions and the
//! fallback copy of text boxes (`mc:Fallback`, which repeats the text box)
//! are left out. Headers, footers, comments and footnotes live in other
//! parts and are not read.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use zip::ZipArchive;

use super::{plain, text, ParseError, Turn, MAX_BYTES};

/// The most entries a .docx may have. Word writes about a dozen; images
/// add one each.
pub(super) const MAX_ENTRIES: usize = 1_000;

/// The largest `word/document.xml` unpacked, in bytes.
pub(super) const MAX_DOCUMENT_BYTES: u64 = 32 * 1024 * 1024;

const DOCUMENT: &str = "word/document.xml";

/// WordprocessingML, as Word writes it and in its "strict" form.
const WORD: [&str; 2] = [
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
];

const MARKUP_COMPATIBILITY: &str = "http://schemas.openxmlformats.org/markup-compatibility/2006";

/// Whether `bytes` is a zip holding a Word document's body.
pub(super) fn is_docx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") && bytes.len() <= MAX_BYTES && open(bytes).is_ok()
}

pub(super) fn parse(bytes: &[u8]) -> Result<Vec<Turn>, ParseError> {
    let mut archive = open(bytes)?;
    let xml = read_document(&mut archive)?;
    let body = paragraphs(&xml)?;
    plain::parse(&body).map_err(|e| ParseError { line: 0, ..e })
}

fn error(reason: impl Into<String>) -> ParseError {
    ParseError::new(0, reason)
}

fn open(bytes: &[u8]) -> Result<ZipArchive<Cursor<&[u8]>>, ParseError> {
    let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| {
        error(
            "the file is not a Word document (.docx); if it is an older .doc file or has a \
             password, open it in Word and save it as .docx without a password",
        )
    })?;
    if archive.len() > MAX_ENTRIES {
        return Err(error(format!(
            "the Word document has {} parts; fieldkit reads documents of at most {MAX_ENTRIES}",
            archive.len()
        )));
    }
    if archive.index_for_name(DOCUMENT).is_none() {
        return Err(error(
            "the file is a zip archive but not a Word document: it has no word/document.xml",
        ));
    }
    Ok(archive)
}

fn read_document(archive: &mut ZipArchive<Cursor<&[u8]>>) -> Result<Vec<u8>, ParseError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        error(format!(
            "the text of the Word document could not be unpacked ({e}); open it in Word and save it again as .docx"
        ))
    };
    let too_big = || {
        error(format!(
            "the text of the Word document unpacks to more than {} MiB; split it into parts and upload each",
            MAX_DOCUMENT_BYTES / (1024 * 1024)
        ))
    };
    let part = archive.by_name(DOCUMENT).map_err(|e| unreadable(&e))?;
    if part.size() > MAX_DOCUMENT_BYTES {
        return Err(too_big());
    }
    let mut xml = Vec::new();
    part.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut xml)
        .map_err(|e| unreadable(&e))?;
    if xml.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(too_big());
    }
    Ok(xml)
}

/// The body's paragraphs as lines of text.
fn paragraphs(xml: &[u8]) -> Result<String, ParseError> {
    let damaged = |what: &dyn std::fmt::Display| {
        error(format!(
            "the Word document is damaged ({what}); open it in Word and save it again"
        ))
    };
    let xml = std::str::from_utf8(text::without_bom(xml))
        .map_err(|_| damaged(&"its text is not UTF-8"))?;
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;

    let mut out = String::new();
    let mut paragraph = String::new();
    let mut runs = 0usize; // depth inside w:r
    let mut in_text = false; // inside w:t
    let mut skipped = 0usize; // depth inside mc:Fallback
    let mut open = 0usize; // elements not yet closed
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| damaged(&e))?;
        let word = matches!(ns, ResolveResult::Bound(Namespace(n)) if WORD.contains(&n));
        let fallback =
            matches!(ns, ResolveResult::Bound(Namespace(n)) if n == MARKUP_COMPATIBILITY);
        match event {
            Event::Start(e) => {
                open += 1;
                let name = e.local_name();
                if fallback && name.as_ref() == "Fallback" {
                    skipped += 1;
                }
                if skipped > 0 || !word {
                    continue;
                }
                match name.as_ref() {
                    // A paragraph inside another (in a text box) ends the
                    // outer one's text so far.
                    "p" if !paragraph.is_empty() => end_paragraph(&mut out, &mut paragraph),
                    "r" => runs += 1,
                    "t" if runs > 0 => in_text = true,
                    "tab" if runs > 0 => paragraph.push(' '),
                    "br" | "cr" if runs > 0 => paragraph.push('\n'),
                    "noBreakHyphen" if runs > 0 => paragraph.push('-'),
                    _ => {}
                }
            }
            Event::End(e) => {
                open = open.saturating_sub(1);
                let name = e.local_name();
                if fallback && name.as_ref() == "Fallback" {
                    skipped = skipped.saturating_sub(1);
                }
                if skipped > 0 || !word {
                    continue;
                }
                match name.as_ref() {
                    "p" => end_paragraph(&mut out, &mut paragraph),
                    "r" => runs = runs.saturating_sub(1),
                    "t" => in_text = false,
                    _ => {}
                }
            }
            Event::Text(t) if in_text && skipped == 0 => paragraph.push_str(&t.xml10_content()),
            Event::CData(t) if in_text && skipped == 0 => paragraph.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text && skipped == 0 => {
                match r.resolve_char_ref().map_err(|e| damaged(&e))? {
                    Some(c) => paragraph.push(c),
                    None => match quick_xml::escape::resolve_xml_entity(&r) {
                        Some(s) => paragraph.push_str(s),
                        None => return Err(damaged(&format!("unknown entity &{};", &*r))),
                    },
                }
            }
            // The XML reader does not notice a document cut short.
            Event::Eof if open > 0 => return Err(damaged(&"it ends part-way through")),
            Event::Eof => break,
            _ => {}
        }
    }
    end_paragraph(&mut out, &mut paragraph);
    Ok(out)
}

fn end_paragraph(out: &mut String, paragraph: &mut String) {
    out.push_str(paragraph);
    out.push('\n');
    paragraph.clear();
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    use super::*;

    /// A .docx holding `entries` (name, contents), stored uncompressed.
    pub(in super::super) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// A .docx whose body is `body` (the XML inside `<w:body>`).
    pub(in super::super) fn docx_of(body: &str) -> Vec<u8> {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{}" xmlns:mc="{MARKUP_COMPATIBILITY}"><w:body>{body}</w:body></w:document>"#,
            WORD[0]
        );
        zip_of(&[(DOCUMENT, xml.as_bytes())])
    }

    fn lines(body: &str) -> String {
        let docx = docx_of(body);
        let mut archive = open(&docx).unwrap();
        let xml = read_document(&mut archive).unwrap();
        paragraphs(&xml).unwrap()
    }

    #[test]
    fn runs_tabs_breaks_and_entities() {
        assert_eq!(
            lines(
                r#"<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>
                <w:r><w:rPr><w:b/></w:rPr><w:t>Interviewer:</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">Tea &amp; </w:t></w:r>
                <w:r><w:t>cake&#8217;s<![CDATA[ <ok>]]></w:t><w:br/><w:t>next</w:t><w:noBreakHyphen/></w:r></w:p><w:p/>"#
            ),
            "Interviewer: Tea & cake\u{2019}s <ok>\nnext-\n\n\n"
        );
    }

    #[test]
    fn deleted_text_field_codes_and_fallbacks_are_left_out() {
        assert_eq!(
            lines(
                r#"<w:p><w:del><w:r><w:delText>gone</w:delText></w:r></w:del>
                <w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:t>kept</w:t></w:r>
                <mc:AlternateContent><mc:Choice Requires="wps"><w:r><w:t> box</w:t></w:r></mc:Choice>
                <mc:Fallback><w:r><w:t> box again</w:t></w:r></mc:Fallback></mc:AlternateContent></w:p>"#
            ),
            "kept box\n\n"
        );
    }

    #[test]
    fn text_outside_runs_and_other_namespaces_is_ignored() {
        assert_eq!(
            lines(r#"<w:p>stray<w:t>loose</w:t><x:r xmlns:x="urn:x"><x:t>other</x:t></x:r></w:p>"#),
            "\n\n"
        );
    }

    #[test]
    fn damaged_documents() {
        for (docx, reason) in [
            (b"PK\x03\x04 nonsense".to_vec(), "the file is not a Word document (.docx)"),
            (zip_of(&[("a.txt", b"x")]), "the file is a zip archive but not a Word document"),
            (zip_of(&[(DOCUMENT, b"<w:document><w:p>")]), "the Word document is damaged"),
            (docx_of("<w:p><w:r><w:t>x</w:p>"), "the Word document is damaged (ill-formed"),
            (
                zip_of(&[(DOCUMENT, br#"<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"><w:body><w:p><w:r><w:t>cut"#)]),
                "the Word document is damaged (it ends part-way through)",
            ),
            (zip_of(&[(DOCUMENT, b"\xff\xfe<\0")]), "the Word document is damaged (its text is not UTF-8)"),
            (docx_of("<w:p><w:r><w:t>&nope;</w:t></w:r></w:p>"), "the Word document is damaged"),
            (docx_of("<w:p><w:r><w:t>   </w:t></w:r></w:p>"), "the transcript has no speech in it"),
        ] {
            let err = parse(&docx).unwrap_err();
            assert_eq!(err.line, 0);
            assert!(err.reason.starts_with(reason), "{err}");
        }
    }

    #[test]
    fn too_many_entries() {
        let names: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("media/{i}.png"))
            .collect();
        let mut entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        entries.push((DOCUMENT, b"<x/>"));
        let err = parse(&zip_of(&entries)).unwrap_err();
        assert_eq!(
            err.reason,
            "the Word document has 1002 parts; fieldkit reads documents of at most 1000"
        );
    }

    #[test]
    fn zip_bomb_is_refused_after_bounded_work() {
        // 33 MiB of one byte deflates to a few tens of KiB.
        let big = vec![b' '; (MAX_DOCUMENT_BYTES + 1024 * 1024) as usize];
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(DOCUMENT, options).unwrap();
        zip.write_all(&big).unwrap();
        let docx = zip.finish().unwrap().into_inner();
        assert!(docx.len() < 1024 * 1024);
        let err = parse(&docx).unwrap_err();
        assert!(err.reason.contains("unpacks to more than 32 MiB"), "{err}");
    }
}
