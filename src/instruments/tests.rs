//! The engine against hand-computed values for every rule of the synthetic
//! instrument, the definition checks with their lines, and properties over
//! random answers.

use proptest::prelude::*;

use super::definition::{self, Definition, ItemKind};
use super::scoring::{self, Answer, Answers};

const SYNTHETIC: &str = include_str!("../../instruments/fieldkit-synthetic.v1.toml");

fn synthetic() -> Definition {
    definition::parse("synthetic", SYNTHETIC, Some(("fieldkit-synthetic", 1))).unwrap()
}

fn answers(pairs: &[(&str, f64)]) -> Answers {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Answer::Number(*v)))
        .collect()
}

fn value(scores: &[scoring::Score], key: &str) -> Option<f64> {
    scores.iter().find(|s| s.key == key).unwrap().value
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn every_rule_matches_hand_computed_values_when_all_is_answered() {
    let d = synthetic();
    // f3 is reversed: 1 + 5 - 2 = 4. Feelings sum 4 + 5 + 4 + 3 = 16.
    let a = answers(&[
        ("f1", 4.0),
        ("f2", 5.0),
        ("f3", 2.0),
        ("f4", 3.0),
        ("d1", 1.0),
        ("d2", 4.0),
        ("d3", 2.0),
    ]);
    let s = scoring::score(&d, &a);
    let metric = s.iter().find(|s| s.key == "feelings_metric").unwrap();
    assert_eq!(metric.raw, Some(16.0));
    assert!(close(metric.value, 23.0), "table row 16 -> 23.0");
    assert_eq!(metric.band.as_deref(), Some("Middle"));
    assert!(!metric.prorated);
    assert!(close(value(&s, "feelings_mean"), 4.0));
    assert!(close(value(&s, "feelings_pair"), 9.0));
    // d1 1 of 0..1, d2 4 of 0..10, d3 2 of 0..2: 100 * 7 / 13.
    assert!(close(value(&s, "doing_pomp"), 700.0 / 13.0));
    let pomp = s.iter().find(|s| s.key == "doing_pomp").unwrap();
    assert_eq!(pomp.band.as_deref(), Some("Much"));
}

#[test]
fn missing_items_are_prorated_up_to_the_limit_and_never_counted_as_zero() {
    let d = synthetic();
    // f4 missing: 2 + 2 + (6 - 5) = 5 over 3 items, prorated to 20/3 = 6.67,
    // rounded to 7 for the table: 9.5.
    let a = answers(&[
        ("f1", 2.0),
        ("f2", 2.0),
        ("f3", 5.0),
        ("d1", 0.0),
        ("d3", 0.0),
    ]);
    let s = scoring::score(&d, &a);
    let metric = s.iter().find(|s| s.key == "feelings_metric").unwrap();
    assert!(metric.prorated);
    assert!(close(metric.raw, 20.0 / 3.0));
    assert!(close(metric.value, 9.5));
    assert_eq!(metric.band.as_deref(), Some("Low"));
    assert!(close(value(&s, "feelings_mean"), 5.0 / 3.0));
    assert!(close(value(&s, "feelings_pair"), 4.0));
    assert!(close(value(&s, "doing_pomp"), 0.0));

    // Two feelings items missing: the metric allows one, so no score, with
    // the reason; the mean allows two; the pair allows none.
    let a = answers(&[("f2", 3.0), ("f3", 3.0), ("d1", 1.0)]);
    let s = scoring::score(&d, &a);
    let metric = s.iter().find(|s| s.key == "feelings_metric").unwrap();
    assert_eq!(metric.value, None);
    assert_eq!(metric.band, None);
    assert!(metric
        .note
        .as_deref()
        .unwrap()
        .contains("2 of 4 items unanswered"));
    assert!(close(value(&s, "feelings_mean"), 3.0));
    assert_eq!(value(&s, "feelings_pair"), None);
    // d2 and d3 missing: two of three, more than the one allowed.
    assert_eq!(value(&s, "doing_pomp"), None);
}

#[test]
fn change_between_time_points_is_judged_against_the_minimal_important_change() {
    let d = synthetic();
    let rule = d
        .scores
        .iter()
        .find(|r| r.key == "feelings_metric")
        .unwrap();
    let c = scoring::change(rule, 9.5, 23.0);
    assert_eq!((c.change, c.important), (13.5, Some(true)));
    assert_eq!(scoring::change(rule, 23.0, 21.5).important, Some(false));
    assert_eq!(scoring::change(rule, 23.0, 20.0).important, Some(true));
    let pair = d.scores.iter().find(|r| r.key == "feelings_pair").unwrap();
    assert_eq!(scoring::change(pair, 1.0, 9.0).important, None);
}

#[test]
fn answers_are_checked_against_the_definition() {
    let d = synthetic();
    let mut a = answers(&[("f1", 6.0), ("d2", 11.0), ("d3", 1.5), ("nope", 1.0)]);
    a.insert("d4".into(), Answer::Choices(vec![1, 1]));
    a.insert("d5".into(), Answer::Number(3.0));
    let problems = scoring::check_answers(&d, &a, true);
    let items: Vec<&str> = problems.iter().map(|p| p.item.as_str()).collect();
    assert_eq!(
        items,
        ["nope", "f1", "d1", "d2", "d3", "d4", "d5"],
        "{problems:?}"
    );
    assert!(problems[2].message.contains("required"));
    assert!(problems[3].message.contains("from 0 to 10"));
    // A draft may leave a required item out.
    assert!(scoring::check_answers(&d, &answers(&[("f1", 5.0)]), false).is_empty());
    let mut ok = answers(&[("d1", 1.0), ("d2", 3.0)]);
    ok.insert("d4".into(), Answer::Choices(vec![1, 3]));
    ok.insert("d5".into(), Answer::Text("Went twice".into()));
    assert!(scoring::check_answers(&d, &ok, true).is_empty());
}

fn problems_of(text: &str) -> Vec<definition::Problem> {
    definition::parse("x.v1.toml", text, None).unwrap_err()
}

#[test]
fn a_broken_definition_names_each_problem_and_its_line() {
    let text = SYNTHETIC
        .replace("max_missing = 1\nconversion", "max_missing = 4\nconversion")
        .replace("[10, 14.0], ", "")
        .replace("items = [\"f1\", \"f2\"]", "items = [\"f1\", \"d5\"]")
        .replace(
            "{ from = 25.0, label = \"High\" }",
            "{ from = 5.0, label = \"High\" }",
        );
    let problems = problems_of(&text);
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let all = messages.join("\n");
    assert!(
        all.contains("max_missing is 4 but the score has only 4 items"),
        "{all}"
    );
    assert!(
        all.contains("raw scores must be whole numbers in order"),
        "{all}"
    );
    assert!(all.contains("item \"d5\" cannot be scored"), "{all}");
    assert!(all.contains("bands must rise"), "{all}");
    // Each score problem points at its [[scores]] table.
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let pair = problems.iter().find(|p| p.message.contains("d5")).unwrap();
    let pair_line = line_of("key = \"feelings_pair\"");
    assert!(
        (pair_line - 1..=pair_line).contains(&pair.line.unwrap()),
        "{pair}"
    );

    let syntax = problems_of("id = \"x\"\nversion = \n");
    assert_eq!(syntax[0].line, Some(2), "{:?}", syntax);
    let unknown = problems_of(&SYNTHETIC.replace("draft =", "drafty ="));
    assert!(
        unknown[0].message.contains("unknown field"),
        "{:?}",
        unknown
    );
    let named = definition::parse("x", SYNTHETIC, Some(("other", 1))).unwrap_err();
    assert!(named[0].message.contains("named for other version 1"));
}

#[test]
fn a_definition_survives_writing_out_and_reading_back() {
    let d = synthetic();
    let again = definition::parse("again", &d.to_toml(), None).unwrap();
    assert_eq!(again, d);
}

/// Random answers for the synthetic instrument: each scorable item
/// answered with a value from its range, or left blank.
fn random_answers() -> impl Strategy<Value = Answers> {
    let d = synthetic();
    let items: Vec<(String, Vec<f64>)> = d
        .items()
        .filter_map(|i| {
            let r = i.scored_range(&d.scales)?;
            let options = i.options(&d.scales);
            let values: Vec<f64> = if options.is_empty() {
                (r.lo as i64..=r.hi as i64).map(|v| v as f64).collect()
            } else {
                options.iter().map(|o| o.value as f64).collect()
            };
            Some((i.key.clone(), values))
        })
        .collect();
    let per_item: Vec<_> = items
        .into_iter()
        .map(|(key, values)| {
            proptest::option::of(proptest::sample::select(values))
                .prop_map(move |v| (key.clone(), v))
        })
        .collect();
    per_item.prop_map(|pairs| {
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, Answer::Number(v))))
            .collect()
    })
}

