//! The PDF read back by an independent parser (lopdf): what was written is
//! there as text, the file structure holds, and the bytes are reproducible.

use super::*;

/// 2025-03-01 14:03:00 UTC.
const SIGNED_AT_MS: i64 = 1_740_837_780_000;

fn metadata() -> Metadata {
    Metadata {
        title: "Consent record — Recovery college co-design study".into(),
        author: "fieldkit".into(),
        producer: "fieldkit PDF writer".into(),
        created_unix_ms: SIGNED_AT_MS,
    }
}

fn consent_copy() -> Document {
    let clauses = [
        ("I confirm that I have read the participant information sheet (version 3, 12 February 2025) and have had the chance to ask questions.", "Yes"),
        ("I understand that taking part is voluntary and that I can withdraw at any time, without giving a reason and without my care or my place at the college being affected.", "Yes"),
        ("I agree to my vox-pop interview being audio recorded.", "Yes"),
        ("I agree to being filmed for short films that will be shown publicly.", "No"),
        ("I agree to anonymised quotes from what I say being used in reports and publications.", "Yes"),
        ("I agree to be contacted about future research.", "No"),
        ("I agree to take part in this study.", "Yes"),
    ];
    Document {
        metadata: metadata(),
        footer: "Record sha256:3f0a9c1be27d4e58a6b0c9d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5".into(),
        blocks: vec![
            Block::KeyValues(vec![
                KeyValue::new("Study", "Recovery college co-design study (IRAS 312345, REC 24/NW/0123)"),
                KeyValue::new("Consent form", "Vox pops, films and workshops — version 2"),
                KeyValue::new("Information sheet", "Version 3, 12 February 2025"),
                KeyValue::new("Participant", "RC-0147"),
                KeyValue::new("How consent was taken", "Online, by the participant"),
            ]),
            Block::Heading("Your answers".into()),
            Block::Clauses(clauses.iter().map(|(text, answer)| Clause::new(*text, *answer)).collect()),
            Block::Heading("What happens if you withdraw".into()),
            Block::Paragraph(
                "You can withdraw at any time by telling the research team or using the “withdraw” link in \
                 your account. We will stop collecting data from you straight away. Recordings not yet \
                 analysed are deleted; anonymised quotes already published stay published — we cannot recall \
                 a printed report. Travel costs up to £15 (or €18 at partner sites) are refunded either way."
                    .into(),
            ),
            Block::Heading("Signatures".into()),
            Block::Signature(Signature {
                label: "Participant".into(),
                name: "Siân Ó Dónaill".into(),
                time: "Signed electronically on 1 March 2025 at 14:03 UTC".into(),
            }),
            Block::Signature(Signature {
                label: "Researcher taking consent".into(),
                name: "Zoë Whitfield".into(),
                time: "Countersigned on 1 March 2025 at 14:10 UTC".into(),
            }),
        ],
    }
}

/// A consent copy followed by pages of wrapped paragraphs.
fn long_document() -> Document {
    let mut doc = consent_copy();
    let sentence =
        "Peer trainers and students shape each course together, and the team records how the \
                    college links people to the groups around it. ";
    for n in 1..=18 {
        doc.blocks.push(Block::Paragraph(format!(
            "Paragraph {n}. {}",
            sentence.repeat(4)
        )));
    }
    doc
}

fn load(pdf: &[u8]) -> lopdf::Document {
    lopdf::Document::load_mem(pdf).expect("lopdf reads the file")
}

fn extract_text(pdf: &[u8]) -> (String, usize) {
    let doc = load(pdf);
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    (
        doc.extract_text(&pages).expect("text extracts"),
        pages.len(),
    )
}

#[test]
fn every_block_reads_back_as_text_across_pages() {
    let doc = long_document();
    let (text, pages) = extract_text(&doc.render().unwrap());
    assert!(pages >= 3, "{pages} pages");
    for block in &doc.blocks {
        let words: Vec<&str> = match block {
            Block::Paragraph(text) | Block::Heading(text) => text.split_whitespace().collect(),
            Block::KeyValues(rows) => rows
                .iter()
                .flat_map(|r| [&r.label, &r.value])
                .flat_map(|t| t.split_whitespace())
                .collect(),
            Block::Clauses(rows) => rows
                .iter()
                .flat_map(|r| r.text.split_whitespace().chain([r.answer.as_str()]))
                .collect(),
            Block::Signature(s) => [&s.label, &s.name, &s.time]
                .into_iter()
                .flat_map(|t| t.split_whitespace())
                .collect(),
        };
        for word in words {
            assert!(text.contains(word), "{word:?} missing");
        }
    }
    for expected in [
        "Siân Ó Dónaill",
        "Zoë Whitfield",
        "“withdraw”",
        "£15",
        "€18",
        "—",
        "Yes\n",
        "No\n",
    ] {
        assert!(text.contains(expected), "{expected:?} missing");
    }
    assert!(text.contains(&format!("Page 2 of {pages}")));
    assert!(text.contains("Record sha256:3f0a9c1b"));
}

