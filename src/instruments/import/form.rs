//! What both importers build: sections in order, shared scales, the names
//! that expressions refer to, and notes on what was dropped or read
//! differently. Knows no file format.

use std::collections::{BTreeSet, HashMap};

use crate::instruments::definition::{is_key, Anchor, Definition, Item, Scale, Section};

use super::ImportProblem;

/// A definition before it is checked, and the notes made reading it.
#[derive(Debug)]
pub struct Draft {
    /// Not yet checked by `definition::parse`.
    pub definition: Definition,
    /// What was dropped or read differently.
    pub notes: Notes,
}

/// Notes gathered by place and message, so one message names all its rows.
#[derive(Debug, Default)]
pub struct Notes {
    entries: Vec<(String, String, Vec<usize>)>,
}

impl Notes {
    /// A note at a place ("survey sheet", or empty for the whole file).
    pub fn add(&mut self, place: &str, row: Option<usize>, message: impl Into<String>) {
        let message = message.into();
        let found = self
            .entries
            .iter_mut()
            .find(|(p, m, _)| p == place && *m == message);
        match found {
            Some((_, _, rows)) => rows.extend(row),
            None => self
                .entries
                .push((place.to_owned(), message, row.into_iter().collect())),
        }
    }

    /// "survey sheet, rows 3, 5 and 9: relevant ignored; every item is shown".
    pub fn render(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(place, message, rows)| {
                let mut at = Vec::new();
                if !place.is_empty() {
                    at.push(place.clone());
                }
                if !rows.is_empty() {
                    at.push(row_list(rows));
                }
                if at.is_empty() {
                    message.clone()
                } else {
                    format!("{}: {message}", at.join(", "))
                }
            })
            .collect()
    }
}

fn row_list(rows: &[usize]) -> String {
    const SHOWN: usize = 8;
    let mut shown: Vec<String> = rows.iter().take(SHOWN).map(usize::to_string).collect();
    match rows.len() {
        1 => format!("row {}", shown.join("")),
        n if n > SHOWN => format!("rows {} and {} more", shown.join(", "), n - SHOWN),
        _ => {
            let last = shown.pop().unwrap_or_default();
            format!("rows {} and {last}", shown.join(", "))
        }
    }
}

/// What a name in the form stands for, for expressions to resolve.
#[derive(Clone, Debug, PartialEq)]
pub enum Named {
    /// A question, by its item key.
    Item(String),
    /// A calculation, by its index in the list handed to the recogniser.
    Calculation(usize),
    /// Anything else with a name: "a note", "a group".
    Other(&'static str),
}

/// The form's names, as written in it, each once, and the keys they
/// become, each once.
#[derive(Debug, Default)]
pub struct Names {
    by_name: HashMap<String, (Named, usize)>,
    by_key: HashMap<String, usize>,
}

impl Names {
    /// Records a name and its key; a name or key used twice is refused at
    /// its second row.
    pub fn add(&mut self, name: &str, key: &str, named: Named, row: usize) -> Result<(), String> {
        if let Some((_, first)) = self.by_name.get(name) {
            return Err(format!("the name \"{name}\" is also used on row {first}"));
        }
        if let Some(first) = self.by_key.get(key) {
            return Err(format!(
                "the name \"{name}\" becomes the key \"{key}\", which row {first} already has"
            ));
        }
        self.by_name.insert(name.to_owned(), (named, row));
        self.by_key.insert(key.to_owned(), row);
        Ok(())
    }

    /// What a name stands for, as written in the form.
    pub fn get(&self, name: &str) -> Option<&Named> {
        self.by_name.get(name).map(|(n, _)| n)
    }
}

/// A fieldkit key from a form's name: lowercase, with `-` and `.` as `_`.
pub fn key_from_name(name: &str) -> Option<String> {
    let key: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    is_key(&key).then_some(key)
}

/// A key for a section from its title: "About your week" is about_your_week.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if in_tag => {}
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ if !out.ends_with('_') && !out.is_empty() => out.push('_'),
            _ => {}
        }
    }
    let mut key = out.trim_end_matches('_').to_owned();
    if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        key.insert_str(0, "section_");
    }
    key.truncate(63);
    key.trim_end_matches('_').to_owned()
}

