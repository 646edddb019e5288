//! The words around a consent form's statements on the participant's pages
//! (buttons, progress, errors, the pages about a link), in the form's
//! language and reading level. The statements, the text, the policy and the
//! contact are the form's own; these are fieldkit's, one TOML catalogue per
//! language compiled in: standard English, easy-read English and Urdu. A
//! language without a catalogue reads fieldkit's words in English.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Every catalogue: (name, TOML). The first is the one every other must match.
const CATALOGUES: [(&str, &str); 3] = [
    ("en", include_str!("interface/en.toml")),
    ("en-easy-read", include_str!("interface/en-easy-read.toml")),
    ("ur", include_str!("interface/ur.toml")),
];

/// One catalogue: key to words, and the language tag its words are in.
pub type Words = BTreeMap<String, String>;

static PARSED: LazyLock<BTreeMap<&'static str, Words>> = LazyLock::new(|| {
    CATALOGUES
        .iter()
        .map(|(name, text)| {
            // Compiled in and checked by the unit tests below.
            let words: Words = toml::from_str(text).unwrap_or_default();
            (*name, words)
        })
        .collect()
});

/// The words for a form in `language` (a tag such as en-GB or ur), easy
/// read or not. Easy read exists in English only; another language's
/// easy-read form reads that language's catalogue, and a language without
/// one reads English.
pub fn words(language: &str, easy_read: bool) -> &'static Words {
    let primary = language.split('-').next().unwrap_or_default();
    let name = match (primary, easy_read) {
        ("en", true) => "en-easy-read",
        (other, _) if PARSED.contains_key(other) => other,
        _ => "en",
    };
    &PARSED[name]
}

/// A catalogue's words for `key` with each `{name}` filled in.
pub fn fill(words: &Words, key: &str, values: &[(&str, &str)]) -> String {
    let mut text = words.get(key).cloned().unwrap_or_default();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `{name}` a text asks for, in order.
    fn placeholders(text: &str) -> Vec<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_catalogue_parses_and_has_every_key_and_no_unknown_blank() {
        let english: Words = toml::from_str(CATALOGUES[0].1).unwrap();
        for (name, text) in CATALOGUES {
            let words: Words = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                words.keys().collect::<Vec<_>>(),
                english.keys().collect::<Vec<_>>(),
                "{name} has other keys than en"
            );
            for (key, value) in &words {
                // A catalogue may leave a detail out (easy read often
                // does), never ask for one fieldkit does not fill.
                let known = placeholders(&english[key]);
                for blank in placeholders(value) {
                    assert!(known.contains(&blank), "{name}.{key}: {{{blank}}}");
                }
                assert!(!value.trim().is_empty(), "{name}.{key} is empty");
            }
        }
    }

    #[test]
    fn a_form_reads_its_own_language_and_level_or_english() {
        assert_eq!(words("en-GB", false)["start"], "Start now");
        assert_eq!(words("en-GB", true)["start"], "Start");
        assert_eq!(words("ur", false)["yes"], "ہاں");
        assert_eq!(words("ur", true)["yes"], "ہاں");
        assert_eq!(words("cy", false)["start"], "Start now");
        assert_eq!(
            fill(
                words("en", false),
                "progress",
                &[("part", "2"), ("parts", "5")]
            ),
            "Part 2 of 5"
        );
    }
}
