//! The PDF read back by independent tools: lopdf and poppler's pdftotext
//! find the text (in reading order, right-to-left scripts included), qpdf
//! finds the file sound, the metadata claims PDF/A-2a and PDF/UA-1 (which
//! krilla checked while writing), and the bytes are reproducible.

use std::process::{Command, Output};

use super::*;

/// 2025-03-01 14:03:00 UTC.
const SIGNED_AT_MS: i64 = 1_740_837_780_000;

fn metadata(language: &str) -> Metadata {
    Metadata {
        title: "Consent record — Recovery college co-design study".into(),
        author: "fieldkit".into(),
        producer: "fieldkit".into(),
        created_unix_ms: SIGNED_AT_MS,
        language: language.into(),
    }
}

fn heading(text: &str) -> Block {
    Block::Heading {
        level: 1,
        text: text.into(),
    }
}

fn paragraph(text: &str) -> Block {
    Block::Paragraph(vec![Span::plain(text)])
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
        metadata: metadata("en-GB"),
        footer: "Record sha256:3f0a9c1be27d4e58a6b0c9d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5".into(),
        page_label: "Page {page} of {pages}".into(),
        interface_language: Some("en-GB".into()),
        blocks: vec![
            Block::KeyValues(vec![
                KeyValue::new("Study", "Recovery college co-design study (IRAS 312345, REC 24/NW/0123)"),
                KeyValue::new("Consent form", "Vox pops, films and workshops — version 2"),
                KeyValue::new("Information sheet", "Version 3, 12 February 2025"),
                KeyValue::new("Participant", "RC-0147"),
                KeyValue::new("How consent was taken", "Online, by the participant"),
            ]),
            heading("Your answers"),
            Block::Clauses {
                headers: ["Statement".into(), "Your answer".into()],
                rows: clauses.iter().map(|(text, answer)| Clause::new(*text, *answer)).collect(),
            },
            heading("What happens if you withdraw"),
            Block::Paragraph(vec![
                Span::plain("You can withdraw at any time by telling the research team or using the “withdraw” link in your account. "),
                Span { text: "We will stop collecting data from you straight away.".into(), emphasis: Emphasis::Strong, link: None },
                Span::plain(" Recordings not yet analysed are deleted; anonymised quotes already published stay published — we cannot recall a printed report. Travel costs up to £15 (or €18 at partner sites) are refunded either way. "),
                Span { text: "Read more".into(), emphasis: Emphasis::Emphasis, link: Some("https://example.org/withdraw".into()) },
            ]),
            Block::List {
                ordered: true,
                items: vec![vec![Span::plain("Tell the team.")], vec![Span::plain("Choose what stops.")]],
            },
            heading("Signatures"),
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

/// The same consent copy in Urdu, its REC reference in Latin letters and
/// digits inside the Urdu text.
fn urdu_copy() -> Document {
    Document {
        metadata: Metadata {
            title: "رضامندی کا ریکارڈ".into(),
            ..metadata("ur-PK")
        },
        footer: "ریکارڈ RC-0147".into(),
        page_label: "صفحہ {page} از {pages}".into(),
        interface_language: None,
        blocks: vec![
            Block::KeyValues(vec![KeyValue::new("مطالعہ", "ریکوری کالج")]),
            heading("آپ کے جوابات"),
            paragraph(URDU_PARAGRAPH),
            Block::Clauses {
                headers: ["بیان".into(), "آپ کا جواب".into()],
                rows: vec![
                    Clause::new("میں نے معلوماتی پرچہ پڑھ لیا ہے۔", "ہاں"),
                    Clause::new("میں مستقبل کی تحقیق کے بارے میں رابطے پر راضی ہوں۔", "نہیں"),
                ],
            },
        ],
    }
}

const URDU_PARAGRAPH: &str = "اس مطالعے کی منظوری REC حوالہ 24/NW/0123 کے تحت دی گئی ہے۔ آپ کسی بھی وقت دستبردار ہو سکتے ہیں۔";

/// A consent copy followed by pages of wrapped paragraphs.
fn long_document() -> Document {
    let mut doc = consent_copy();
    let sentence =
        "Peer trainers and students shape each course together, and the team records how the \
                    college links people to the groups around it. ";
    for n in 1..=18 {
        doc.blocks
            .push(paragraph(&format!("Paragraph {n}. {}", sentence.repeat(4))));
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

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn spans_text(spans: &[Span]) -> String {
    spans.iter().map(|span| span.text.as_str()).collect()
}

#[test]
fn every_block_reads_back_as_text_across_pages() {
    let doc = long_document();
    let (text, pages) = extract_text(&doc.render().unwrap());
    let text = words(&text).join(" ");
    assert!(pages >= 3, "{pages} pages");
    for block in &doc.blocks {
        let expected: Vec<String> = match block {
            Block::Heading { text, .. } | Block::Section(text) => vec![text.clone()],
            Block::Paragraph(spans) => vec![spans_text(spans)],
            Block::List { items, .. } => items.iter().map(|item| spans_text(item)).collect(),
            Block::KeyValues(rows) => rows
                .iter()
                .flat_map(|r| [r.label.clone(), r.value.clone()])
                .collect(),
            Block::Clauses { headers, rows } => headers
                .iter()
                .cloned()
                .chain(rows.iter().flat_map(|r| [r.text.clone(), r.answer.clone()]))
                .collect(),
            Block::Signature(s) => vec![s.label.clone(), s.name.clone(), s.time.clone()],
        };
        for word in expected.iter().flat_map(|t| words(t)) {
            assert!(text.contains(word), "{word:?} missing from {text}");
        }
    }
    for expected in ["“withdraw”", "£15", "€18", "(https://example.org/withdraw)"] {
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
    let urdu = urdu_copy();
    assert_eq!(urdu.render().unwrap(), urdu.render().unwrap());
}

/// krilla's validators run on every render; what they would refuse (here,
/// no title, which PDF/UA requires) is an error rather than a PDF.
#[test]
fn documents_render_under_the_pdf_a_and_pdf_ua_validators() {
    for doc in [consent_copy(), urdu_copy(), long_document()] {
        let pdf = doc.render().unwrap();
        let xmp = String::from_utf8_lossy(&pdf);
        for claim in [
            "<pdfaid:part>2</pdfaid:part>",
            "<pdfaid:conformance>A</pdfaid:conformance>",
            "<pdfuaid:part>1</pdfuaid:part>",
        ] {
            assert!(xmp.contains(claim), "{claim} missing from the XMP metadata");
        }
    }
    let mut untitled = consent_copy();
    untitled.metadata.title = String::new();
    assert!(matches!(untitled.render(), Err(PdfError::Validation(_))));
}

#[test]
fn language_title_and_tags_are_in_the_catalog() {
    let pdf = urdu_copy().render().unwrap();
    let doc = load(&pdf);
    let catalog = doc.catalog().unwrap();
    assert_eq!(catalog.get(b"Lang").unwrap().as_str().unwrap(), b"ur-PK");
    assert!(catalog.get(b"StructTreeRoot").is_ok());
    let viewer = catalog.get_deref(b"ViewerPreferences", &doc).unwrap();
    let viewer = viewer.as_dict().unwrap();
    assert!(viewer.get(b"DisplayDocTitle").unwrap().as_bool().unwrap());
    assert_eq!(viewer.get(b"Direction").unwrap().as_name().unwrap(), b"R2L");
    let tags = structure_types(&doc);
    for tag in ["H1", "H2", "P", "Table", "TR", "TH", "TD"] {
        assert!(tags.contains(tag), "{tag} missing from {tags:?}");
    }
    let tags = structure_types(&load(&consent_copy().render().unwrap()));
    for tag in ["L", "LI", "Lbl", "LBody", "Div"] {
        assert!(tags.contains(tag), "{tag} missing from {tags:?}");
    }
}

/// The types of the structure elements.
/// The structure types that carry a `/Lang` of their own, with it.
fn languages_of_elements(doc: &lopdf::Document) -> std::collections::BTreeSet<(String, String)> {
    doc.objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.has_type(b"StructElem"))
        .filter_map(|d| {
            let kind = d.get(b"S").and_then(lopdf::Object::as_name).ok()?;
            let lang = d.get(b"Lang").and_then(lopdf::Object::as_str).ok()?;
            Some((
                String::from_utf8_lossy(kind).into_owned(),
                String::from_utf8_lossy(lang).into_owned(),
            ))
        })
        .collect()
}

#[test]
fn fieldkits_own_words_in_a_copy_of_another_language_are_tagged_as_theirs() {
    let mut urdu = urdu_copy();
    urdu.interface_language = Some("en-GB".into());
    urdu.blocks = vec![
        Block::KeyValues(vec![KeyValue::new("Study", "Recovery college")]),
        Block::Section("Your answers".into()),
        Block::Heading {
            level: 2,
            text: "آپ کے جوابات".into(),
        },
        Block::Clauses {
            headers: ["Statement".into(), "Answer".into()],
            rows: vec![Clause::new("میں نے معلوماتی پرچہ پڑھ لیا ہے۔", "Yes")],
        },
        Block::Signature(Signature {
            label: "Participant".into(),
            name: "Signed by typing their name".into(),
            time: "1 March 2025".into(),
        }),
    ];
    let tagged = languages_of_elements(&load(&urdu.render().unwrap()));
    let expected: std::collections::BTreeSet<(String, String)> = [
        ("Document", "ur-PK"),
        ("Table", "en-GB"),
        ("H2", "en-GB"),
        ("TH", "en-GB"),
        ("TD", "en-GB"),
        ("Div", "en-GB"),
    ]
    .iter()
    .map(|(k, l)| (k.to_string(), l.to_string()))
    .collect();
    assert_eq!(tagged, expected, "only fieldkit's words carry en-GB");
    // The clause's own cell and the form's heading (H3) take the document's language.
    let tds_in_english = load(&urdu.render().unwrap())
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| {
            d.has_type(b"StructElem")
                && d.get(b"S").and_then(lopdf::Object::as_name).ok() == Some(b"TD")
        })
        .filter(|d| d.get(b"Lang").is_ok())
        .count();
    assert_eq!(tds_in_english, 1, "the answer, not the clause");
    // In a document of fieldkit's own language nothing is tagged apart.
    let english = languages_of_elements(&load(&consent_copy().render().unwrap()));
    assert_eq!(
        english,
        [("Document".to_owned(), "en-GB".to_owned())].into()
    );
}

fn structure_types(doc: &lopdf::Document) -> std::collections::BTreeSet<String> {
    doc.objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.has_type(b"StructElem"))
        .filter_map(|d| d.get(b"S").and_then(lopdf::Object::as_name).ok())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

#[test]
fn characters_no_font_has_become_question_marks() {
    let mut doc = consent_copy();
    doc.blocks = vec![paragraph("Name: 山田 🙂 Ann")];
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
        paragraph(&"\n".repeat(300)),
        paragraph(&"a".repeat(5000)),
        heading(""),
        Block::KeyValues(vec![KeyValue::new("", "")]),
        Block::Clauses {
            headers: [String::new(), String::new()],
            rows: vec![],
        },
        Block::List {
            ordered: false,
            items: vec![vec![]],
        },
    ];
    let (text, pages) = extract_text(&doc.render().unwrap());
    assert!(pages > 2, "{pages} pages");
    assert!(text.contains("…"));
    assert!(text.contains(&"a".repeat(50)));
}

#[test]
fn empty_document_is_one_page() {
    let doc = Document {
        metadata: metadata("en"),
        footer: String::new(),
        page_label: "Page {page} of {pages}".into(),
        interface_language: None,
        blocks: vec![],
    };
    let (text, pages) = extract_text(&doc.render().unwrap());
    assert_eq!(pages, 1);
    assert!(text.contains("Page 1 of 1"));
}

/// A tool these tests need, or None when it is missing outside CI, said on
/// stderr (the convention of tests/it/support.rs `missing_tool`).
fn tool(name: &str, package: &str) -> Option<Command> {
    let found = Command::new(name).arg("-v").output().is_ok();
    if found {
        return Some(Command::new(name));
    }
    let what = format!("{name} (Debian {package})");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true needs {what}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\nSkipped, missing {what}\n");
    None
}

/// Writes `pdf` to a file of its own under target/ and runs `command`
/// with `before`, the file's path and `after` as arguments.
fn run_on(mut command: Command, name: &str, pdf: &[u8], before: &[&str], after: &[&str]) -> Output {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pdf-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.pdf", std::process::id()));
    std::fs::write(&path, pdf).unwrap();
    let output = command
        .args(before)
        .arg(&path)
        .args(after)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    output
}

/// What poppler extracts, white space made single spaces.
fn pdftotext(name: &str, pdf: &[u8]) -> Option<String> {
    let command = tool("pdftotext", "poppler-utils")?;
    let output = run_on(command, name, pdf, &["-enc", "UTF-8"], &["-"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    // Poppler marks the direction of each run with bidi embedding controls.
    let text = text.replace(['\u{202A}', '\u{202B}', '\u{202C}'], "");
    Some(words(&text).join(" "))
}

#[test]
fn qpdf_finds_the_files_sound() {
    for (name, doc) in [("english", long_document()), ("urdu", urdu_copy())] {
        let Some(qpdf) = tool("qpdf", "qpdf") else {
            return;
        };
        let output = run_on(qpdf, name, &doc.render().unwrap(), &["--check"], &[]);
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {said}");
        assert!(
            said.contains("No syntax or stream encoding errors"),
            "{said}"
        );
    }
}

#[test]
fn poppler_extracts_english_text_in_reading_order() {
    let doc = consent_copy();
    let Some(text) = pdftotext("english", &doc.render().unwrap()) else {
        return;
    };
    for expected in [
        "Consent record — Recovery college co-design study",
        "Recovery college co-design study (IRAS 312345, REC 24/NW/0123)",
        "We will stop collecting data from you straight away.",
        "Read more (https://example.org/withdraw)",
        "1. Tell the team.",
        "Siân Ó Dónaill",
        "Page 1 of 2",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }
}

/// Urdu is drawn right to left, with the Latin and digits of the REC
/// reference left to right inside it; poppler reads it back in the order it
/// was written. Compared without white space: poppler moves the space at
/// each change of direction.
#[test]
fn poppler_extracts_urdu_text_in_reading_order() {
    let doc = urdu_copy();
    let Some(text) = pdftotext("urdu", &doc.render().unwrap()) else {
        return;
    };
    let squeezed = |t: &str| t.split_whitespace().collect::<String>();
    let text = squeezed(&text);
    for expected in [
        URDU_PARAGRAPH,
        "رضامندی کا ریکارڈ",
        "آپ کے جوابات",
        "بیان",
        "آپ کا جواب",
        "میں نے معلوماتی پرچہ پڑھ لیا ہے۔",
        "ہاں",
        "میں مستقبل کی تحقیق کے بارے میں رابطے پر راضی ہوں۔",
        "نہیں",
    ] {
        let expected = squeezed(expected);
        assert!(text.contains(&expected), "{expected:?} missing from {text}");
    }
}

/// Leaves target/pdf-sample.pdf and target/pdf-sample-ur.pdf to look at
/// (pdftoppm -png -r 60 …).
#[test]
fn sample_copies_are_written_for_inspection() {
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let english = consent_copy().render().unwrap();
    std::fs::write(target.join("pdf-sample.pdf"), english).unwrap();
    let urdu = urdu_copy().render().unwrap();
    std::fs::write(target.join("pdf-sample-ur.pdf"), urdu).unwrap();
}