/// A name in words: "wellbeing_short" is "Wellbeing short".
pub fn words(name: &str) -> String {
    let spaced = name.trim().replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An instrument id from a form's id or name: lowercase, hyphens for
/// underscores and spaces.
pub fn instrument_id(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| match c {
            '_' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// A list of exactly 1 "Yes" and 0 "No" is fieldkit's yes/no item.
pub fn is_yes_no(anchors: &[Anchor]) -> bool {
    let label = |v: i64| {
        anchors
            .iter()
            .find(|a| a.value == v)
            .map(|a| a.label.trim().to_lowercase())
    };
    anchors.len() == 2 && label(1).as_deref() == Some("yes") && label(0).as_deref() == Some("no")
}

/// Sections and scales as the rows are read.
#[derive(Debug)]
pub struct FormBuilder {
    default_key: String,
    default_title: String,
    sections: Vec<Section>,
    /// The last section takes the next item.
    open: bool,
    /// A section started but with no item yet, so it can still be renamed
    /// or dropped.
    pending: Option<Pending>,
    section_keys: BTreeSet<String>,
    scales: Vec<Scale>,
    /// Notes made while reading the form, handed on with the draft.
    pub notes: Notes,
}

#[derive(Debug)]
struct Pending {
    key: String,
    title: String,
    intro: Option<String>,
    /// Where the intro came from, to say so if it is dropped.
    intro_at: Option<(String, usize)>,
}

impl FormBuilder {
    /// Items outside any section go to a section with this key and title.
    pub fn new(default_key: &str, default_title: &str) -> FormBuilder {
        FormBuilder {
            default_key: default_key.to_owned(),
            default_title: default_title.to_owned(),
            sections: Vec::new(),
            open: false,
            pending: None,
            section_keys: BTreeSet::new(),
            scales: Vec::new(),
            notes: Notes::default(),
        }
    }

    /// Starts a section; it exists once it has an item.
    pub fn start(&mut self, key: &str, title: &str) {
        self.close();
        self.pending = Some(Pending {
            key: key.to_owned(),
            title: title.to_owned(),
            intro: None,
            intro_at: None,
        });
    }

    /// Ends the current section: later items go to a new one.
    pub fn close(&mut self) {
        if let Some(p) = self.pending.take() {
            if let Some((place, row)) = p.intro_at {
                self.notes.add(
                    &place,
                    Some(row),
                    format!(
                        "the text of section \"{}\" is left out: the section has no questions",
                        p.title
                    ),
                );
            }
        }
        self.open = false;
    }

    /// True when the current section has no items yet.
    pub fn is_fresh(&self) -> bool {
        self.pending.is_some()
            || (self.open && self.sections.last().is_some_and(|s| s.items.is_empty()))
    }

    /// Renames a section that has no items yet; false if there is none.
    pub fn rekey(&mut self, key: &str) -> bool {
        if let Some(p) = &mut self.pending {
            p.key = key.to_owned();
            return true;
        }
        match self.sections.last_mut() {
            Some(s) if self.open && s.items.is_empty() => {
                self.section_keys.remove(&s.key);
                s.key = unique(&mut self.section_keys, key);
                true
            }
            _ => false,
        }
    }

    /// Text shown at the start of the current section.
    pub fn intro(&mut self, text: &str, place: &str, row: usize) {
        if self.pending.is_none() && !self.open {
            let (key, title) = (self.default_key.clone(), self.default_title.clone());
            self.start(&key, &title);
        }
        let (intro, has_items) = match (&mut self.pending, self.sections.last_mut()) {
            (Some(p), _) => {
                p.intro_at.get_or_insert((place.to_owned(), row));
                (&mut p.intro, false)
            }
            (None, Some(s)) => {
                let has_items = !s.items.is_empty();
                (&mut s.intro, has_items)
            }
            (None, None) => return,
        };
        match intro {
            Some(existing) => {
                existing.push_str("\n\n");
                existing.push_str(text);
            }
            None => *intro = Some(text.to_owned()),
        }
        if has_items {
            self.notes.add(
                place,
                Some(row),
                "text between questions is shown at the start of its section",
            );
        }
    }

    /// Adds a question to the current section, or to a new one.
    pub fn item(&mut self, item: Item) {
        if self.pending.is_none() && !self.open {
            let (key, title) = (self.default_key.clone(), self.default_title.clone());
            self.start(&key, &title);
        }
        if let Some(p) = self.pending.take() {
            let key = unique(&mut self.section_keys, &p.key);
            self.sections.push(Section {
                key,
                title: p.title,
                intro: p.intro,
                items: Vec::new(),
            });
            self.open = true;
        }
        if let Some(section) = self.sections.last_mut() {
            section.items.push(item);
        }
    }

    /// The scale of an XLSForm list, one per list; refused when another
    /// list with other options became the same key.
    pub fn scale_for_list(&mut self, key: &str, anchors: Vec<Anchor>) -> Result<String, String> {
        match self.scales.iter().find(|s| s.key == key) {
            Some(s) if s.anchors != anchors => {
                return Err(format!(
                    "two lists with different choices become the scale key \"{key}\""
                ))
            }
            Some(_) => {}
            None => self.scales.push(Scale {
                key: key.to_owned(),
                anchors,
            }),
        }
        Ok(key.to_owned())
    }

    /// One scale for each distinct set of options, keyed by its first use.
    pub fn scale_for_anchors(&mut self, anchors: Vec<Anchor>, key: &str) -> String {
        if let Some(s) = self.scales.iter().find(|s| s.anchors == anchors) {
            return s.key.clone();
        }
        let mut taken: BTreeSet<String> = self.scales.iter().map(|s| s.key.clone()).collect();
        let key = unique(&mut taken, key);
        self.scales.push(Scale {
            key: key.clone(),
            anchors,
        });
        key
    }

    /// The scales and sections, the notes made building them.
    pub fn finish(mut self) -> (Vec<Scale>, Vec<Section>, Notes) {
        self.close();
        (self.scales, self.sections, self.notes)
    }
}

/// `key`, or `key_2`, `key_3`... when it is taken; recorded as taken.
fn unique(taken: &mut BTreeSet<String>, key: &str) -> String {
    let mut candidate = key.to_owned();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        let suffix = format!("_{n}");
        let mut base = key.to_owned();
        base.truncate(63 - suffix.len());
        candidate = format!("{base}{suffix}");
    }
    taken.insert(candidate.clone());
    candidate
}

/// A problem with a form's name for something, at its row and column.
pub fn key_problem(place: &str, row: usize, column: &str, name: &str) -> ImportProblem {
    ImportProblem::at(
        place,
        row,
        column,
        format!(
            "\"{name}\" cannot be a fieldkit key: use letters, digits and underscores, starting with a letter, at most 63"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::definition::ItemKind;

    fn text_item(key: &str) -> Item {
        Item {
            key: key.into(),
            text: key.into(),
            kind: ItemKind::Text,
            hint: None,
            scale: None,
            choices: Vec::new(),
            min: None,
            max: None,
            integer: false,
            required: false,
            reverse: false,
        }
    }

    #[test]
    fn names_become_keys_or_are_refused() {
        assert_eq!(key_from_name("PHQ-9.1").as_deref(), Some("phq_9_1"));
        assert_eq!(key_from_name("1st"), None);
        assert_eq!(slug("<b>About your week</b>!"), "about_your_week");
        assert_eq!(slug("2024 review"), "section_2024_review");
        assert_eq!(words("wellbeing_short"), "Wellbeing short");
        assert_eq!(instrument_id("Wellbeing_Short"), "wellbeing-short");
    }

    #[test]
    fn notes_name_every_row_once() {
        let mut notes = Notes::default();
        for row in [3, 5, 9] {
            notes.add("survey sheet", Some(row), "relevant ignored");
        }
        notes.add("", None, "version 1");
        assert_eq!(
            notes.render(),
            [
                "survey sheet, rows 3, 5 and 9: relevant ignored",
                "version 1"
            ]
        );
    }

    #[test]
    fn items_outside_sections_go_to_the_default_section_and_keys_stay_unique() {
        let mut form = FormBuilder::new("form", "The form");
        form.item(text_item("a"));
        form.start("form", "Again");
        form.intro("Hello", "survey sheet", 4);
        form.item(text_item("b"));
        form.start("empty", "Empty");
        form.intro("Lost", "survey sheet", 7);
        form.close();
        form.item(text_item("c"));
        let (_, sections, notes) = form.finish();
        let keys: Vec<&str> = sections.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["form", "form_2", "form_3"]);
        assert_eq!(sections[1].intro.as_deref(), Some("Hello"));
        assert_eq!(notes.render().len(), 1);
    }
}
