//! The importers against the fixtures in tests/fixtures/instruments and
//! against small forms written here: what they read, what they refuse and
//! where they say the problem is.

use super::*;
use crate::instruments::definition::{Method, RaterRole, Subject, TimePoint};

const TOML: &str = include_str!("../../../tests/fixtures/instruments/wellbeing-short.v1.toml");
const XLSX: &[u8] = include_bytes!("../../../tests/fixtures/instruments/wellbeing-short.xlsx");
const XLSFORM_CSV: &[u8] =
    include_bytes!("../../../tests/fixtures/instruments/wellbeing-short.xlsform.csv");
const REDCAP_CSV: &[u8] =
    include_bytes!("../../../tests/fixtures/instruments/wellbeing-short.redcap.csv");
const NO_SURVEY: &[u8] = include_bytes!("../../../tests/fixtures/instruments/no-survey-sheet.xlsx");
const UNPACKS_TOO_BIG: &[u8] =
    include_bytes!("../../../tests/fixtures/instruments/unpacks-too-big.xlsx");
const TOO_MANY_STRINGS: &[u8] =
    include_bytes!("../../../tests/fixtures/instruments/too-many-strings.xlsx");

fn options() -> ImportOptions {
    ImportOptions {
        id: None,
        version: None,
        title: None,
        licence: "Written for fieldkit's tests; CC0. Not a validated measure.".into(),
        subject: Subject::Participant,
        rater_roles: vec![RaterRole::Participant, RaterRole::Researcher],
        time_points: vec![
            TimePoint {
                key: "baseline".into(),
                label: "Baseline".into(),
            },
            TimePoint {
                key: "month_3".into(),
                label: "3 months".into(),
            },
        ],
    }
}

fn expected() -> Definition {
    match definition::parse(
        "wellbeing-short.v1.toml",
        TOML,
        Some(("wellbeing-short", 1)),
    ) {
        Ok(d) => d,
        Err(p) => panic!("the TOML fixture does not parse: {p:?}"),
    }
}

