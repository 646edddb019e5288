//! The readers against realistic (fictional) files in
//! tests/fixtures/transcripts, and against arbitrary bytes.

use proptest::prelude::*;

use super::docx::tests::{docx_of, zip_of};
use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/fixtures/transcripts/", $name)).as_slice()
    };
}

fn turn(speaker: Option<&str>, start: Option<u64>, end: Option<u64>, text: &str) -> Turn {
    Turn {
        speaker: speaker.map(str::to_owned),
        start_ms: start,
        end_ms: end,
        text: text.to_owned(),
    }
}

fn read(name: &str, bytes: &[u8], expected: Format) -> Vec<Turn> {
    assert_eq!(detect(Some(name), bytes), Some(expected), "{name} by name");
    assert_eq!(detect(None, bytes), Some(expected), "{name} by content");
    parse(expected, bytes).unwrap()
}

#[test]
fn teams_vtt_with_bom_and_crlf() {
    let bytes = fixture!("teams.vtt");
    assert!(bytes.starts_with(b"\xEF\xBB\xBFWEBVTT\r\n"));
    let turns = read("teams.vtt", bytes, Format::WebVtt);
    assert_eq!(
        turns,
        vec![
            turn(
                Some("Interviewer"),
                Some(3_120),
                Some(9_800),
                "Thanks for stopping by the recovery college stall. Can I ask what brought you \
                 here today? It only takes five minutes."
            ),
            turn(
                Some("Morwenna Thistlewood"),
                Some(10_240),
                Some(15_900),
                "Honestly? A friend dragged me along & I stayed for the tea."
            ),
            turn(
                Some("Morwenna Thistlewood"),
                Some(16_300),
                Some(24_000),
                "The Understanding Anxiety course was the first thing that felt like it was made \
                 for people like me. Not a leaflet, an actual conversation."
            ),
            turn(
                Some("Interviewer"),
                Some(24_500),
                Some(28_100),
                "What would you say to someone who\u{a0}is nervous about coming?"
            ),
            turn(
                Some("Morwenna Thistlewood"),
                Some(28_900),
                Some(33_600),
                "Come for the tea. Nobody makes you talk <unless you want to>."
            ),
        ]
    );
    assert_eq!(
        speakers(&turns),
        vec!["Interviewer", "Morwenna Thistlewood"]
    );
}

#[test]
fn zoom_vtt_with_labels_notes_style_and_settings() {
    let turns = read("zoom.vtt", fixture!("zoom.vtt"), Format::WebVtt);
    assert_eq!(
        turns,
        vec![
            turn(
                Some("Interviewer"),
                Some(1_000),
                Some(8_250),
                "Hello, and thanks for joining us on the call. Could you tell us how you first \
                 heard about the college?"
            ),
            turn(
                Some("Tomasz Quillfeather"),
                Some(9_010),
                Some(13_700),
                "Note: I only found it by accident."
            ),
            turn(
                None,
                Some(14_000),
                Some(18_000),
                "There was a leaflet at my GP surgery: bright orange."
            ),
            turn(
                None,
                Some(18_500),
                Some(21_000),
                "Note: the host muted the room here."
            ),
            turn(
                Some("Interviewer"),
                Some(21_000),
                Some(25_400),
                "Is that the link, https://example.org/recovery-college?"
            ),
            turn(
                Some("Tomasz Quillfeather"),
                Some(25_400),
                Some(29_000),
                "Yes, that's the one."
            ),
        ]
    );
}

#[test]
fn srt_with_labels_dashes_and_markup() {
    let turns = read("interview.srt", fixture!("interview.srt"), Format::Srt);
    assert_eq!(
        turns,
        vec![
            turn(
                Some("Interviewer"),
                Some(1_000),
                Some(4_000),
                "Morning! Have you got a minute for our vox pop?"
            ),
            turn(
                Some("Priya Ashgrove"),
                Some(4_500),
                Some(7_250),
                "Go on then, as long as it's quick."
            ),
            turn(None, Some(7_250), Some(9_000), "Is it being filmed?"),
            turn(None, Some(7_250), Some(9_000), "Just the audio today."),
            turn(
                Some("Priya Ashgrove"),
                Some(9_400),
                Some(17_600),
                "The peer support group kept me going last winter. I'd tell anyone to give it a go."
            ),
            turn(
                Some("Interviewer"),
                Some(18_000),
                Some(19_500),
                "Thank you, Priya."
            ),
        ]
    );
}