proptest! {
    #[test]
    fn scores_stay_within_the_range_the_definition_allows(a in random_answers()) {
        let d = synthetic();
        for (rule, score) in d.scores.iter().zip(scoring::score(&d, &a)) {
            let (lo, hi) = scoring::rule_range(&d, rule).unwrap();
            if let Some(v) = score.value {
                prop_assert!(v >= lo - 1e-9 && v <= hi + 1e-9, "{} = {v} outside {lo}..{hi}", rule.key);
            }
        }
    }

    #[test]
    fn reversing_an_item_twice_changes_nothing(a in random_answers()) {
        // Flip every reverse flag and reflect every answer: reversing twice
        // (once in the answers, once in the engine) gives the same scores.
        let d = synthetic();
        let mut flipped = d.clone();
        let mut reflected = a.clone();
        for section in &mut flipped.sections {
            for item in &mut section.items {
                if item.kind == ItemKind::Scale {
                    item.reverse = !item.reverse;
                    if let Some(Answer::Number(v)) = reflected.get_mut(&item.key) {
                        *v = 1.0 + 5.0 - *v;
                    }
                }
            }
        }
        prop_assert_eq!(scoring::score(&d, &a), scoring::score(&flipped, &reflected));
    }

    #[test]
    fn prorating_with_no_missing_item_equals_the_plain_score(a in random_answers()) {
        let d = synthetic();
        let mut strict = d.clone();
        for rule in &mut strict.scores {
            rule.max_missing = 0;
        }
        for (loose, plain) in scoring::score(&d, &a).iter().zip(scoring::score(&strict, &a)) {
            if plain.value.is_some() {
                prop_assert!(!loose.prorated);
                prop_assert_eq!(loose.value, plain.value);
            }
        }
    }
}