fn imported(name: &str, bytes: &[u8]) -> Imported {
    match import(name, bytes, &options()) {
        Ok(i) => i,
        Err(problems) => panic!(
            "{name} was refused:\n{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn refused(name: &str, bytes: &[u8]) -> Vec<ImportProblem> {
    match import(name, bytes, &options()) {
        Ok(i) => panic!("{name} was imported: {:?}", i.definition),
        Err(problems) => problems,
    }
}

/// The one problem an import gave, as text.
fn only_problem(name: &str, bytes: &[u8]) -> String {
    let problems = refused(name, bytes);
    assert_eq!(problems.len(), 1, "{problems:?}");
    problems.first().map(|p| p.to_string()).unwrap_or_default()
}

/// An XLSForm in pyxform's CSV layout: survey rows are type, name, label,
/// required, relevant, constraint, calculation; choices rows list_name,
/// name, label. The first survey row is row 2.
fn xlsform(survey: &[&str], choices: &[&str]) -> Vec<u8> {
    let mut s = String::from("survey,type,name,label,required,relevant,constraint,calculation\n");
    for row in survey {
        s.push_str(&format!(",{row}\n"));
    }
    if !choices.is_empty() {
        s.push_str("choices,list_name,name,label\n");
        for row in choices {
            s.push_str(&format!(",{row}\n"));
        }
    }
    s.push_str("settings,form_id,version\n,tiny,1\n");
    s.into_bytes()
}

const AGREE: [&str; 5] = [
    "agree,1,Strongly disagree",
    "agree,2,Disagree",
    "agree,3,Neither",
    "agree,4,Agree",
    "agree,5,Strongly agree",
];

/// Three items on a 1-5 scale, then the given calculate rows (row 5 on).
fn scored(calculations: &[&str]) -> Vec<u8> {
    let mut survey = vec![
        "select_one agree,a,Item A,,,,",
        "select_one agree,b,Item B,,,,",
        "select_one agree,c,Item C,,,,",
    ];
    survey.extend_from_slice(calculations);
    xlsform(&survey, &AGREE)
}

fn score_of(bytes: &[u8], key: &str) -> crate::instruments::definition::ScoreRule {
    let d = imported("form.csv", bytes).definition;
    match d.scores.iter().find(|s| s.key == key) {
        Some(s) => s.clone(),
        None => panic!("no score {key} in {:?}", d.scores),
    }
}

/// A REDCap data dictionary: each field is cells by column number, the
/// rest empty. The first field is row 2.
fn redcap(fields: &[&[(usize, &str)]]) -> Vec<u8> {
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let header = [
        "Variable / Field Name",
        "Form Name",
        "Section Header",
        "Field Type",
        "Field Label",
        "Choices, Calculations, OR Slider Labels",
        "Field Note",
        "Text Validation Type OR Show Slider Number",
        "Text Validation Min",
        "Text Validation Max",
        "Identifier?",
        "Branching Logic (Show field only if...)",
        "Required Field?",
        "Custom Alignment",
        "Question Number (surveys only)",
        "Matrix Group Name",
        "Matrix Ranking?",
        "Field Annotation",
    ];
    let mut out: Vec<String> = vec![header.map(quote).join(",")];
    for field in fields {
        let mut cells = vec![String::new(); 18];
        cells[1] = "tiny".into();
        for (column, text) in field.iter() {
            cells[*column] = (*text).to_owned();
        }
        out.push(cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(","));
    }
    (out.join("\r\n") + "\r\n").into_bytes()
}

const RADIO_1_5: &str = "1, Never | 2, Rarely | 3, Sometimes | 4, Often | 5, Always";

// ---- The same instrument from every format --------------------------------

#[test]
fn the_xlsx_form_imports_to_the_toml_definition() {
    let got = imported("wellbeing-short.xlsx", XLSX);
    assert_eq!(got.definition, expected());
}

#[test]
fn the_pyxform_csv_form_imports_to_the_toml_definition() {
    let got = imported("wellbeing-short.xlsform.csv", XLSFORM_CSV);
    assert_eq!(got.definition, expected());
}

#[test]
fn the_redcap_dictionary_imports_to_the_toml_definition() {
    assert!(REDCAP_CSV.starts_with(b"\xEF\xBB\xBF"));
    assert!(REDCAP_CSV.windows(2).any(|w| w == b"\r\n"));
    let got = imported("wellbeing-short.redcap.csv", REDCAP_CSV);
    assert_eq!(got.definition, expected());
}

#[test]
fn notes_say_what_was_ignored_or_read_differently() {
    let xlsform = imported("wellbeing-short.xlsx", XLSX).notes;
    let has = |notes: &[String], text: &str| notes.iter().any(|n| n.contains(text));
    assert!(
        has(
            &xlsform,
            "survey sheet, rows 11 and 12: relevant ignored; every item is shown"
        ),
        "{xlsform:#?}"
    );
    assert!(has(&xlsform, "read as fieldkit's yes/no"), "{xlsform:#?}");
    assert!(
        has(&xlsform, "becomes the bands of score \"feelings_total\""),
        "{xlsform:#?}"
    );
    let redcap = imported("wellbeing-short.redcap.csv", REDCAP_CSV).notes;
    assert!(
        has(
            &redcap,
            "data dictionary, rows 11 and 12: branching logic ignored"
        ),
        "{redcap:#?}"
    );
    assert!(has(&redcap, "holds no version: version 1"), "{redcap:#?}");
}

#[test]
fn options_override_what_the_form_says() {
    let mut options = options();
    options.id = Some("wellbeing-renamed".into());
    options.version = Some(3);
    options.title = Some("Renamed".into());
    let got = import("wellbeing-short.xlsx", XLSX, &options).map(|i| i.definition);
    let got = got.unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(
        (got.id.as_str(), got.version, got.title.as_str()),
        ("wellbeing-renamed", 3, "Renamed")
    );
}

// ---- Refusals name the sheet, row and column ------------------------------

#[test]
fn an_unknown_calculation_is_refused_with_the_part_not_understood() {
    let form = scored(&["calculate,total,Total,,,,\"${a} + pow(${b}, 2)\""]);
    assert_eq!(
        only_problem("form.csv", &form),
        "survey sheet, row 5, column calculation: not understood: `pow(${b}, 2)`: expected a question, a reversed question (C - question) or coalesce(question, 0)"
    );
    let form = scored(&["calculate,total,Total,,,,\"pow(${a}, 2)\""]);
    let problem = only_problem("form.csv", &form);
    assert!(
        problem
            .starts_with("survey sheet, row 5, column calculation: not understood: `pow(${a}, 2)`"),
        "{problem}"
    );
}

#[test]
fn a_choice_name_that_is_not_a_number_is_refused() {
    let form = xlsform(
        &["select_one colours,c,Colour,,,,"],
        &["colours,1,Red", "colours,blue,Blue"],
    );
    let problem = only_problem("form.csv", &form);
    assert!(
        problem.starts_with("choices sheet, row 5, column name: choice name \"blue\""),
        "{problem}"
    );
}

#[test]
fn a_repeat_is_refused() {
    let form = xlsform(
        &[
            "begin_repeat,visits,Visits,,,,",
            "text,where,Where?,,,,",
            "end_repeat,,,,,,",
            "text,note,Notes,,,,",
        ],
        &[],
    );
    let problem = only_problem("form.csv", &form);
    assert!(
        problem.starts_with("survey sheet, row 2, column type: repeats are not supported"),
        "{problem}"
    );
}

#[test]
fn an_identifier_field_is_refused() {
    let dictionary = redcap(&[
        &[(0, "name"), (3, "text"), (4, "Your name"), (10, "y")],
        &[(0, "q1"), (3, "radio"), (4, "Q1"), (5, RADIO_1_5)],
    ]);
    let problem = only_problem("dictionary.csv", &dictionary);
    assert!(
        problem.starts_with("data dictionary, row 2, column Identifier?: identifier fields are refused: fieldkit keeps identities only in its vault"),
        "{problem}"
    );
}

#[test]
fn a_reverse_constant_that_is_not_min_plus_max_is_refused() {
    let form = scored(&["calculate,total,Total,,,,${a} + ${b} + (7 - ${c})"]);
    assert_eq!(
        only_problem("form.csv", &form),
        "survey sheet, row 5, column calculation: not understood: `(7 - ${c})`: \"c\" runs from 1 to 5, so reversed it is 6 - c; this subtracts from 7"
    );
}

#[test]
fn a_malformed_redcap_choices_cell_is_refused() {
    let dictionary = redcap(&[&[
        (0, "q1"),
        (3, "radio"),
        (4, "Q1"),
        (5, "1, Never | 2 Rarely"),
    ]]);
    assert_eq!(
        only_problem("dictionary.csv", &dictionary),
        "data dictionary, row 2, column Choices, Calculations, OR Slider Labels: choice \"2 Rarely\" is not \"code, label\"; write choices as \"1, Label | 2, Label\""
    );
}

#[test]
fn a_workbook_without_a_survey_sheet_is_refused() {
    let problem = only_problem("no-survey-sheet.xlsx", NO_SURVEY);
    assert!(problem.starts_with("there is no survey sheet"), "{problem}");
}

#[test]
fn a_truncated_or_garbage_workbook_is_a_problem_never_a_panic() {
    for len in (0..XLSX.len()).step_by(97) {
        let problems = refused("cut.xlsx", XLSX.get(..len).unwrap_or_default());
        assert!(!problems.is_empty());
    }
    let problems = refused("garbage.xlsx", b"PK\x03\x04 this is not a zip at all");
    assert!(
        problems
            .iter()
            .all(|p| p.message.contains("not a workbook")),
        "{problems:?}"
    );
    // Damaged bytes anywhere: imported or refused, but no panic.
    let mut seed = 0x2545_f491_u32;
    for _ in 0..300 {
        let mut damaged = XLSX.to_vec();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let at = seed as usize % damaged.len();
            if let Some(b) = damaged.get_mut(at) {
                *b = (seed >> 8) as u8;
            }
        }
        let _ = import("damaged.xlsx", &damaged, &options());
    }
}

#[test]
fn a_zip_bomb_is_refused_after_bounded_work() {
    assert!(UNPACKS_TOO_BIG.len() < 100 * 1024);
    let problem = only_problem("bomb.xlsx", UNPACKS_TOO_BIG);
    assert!(
        problem.starts_with("the workbook unpacks to more than 64 MiB"),
        "{problem}"
    );
    // calamine reserves memory for the declared count before reading the
    // strings: this file alone aborts a process that hands it to calamine.
    let problem = only_problem("strings.xlsx", TOO_MANY_STRINGS);
    assert!(
        problem.starts_with("the workbook declares more than 1000000 distinct texts"),
        "{problem}"
    );
}

#[test]
fn rows_after_a_refused_repeat_are_still_checked() {
    let form = xlsform(
        &[
            "begin_repeat,r,R,,,,",
            "end_repeat,,,,,,",
            "geopoint,where,Where?,,,,",
        ],
        &[],
    );
    let problems = refused("form.csv", &form);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(
        problems.get(1).map(|p| (p.row, p.column.as_deref())),
        Some((Some(4), Some("type")))
    );
}

#[test]
fn unsupported_types_and_constraints_are_refused_where_they_are() {
    let form = xlsform(&["text,code,Code,,,\"regex(., '^[0-9]+$')\","], &[]);
    let problem = only_problem("form.csv", &form);
    assert!(
        problem.starts_with("survey sheet, row 2, column constraint: fieldkit cannot enforce"),
        "{problem}"
    );
    let form = xlsform(&["decimal,weight,Weight,,,. > 0,"], &[]);
    let problem = only_problem("form.csv", &form);
    assert!(
        problem.starts_with("survey sheet, row 2, column constraint: not understood: `. > 0`"),
        "{problem}"
    );
    let form = xlsform(&["image,photo,Photo,,,,"], &[]);
    let problem = only_problem("form.csv", &form);
    assert!(
        problem.starts_with("survey sheet, row 2, column type: type \"image\" is not supported"),
        "{problem}"
    );
}

#[test]
fn a_redcap_dictionary_of_several_forms_is_refused() {
    let dictionary = redcap(&[
        &[(0, "q1"), (3, "yesno"), (4, "Q1")],
        &[(0, "q2"), (1, "other_form"), (3, "yesno"), (4, "Q2")],
    ]);
    let problem = only_problem("dictionary.csv", &dictionary);
    assert!(
        problem.starts_with(
            "data dictionary, row 3, column Form Name: the dictionary holds more than one form"
        ),
        "{problem}"
    );
}

#[test]
fn redcap_types_and_validations_without_an_item_are_refused() {
    let dictionary = redcap(&[&[(0, "when"), (3, "text"), (4, "When?"), (7, "date_ymd")]]);
    let problem = only_problem("dictionary.csv", &dictionary);
    assert!(
        problem
            .contains("column Text Validation Type OR Show Slider Number: validation \"date_ymd\""),
        "{problem}"
    );
    let dictionary = redcap(&[&[(0, "how"), (3, "slider"), (4, "How much?")]]);
    let problem = only_problem("dictionary.csv", &dictionary);
    assert!(
        problem.contains("column Field Type: field type \"slider\""),
        "{problem}"
    );
}

#[test]
fn other_files_are_refused_by_name_or_header() {
    let problem = only_problem("form.xls", b"anything");
    assert!(problem.contains("XLSForm (.xlsx"), "{problem}");
    let problem = only_problem("table.csv", b"a,b,c\n1,2,3\n");
    assert!(
        problem.contains("neither a REDCap data dictionary"),
        "{problem}"
    );
    let problem = only_problem("latin1.csv", b"Variable / Field Name,\xE9\n");
    assert!(problem.contains("not UTF-8"), "{problem}");
}

#[test]
fn input_is_bounded() {
    let big = vec![b' '; MAX_BYTES + 1];
    assert!(only_problem("big.csv", &big).contains("at most"));
    let mut many = String::from("survey,type,name,label\n");
    for i in 0..sheet::MAX_ROWS + 1 {
        many.push_str(&format!(",text,q{i},Q{i}\n"));
    }
    let problem = only_problem("many.csv", many.as_bytes());
    assert!(problem.contains("more than 5000 rows"), "{problem}");
    let long = format!(
        "survey,type,name,label\n,text,q,{}\n",
        "x".repeat(sheet::MAX_CELL_CHARS + 1)
    );
    let problem = only_problem("long.csv", long.as_bytes());
    assert!(
        problem.starts_with("row 2, column D: a cell holds more than 10000 characters"),
        "{problem}"
    );
}

// ---- What the recogniser reads -----------------------------------------

#[test]
fn a_sum_of_coalesced_items_counts_blanks_as_zero_no_longer() {
    let form = scored(&[
        "calculate,total,Total,,,,\"coalesce(${a},0) + coalesce(${b},0) + coalesce(${c},0)\"",
    ]);
    let got = imported("form.csv", &form);
    let total = got.definition.scores.first().cloned();
    assert_eq!(
        total.map(|s| (s.method, s.max_missing)),
        Some((Method::Sum, 0))
    );
    assert!(
        got.notes.iter().any(|n| n.contains(
            "survey sheet, row 5: score \"total\": the form counted a blank answer as 0"
        ) && n.contains("getodk/docs#731")),
        "{:?}",
        got.notes
    );
}

#[test]
fn an_odk_mean_over_the_answered_items_allows_all_but_one_missing() {
    let form = scored(&["calculate,m,Mean,,,,\"(coalesce(${a},0) + coalesce(${b},0) + coalesce(${c},0)) div (if(${a} != '', 1, 0) + if(${b} != '', 1, 0) + if(${c} != '', 1, 0))\""]);
    let m = score_of(&form, "m");
    assert_eq!((m.method, m.max_missing), (Method::Mean, 2));
}

#[test]
fn a_mean_times_its_items_is_a_prorated_sum() {
    let form = scored(&["calculate,p,P,,,,(${a} + ${b} + ${c}) div 3 * 3"]);
    assert_eq!(score_of(&form, "p").method, Method::Sum);
    let wrong = scored(&["calculate,p,P,,,,(${a} + ${b} + ${c}) div 2"]);
    let problem = only_problem("form.csv", &wrong);
    assert!(
        problem.ends_with("not understood: `2`: divides by 2 but adds 3 items"),
        "{problem}"
    );
}

#[test]
fn redcap_mean_and_its_prorated_sum_follow_redcaps_blanks() {
    let items: Vec<[(usize, &str); 4]> = ["a", "b", "c"]
        .iter()
        .map(|n| [(0, *n), (3, "radio"), (4, "Item"), (5, RADIO_1_5)])
        .collect();
    let mut fields: Vec<&[(usize, &str)]> = items.iter().map(|f| f.as_slice()).collect();
    let mean = [(0, "m"), (3, "calc"), (4, "Mean"), (5, "mean([a],[b],[c])")];
    let sum = [
        (0, "s"),
        (3, "calc"),
        (4, "Sum"),
        (5, "round(mean([a],[b],6-[c])*3,0)"),
    ];
    let guarded = [
        (0, "g"),
        (3, "calc"),
        (4, "Guarded"),
        (5, "if(isblankormissingcode([a]) + isblankormissingcode([b]) + isblankormissingcode([c]) <= 1, mean([a],[b],[c]) * 3, \"\")"),
    ];
    let plain = [(0, "t"), (3, "calc"), (4, "Total"), (5, "sum([a],[b],[c])")];
    fields.extend([&mean[..], &guarded[..], &plain[..]]);
    let got = imported("d.csv", &redcap(&fields));
    let rule = |k: &str| {
        got.definition
            .scores
            .iter()
            .find(|s| s.key == k)
            .map(|s| (s.method, s.max_missing))
    };
    assert_eq!(rule("m"), Some((Method::Mean, 2)));
    assert_eq!(rule("g"), Some((Method::Sum, 1)));
    assert_eq!(rule("t"), Some((Method::Sum, 0)));
    assert!(
        got.notes
            .iter()
            .any(|n| n.contains("score \"t\": the form counted a blank")),
        "{:?}",
        got.notes
    );
    // The reversed item in a prorated sum, with its rounding noted.
    fields.push(&sum[..]);
    fields.retain(|f| {
        f.first() != Some(&(0, "m")) && f.first() != Some(&(0, "g")) && f.first() != Some(&(0, "t"))
    });
    let got = imported("d.csv", &redcap(&fields));
    let s = got
        .definition
        .scores
        .first()
        .map(|s| (s.method, s.max_missing));
    assert_eq!(s, Some((Method::Sum, 2)));
    assert_eq!(got.definition.item("c").map(|i| i.reverse), Some(true));
    assert!(
        got.notes.iter().any(|n| n.contains("rounding dropped")),
        "{:?}",
        got.notes
    );
}

#[test]
fn a_guard_on_the_answered_count_sets_the_missing_limit() {
    let answered = "if(${a} != '', 1, 0) + if(${b} != '', 1, 0) + if(${c} != '', 1, 0)";
    let mean = "(coalesce(${a},0) + coalesce(${b},0) + coalesce(${c},0))";
    let guarded =
        format!("calculate,g,G,,,,\"if({answered} >= 2, {mean} div ({answered}) * 3, '')\"");
    assert_eq!(score_of(&scored(&[&guarded]), "g").max_missing, 1);
    let other_items = format!(
        "calculate,g,G,,,,\"if(if(${{a}} != '', 1, 0) >= 1, {mean} div ({answered}), '')\""
    );
    let problem = only_problem("form.csv", &scored(&[&other_items]));
    assert!(
        problem.contains("counts a but the score is of a, b, c"),
        "{problem}"
    );
}

#[test]
fn bands_read_from_either_end_and_must_include_their_lower_bound() {
    let total = "calculate,total,Total,,,,${a} + ${b} + ${c}";
    let up = "calculate,band,Band,,,,\"if(${total} < 7, 'Low', if(${total} < 11, 'Mid', 'High'))\"";
    let bands = score_of(&scored(&[total, up]), "total").bands;
    let read: Vec<(f64, &str)> = bands.iter().map(|b| (b.from, b.label.as_str())).collect();
    assert_eq!(read, [(3.0, "Low"), (7.0, "Mid"), (11.0, "High")]);
    let open = "calculate,band,Band,,,,\"if(${total} > 10, 'High', 'Low')\"";
    let problem = only_problem("form.csv", &scored(&[total, open]));
    assert!(
        problem.contains("`${total} > 10`: a band includes its lower bound"),
        "{problem}"
    );
    let never = "calculate,band,Band,,,,\"if(${total} >= 3, 'Any', 'None')\"";
    let problem = only_problem("form.csv", &scored(&[total, never]));
    assert!(
        problem.starts_with(
            "survey sheet, row 6, column calculation: the band \"None\" could never apply"
        ),
        "{problem}"
    );
    let on_item = "calculate,band,Band,,,,\"if(${a} >= 3, 'High', 'Low')\"";
    let problem = only_problem("form.csv", &scored(&[on_item]));
    assert!(
        problem.contains("\"a\" is a question; fieldkit puts bands on scores"),
        "{problem}"
    );
}

#[test]
fn redcap_bands_need_labels() {
    let fields: [&[(usize, &str)]; 3] = [
        &[(0, "a"), (3, "radio"), (4, "A"), (5, RADIO_1_5)],
        &[(0, "t"), (3, "calc"), (4, "Total"), (5, "[a]")],
        &[
            (0, "b"),
            (3, "calc"),
            (4, "Band"),
            (5, "if([t] >= 3, 2, 1)"),
        ],
    ];
    let problem = only_problem("d.csv", &redcap(&fields));
    assert!(
        problem.contains("bands need text labels in quotes"),
        "{problem}"
    );
}

#[test]
fn calculations_may_add_up_other_sums_but_not_loop() {
    let form = scored(&[
        "calculate,first,First,,,,${a} + ${b}",
        "calculate,total,Total,,,,${first} + ${c}",
    ]);
    assert_eq!(score_of(&form, "total").items, ["a", "b", "c"]);
    let form = scored(&[
        "calculate,x,X,,,,${y} + ${a}",
        "calculate,y,Y,,,,${x} + ${b}",
    ]);
    let problems = refused("form.csv", &form);
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("refers back to this calculation")),
        "{problems:?}"
    );
}