#[test]
fn plain_text_with_bracketed_times() {
    let turns = read(
        "interview.txt",
        fixture!("interview.txt"),
        Format::PlainText,
    );
    assert_eq!(
        turns,
        vec![
            turn(
                None,
                None,
                None,
                "Recovery College vox pop, spring open day (fictional)"
            ),
            turn(
                Some("Interviewer"),
                Some(5_000),
                Some(9_000),
                "What did you come along for today?"
            ),
            turn(
                Some("P07"),
                Some(9_000),
                Some(21_000),
                "The cooking on a budget session. Well, that\nand the company, if I'm honest.\n\
                 I'd been on my own a lot."
            ),
            turn(
                Some("Interviewer"),
                Some(21_000),
                Some(25_000),
                "And how did you find it?"
            ),
            turn(
                Some("P07"),
                Some(25_000),
                Some(62_000),
                "Better than I expected."
            ),
            turn(
                Some("P07"),
                Some(62_000),
                Some(75_000),
                "Sorry, I was saying: the tutors have been there themselves.\n\
                 Note: P07 pointed at the poster by the door."
            ),
            turn(
                Some("Interviewer"),
                Some(75_000),
                None,
                "Thank you, that's really helpful."
            ),
        ]
    );
    assert_eq!(speakers(&turns), vec!["Interviewer", "P07"]);
}

#[test]
fn maxqda_hash_times() {
    let turns = read("maxqda.txt", fixture!("maxqda.txt"), Format::PlainText);
    assert_eq!(turns.len(), 5);
    assert_eq!(
        turns[..2],
        [
            turn(
                Some("Interviewer"),
                Some(1_500),
                Some(5_000),
                "Welcome along. Is this your first time at the open day?"
            ),
            turn(
                Some("Ffion Marchbank"),
                Some(5_000),
                Some(9_200),
                "Second time. I came last spring with my sister."
            ),
        ]
    );
    assert_eq!(
        turns[4],
        turn(
            Some("Interviewer"),
            Some(19_400),
            Some(21_700),
            "Thank you, Ffion."
        )
    );
}

#[test]
fn word_document() {
    let turns = read("interview.docx", fixture!("interview.docx"), Format::Docx);
    assert_eq!(
        turns,
        vec![
            turn(
                None,
                None,
                None,
                "Recovery College vox pop: film club (fictional)"
            ),
            turn(
                Some("Interviewer"),
                Some(4_000),
                Some(8_000),
                "What made you join the film club?"
            ),
            turn(
                Some("Rhiannon Ellery"),
                Some(8_000),
                Some(15_000),
                "Somewhere to be on a Thursday\nthat isn\u{2019}t an appointment."
            ),
            turn(
                Some("Interviewer"),
                Some(15_000),
                Some(19_000),
                "And the films & the talk afterwards?"
            ),
            turn(
                Some("Rhiannon Ellery"),
                Some(19_000),
                Some(27_000),
                "The talk is the best bit. Nobody minds if you just listen."
            ),
            turn(Some("Interviewer"), Some(27_000), None, "Thank you."),
        ]
    );
}

#[test]
fn bad_timing_names_its_line() {
    let bytes = fixture!("bad-timing.vtt");
    assert_eq!(detect(None, bytes), Some(Format::WebVtt));
    assert_eq!(
        parse(Format::WebVtt, bytes).unwrap_err(),
        ParseError::new(
            8,
            "the cue timing '00:01 -> 00:02' is not hh:mm:ss.mmm --> hh:mm:ss.mmm"
        )
    );
}