#[test]
fn same_document_renders_to_the_same_bytes() {
    let doc = long_document();
    assert_eq!(doc.render().unwrap(), doc.render().unwrap());
    let mut later = doc.clone();
    later.metadata.created_unix_ms += 1000;
    assert_ne!(doc.render().unwrap(), later.render().unwrap());
}

#[test]
fn file_starts_with_header_and_every_xref_offset_points_at_its_object() {
    let pdf = consent_copy().render().unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7\n"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let doc = load(&pdf);
    assert!(doc.reference_table.entries.len() > 10);
    for (number, entry) in &doc.reference_table.entries {
        let lopdf::xref::XrefEntry::Normal { offset, .. } = entry else {
            panic!("object {number} is not a plain entry: {entry:?}");
        };
        let at = &pdf[*offset as usize..];
        assert!(
            at.starts_with(format!("{number} 0 obj\n").as_bytes()),
            "object {number}"
        );
    }
    let id = doc
        .trailer
        .get(b"ID")
        .and_then(lopdf::Object::as_array)
        .unwrap();
    assert_eq!(id.len(), 2);
}

#[test]
fn fonts_are_embedded_as_identity_h_with_to_unicode() {
    let doc = load(&consent_copy().render().unwrap());
    let fonts: Vec<_> = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.has_type(b"Font"))
        .collect();
    let type0: Vec<_> = fonts
        .iter()
        .filter(|d| d.get(b"Subtype").and_then(lopdf::Object::as_name).ok() == Some(b"Type0"))
        .collect();
    assert_eq!(type0.len(), 2, "regular and bold");
    for font in type0 {
        assert_eq!(
            font.get(b"Encoding").unwrap().as_name().unwrap(),
            b"Identity-H"
        );
        assert!(font.get(b"ToUnicode").is_ok());
    }
    let programs = doc
        .objects
        .values()
        .filter(|o| o.as_dict().is_ok_and(|d| d.has(b"FontFile2")))
        .count();
    assert_eq!(programs, 2);
}

#[test]
fn characters_the_font_lacks_become_question_marks() {
    let mut doc = consent_copy();
    doc.blocks = vec![Block::Paragraph("Name: 山田 🙂 Ann".into())];
    let (text, _) = extract_text(&doc.render().unwrap());
    assert!(text.contains("Name: ?? ? Ann"), "{text}");
}

#[test]
fn creation_time_beyond_year_9999_is_refused() {
    let mut doc = consent_copy();
    doc.metadata.created_unix_ms = i64::MAX;
    assert!(matches!(doc.render(), Err(PdfError::CreationTime(_))));
}

#[test]
fn awkward_input_still_lays_out_on_pages() {
    let mut doc = consent_copy();
    doc.footer = "x".repeat(500);
    doc.blocks = vec![
        Block::Paragraph("\n".repeat(300)),
        Block::Paragraph("a".repeat(5000)),
        Block::Heading(String::new()),
        Block::KeyValues(vec![KeyValue::new("", "")]),
        Block::Clauses(vec![]),
    ];
    let (text, pages) = extract_text(&doc.render().unwrap());
    assert!(pages > 2, "{pages} pages");
    assert!(text.contains("…"));
    assert!(text.contains(&"a".repeat(50)));
}

#[test]
fn empty_document_is_one_page() {
    let doc = Document {
        metadata: metadata(),
        footer: String::new(),
        blocks: vec![],
    };
    let (text, pages) = extract_text(&doc.render().unwrap());
    assert_eq!(pages, 1);
    assert!(text.contains("Page 1 of 1"));
}

/// Leaves target/pdf-sample.pdf to look at (pdftoppm -png -r 60 …).
#[test]
fn sample_consent_copy_is_written_for_inspection() {
    let pdf = consent_copy().render().unwrap();
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("pdf-sample.pdf"), &pdf).unwrap();
}