#[test]
fn a_long_chain_of_calculations_is_refused_not_followed() {
    let chain: Vec<String> = (0..2_000)
        .map(|i| format!("calculate,c{i},C,,,,${{c{}}}", i + 1))
        .chain(["calculate,c2000,C,,,,${a}".to_owned()])
        .collect();
    let rows: Vec<&str> = chain.iter().map(String::as_str).collect();
    let problems = refused("form.csv", &scored(&rows));
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("more than 16 deep")),
        "{:?}",
        problems.first()
    );
    let short: Vec<&str> = rows.get(1_990..).unwrap_or_default().to_vec();
    let short = scored(&short);
    assert_eq!(score_of(&short, "c1990").items, ["a"]);
}

#[test]
fn an_item_reversed_in_one_score_only_is_refused() {
    let form = scored(&[
        "calculate,s1,S1,,,,${a} + (6 - ${b})",
        "calculate,s2,S2,,,,${a} + ${b}",
    ]);
    let problem = only_problem("form.csv", &form);
    assert!(
        problem.starts_with(
            "survey sheet, row 6, column calculation: \"b\" is scored in reverse on row 5"
        ),
        "{problem}"
    );
}

#[test]
fn items_outside_groups_form_a_section_named_from_the_form() {
    let form = xlsform(
        &[
            "text,q1,First,,,,",
            "begin_group,g,Group,,,,",
            "text,q2,Second,,,,",
            "end_group,,,,,,",
            "text,q3,Third,,,,",
        ],
        &[],
    );
    let d = imported("form.csv", &form).definition;
    let sections: Vec<(&str, &str)> = d
        .sections
        .iter()
        .map(|s| (s.key.as_str(), s.title.as_str()))
        .collect();
    assert_eq!(
        sections,
        [("tiny", "Tiny"), ("g", "Group"), ("tiny_2", "Tiny")]
    );
}