#[test]
fn not_utf8_names_its_line() {
    let bytes = fixture!("not-utf8.txt");
    assert_eq!(detect(Some("not-utf8.txt"), bytes), Some(Format::PlainText));
    let err = parse(Format::PlainText, bytes).unwrap_err();
    assert_eq!(
        err,
        ParseError::new(
            3,
            "the file is not UTF-8 text (the first bytes in another encoding are on this line); \
             open it in a text editor and save it again as UTF-8"
        )
    );
    assert_eq!(
        err.to_string(),
        format!("line 3: {}", err.reason),
        "the message a researcher sees"
    );
}

#[test]
fn every_format_refuses_non_utf8_with_its_line() {
    for format in [Format::WebVtt, Format::Srt, Format::PlainText] {
        assert_eq!(parse(format, b"WEBVTT\r\n\xff").unwrap_err().line, 2);
    }
    let err = parse(
        Format::Docx,
        &docx_of("<w:p><w:r><w:t>x</w:t></w:r></w:p>")[..10],
    )
    .unwrap_err();
    assert_eq!(err.line, 0);
}

/// Bytes that reach deep into the readers: fragments of every format
/// strung together, with some noise.
fn transcript_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"WEBVTT\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"00:00:01.000 --> 00:00:02.000".to_vec()),
        Just(b"00:00:01,000 --> 00:00:02,000".to_vec()),
        Just(b"00:01.000 --> 00:00.500 align:start".to_vec()),
        Just(b"99999999999999999999:00:00.000".to_vec()),
        Just(b"-->".to_vec()),
        Just(b"NOTE ".to_vec()),
        Just(b"<v Ann>".to_vec()),
        Just(b"</v>".to_vec()),
        Just(b"<i>".to_vec()),
        Just(b"<".to_vec()),
        Just(b"{\\an8}".to_vec()),
        Just(b"&amp;".to_vec()),
        Just(b"&#x110000;".to_vec()),
        Just(b"&".to_vec()),
        Just(b"Interviewer: ".to_vec()),
        Just(b"P07:".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"[00:00:05] ".to_vec()),
        Just(b"(01:02)".to_vec()),
        Just(b"#00:00:01.5#".to_vec()),
        Just(b"#".to_vec()),
        Just(b"1\n".to_vec()),
        Just("é…".as_bytes().to_vec()),
        Just(b"\xe9".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[a-z :.,]{0,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// What every successful parse promises.
fn check(turns: &[Turn]) {
    assert!(!turns.is_empty());
    assert!(turns.len() <= MAX_TURNS);
    for t in turns {
        assert!(!t.text.trim().is_empty());
        if let (Some(start), Some(end)) = (t.start_ms, t.end_ms) {
            assert!(start <= end, "{t:?}");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = detect(Some("x.txt"), &bytes);
        let _ = detect(None, &bytes);
        for &format in Format::ALL {
            if let Ok(turns) = parse(format, &bytes) {
                check(&turns);
            }
        }
    }

    #[test]
    fn transcript_like_bytes_never_panic(bytes in transcript_like()) {
        let _ = detect(None, &bytes);
        for &format in Format::ALL {
            if let Ok(turns) = parse(format, &bytes) {
                check(&turns);
            }
        }
    }

    #[test]
    fn word_documents_with_arbitrary_bodies_never_panic(
        body in "(<w:p>|</w:p>|<w:r>|</w:r>|<w:t>|</w:t>|<w:tab/>|<w:br/>|&amp;|&#[0-9]{1,7};|<mc:Fallback>|</mc:Fallback>|Interviewer: |\\[00:00:0[0-9]\\] |[a-z <>&;]{0,6}){0,40}"
    ) {
        if let Ok(turns) = parse(Format::Docx, &docx_of(&body)) {
            check(&turns);
        }
    }

    #[test]
    fn zips_with_arbitrary_document_bytes_never_panic(xml in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse(Format::Docx, &zip_of(&[("word/document.xml", &xml)]));
    }
}