#[test]
fn groups_must_close_and_nested_groups_become_sections_in_order() {
    let form = xlsform(&["begin_group,outer,Outer,,,,", "text,q1,First,,,,"], &[]);
    let problem = only_problem("form.csv", &form);
    assert_eq!(
        problem,
        "survey sheet, row 2, column type: group \"outer\" has no end_group"
    );
    let form = xlsform(
        &[
            "begin_group,outer,Outer,,,,",
            "text,q1,First,,,,",
            "begin_group,inner,Inner,,,,",
            "text,q2,Second,,,,",
            "end_group,,,,,,",
            "text,q3,Third,,,,",
            "end_group,,,,,,",
        ],
        &[],
    );
    let d = imported("form.csv", &form).definition;
    let sections: Vec<(&str, usize)> = d
        .sections
        .iter()
        .map(|s| (s.key.as_str(), s.items.len()))
        .collect();
    assert_eq!(sections, [("outer", 1), ("inner", 1), ("outer_2", 1)]);
}

#[test]
fn names_that_become_the_same_key_are_refused() {
    let form = xlsform(&["text,Q1,First,,,,", "text,q1,Second,,,,"], &[]);
    assert_eq!(
        only_problem("form.csv", &form),
        "survey sheet, row 3, column name: the name \"q1\" becomes the key \"q1\", which row 2 already has"
    );
}

#[test]
fn problem_display_names_the_place() {
    let p = ImportProblem {
        sheet: "survey sheet".into(),
        row: Some(7),
        column: Some("calculation".into()),
        message: "m".into(),
    };
    assert_eq!(p.to_string(), "survey sheet, row 7, column calculation: m");
    assert_eq!(ImportProblem::file("m").to_string(), "m");
}
