//! A consent form file, `<form-id>.v<N>.md`, parsed and checked against every
//! rule. No I/O here. It never guesses: anything doubtful is a problem that
//! names the file and the line, and a form with any problem is not a form.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::ids::{FormVersionId, StudyId};

/// What a clause gives, or withholds, permission for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DataUse {
    TakePart,
    AudioRecording,
    VideoRecording,
    FilmPublic,
    Quotes,
    Photos,
    FutureContact,
    DataSharing,
    Archive,
    GpInformed,
    /// A use the study declares itself, in the form's `custom_uses`.
    Custom(String),
}

const STANDARD_USES: [DataUse; 10] = [
    DataUse::TakePart,
    DataUse::AudioRecording,
    DataUse::VideoRecording,
    DataUse::FilmPublic,
    DataUse::Quotes,
    DataUse::Photos,
    DataUse::FutureContact,
    DataUse::DataSharing,
    DataUse::Archive,
    DataUse::GpInformed,
];

impl DataUse {
    pub fn as_str(&self) -> &str {
        match self {
            Self::TakePart => "take_part",
            Self::AudioRecording => "audio_recording",
            Self::VideoRecording => "video_recording",
            Self::FilmPublic => "film_public",
            Self::Quotes => "quotes",
            Self::Photos => "photos",
            Self::FutureContact => "future_contact",
            Self::DataSharing => "data_sharing",
            Self::Archive => "archive",
            Self::GpInformed => "gp_informed",
            Self::Custom(key) => key,
        }
    }

    /// The standard use with this key, if there is one.
    fn standard(key: &str) -> Option<DataUse> {
        STANDARD_USES.into_iter().find(|u| u.as_str() == key)
    }
}

impl From<String> for DataUse {
    fn from(key: String) -> Self {
        Self::standard(&key).unwrap_or(Self::Custom(key))
    }
}

impl From<DataUse> for String {
    fn from(use_: DataUse) -> String {
        use_.as_str().to_owned()
    }
}

impl fmt::Display for DataUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One statement the participant answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clause {
    pub key: String,
    pub text: String,
    pub mandatory: bool,
    pub governs: DataUse,
}

/// A form that passed every rule, exactly as its file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentForm {
    pub study_slug: String,
    pub form_id: String,
    pub version: i32,
    /// A language tag such as en-GB.
    pub language: String,
    pub title: String,
    pub information_sheet_version: String,
    pub information_sheet_date: NaiveDate,
    pub rec_reference: String,
    pub rec_approval_date: NaiveDate,
    pub easy_read: bool,
    /// What happens to data already collected or published on withdrawal (C6).
    pub withdrawal_policy: String,
    /// The explanation shown above the clauses.
    pub body_markdown: String,
    /// In the order shown.
    pub clauses: Vec<Clause>,
    /// Hex SHA-256 of the file's bytes.
    pub content_hash: String,
    /// For a translation, the language of the form it translates (the file
    /// without a language in its name); None for that source form.
    pub translated_from: Option<String>,
    /// A note for the research team (an example form, a translation still to
    /// be checked); never shown to participants nor printed on their copy.
    pub staff_note: Option<String>,
    /// Who the participant contacts with a question (Markdown: names, phone,
    /// email), shown at the start of the form and on every page about their link.
    pub contact: Option<String>,
    /// Where the participant information sheet can be read (an https address).
    pub information_sheet_url: Option<String>,
}

impl ConsentForm {
    /// Whether the form's language is written right to left, for `dir` on
    /// pages (the PDF decides the same from the language).
    pub fn right_to_left(&self) -> bool {
        crate::pdf::is_right_to_left(&self.language)
    }

    /// What a translation must share with its source: the clauses (keys,
    /// order, whether needed, what each governs) and whether it is easy read.
    /// Wording, title, information sheet and policy are the translation's own.
    pub fn differs_from_source(&self, source: &ConsentForm) -> Option<String> {
        if self.easy_read != source.easy_read {
            return Some(format!(
                "easy_read is {} here but {} in the source form: an easy-read form is a form of its own, with its own translations",
                self.easy_read, source.easy_read
            ));
        }
        if self.rec_reference != source.rec_reference {
            return Some(format!(
                "rec_reference \"{}\" differs from the source form's \"{}\": a translation is approved with the form it translates",
                self.rec_reference, source.rec_reference
            ));
        }
        let shape = |f: &ConsentForm| -> Vec<(String, bool, DataUse)> {
            f.clauses
                .iter()
                .map(|c| (c.key.clone(), c.mandatory, c.governs.clone()))
                .collect()
        };
        let (mine, theirs) = (shape(self), shape(source));
        if mine == theirs {
            return None;
        }
        let at = mine.iter().zip(&theirs).position(|(a, b)| a != b);
        Some(match at {
            Some(i) => {
                let ((key, mandatory, governs), (skey, smandatory, sgoverns)) = (&mine[i], &theirs[i]);
                format!(
                    "clause {} differs from the source form's: here \"{key}\" (mandatory = {mandatory}, governs {governs}), there \"{skey}\" (mandatory = {smandatory}, governs {sgoverns}); a translation has the same clauses in the same order",
                    i + 1
                )
            }
            None => format!(
                "this translation has {} clauses and the source form {}; a translation has the same clauses in the same order",
                mine.len(),
                theirs.len()
            ),
        })
    }
}

/// A language's name in its own words, for choosing a form's language:
/// the languages most spoken in England and Wales after English (Census
/// 2021), then the tag itself for any other.
pub fn language_name(tag: &str) -> String {
    let primary = tag.split('-').next().unwrap_or_default();
    let name = match primary {
        "en" => "English",
        "cy" => "Cymraeg",
        "gd" => "Gàidhlig",
        "ur" => "اردو",
        "ar" => "العربية",
        "pa" => "ਪੰਜਾਬੀ",
        "bn" => "বাংলা",
        "gu" => "ગુજરાતી",
        "pl" => "Polski",
        "ro" => "Română",
        "pt" => "Português",
        "es" => "Español",
        "it" => "Italiano",
        "lt" => "Lietuvių",
        "so" => "Soomaali",
        "ta" => "தமிழ்",
        "tr" => "Türkçe",
        "fa" => "فارسی",
        "ps" => "پښتو",
        "zh" => "中文",
        "uk" => "Українська",
        "ru" => "Русский",
        "fr" => "Français",
        "de" => "Deutsch",
        _ => return tag.to_owned(),
    };
    name.to_owned()
}

/// A form version as published in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentFormVersion {
    pub id: FormVersionId,
    pub study_id: StudyId,
    pub form: ConsentForm,
    /// The file it came from, relative to the consent-forms folder.
    pub source_path: String,
    pub loaded_at: i64,
}

/// Something wrong with a form file, where it is and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormProblem {
    /// The file (or folder) as the team knows it, e.g. consent-forms/rc/participation.v2.md.
    pub file: String,
    /// None when the problem is the file as a whole (its name, reading it).
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for FormProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// What a form's file name says: `<form-id>.v<N>.md`, or for a translation
/// `<form-id>.v<N>.<language>.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FormFileName {
    form_id: String,
    version: i32,
    language: Option<String>,
}

/// Lowercase letters, digits and hyphens, starting with a letter.
fn is_form_id(s: &str) -> bool {
    s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Clause keys and study-defined uses: `^[a-z][a-z0-9_]{1,40}$`.
fn is_key(s: &str) -> bool {
    (2..=41).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A language tag in the shape of en-GB, cy or zh-Hant-HK.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl FormFileName {
    fn parse(name: &str) -> Option<FormFileName> {
        // A form id holds no dot, so the parts are unambiguous.
        let mut parts = name.strip_suffix(".md")?.split('.');
        let (form_id, version) = (parts.next()?, parts.next()?.strip_prefix('v')?);
        let language = parts.next().map(str::to_owned);
        let version_ok = !version.is_empty()
            && version.chars().all(|c| c.is_ascii_digit())
            && (version == "0" || !version.starts_with('0'));
        let language_ok = language.as_deref().is_none_or(is_language_tag);
        if !is_form_id(form_id) || !version_ok || !language_ok || parts.next().is_some() {
            return None;
        }
        Some(FormFileName {
            form_id: form_id.to_owned(),
            version: version.parse().ok()?,
            language,
        })
    }
}

/// The front matter as written; every field optional so that each missing
/// one is reported, not just the first.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    form_id: Option<Spanned<String>>,
    version: Option<Spanned<i64>>,
    language: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    information_sheet_version: Option<Spanned<String>>,
    information_sheet_date: Option<Spanned<toml::Value>>,
    rec_reference: Option<Spanned<String>>,
    rec_approval_date: Option<Spanned<toml::Value>>,
    easy_read: Option<Spanned<bool>>,
    withdrawal_policy: Option<Spanned<String>>,
    translated_from: Option<Spanned<String>>,
    staff_note: Option<Spanned<String>>,
    contact: Option<Spanned<String>>,
    information_sheet_url: Option<Spanned<String>>,
    #[serde(default)]
    custom_uses: Vec<Spanned<String>>,
    #[serde(default)]
    clauses: Vec<Spanned<ClauseFrontMatter>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClauseFrontMatter {
    key: Option<Spanned<String>>,
    text: Option<Spanned<String>>,
    mandatory: Option<Spanned<bool>>,
    governs: Option<Spanned<String>>,
}

/// Where the front matter and the body lie in the file.
struct Parts<'a> {
    front: &'a str,
    /// Byte offset of the front matter in the file.
    front_at: usize,
    body: &'a str,
    /// Line of the closing `+++`.
    close_line: usize,
}

const FENCE_HELP: &str =
    "a form starts with a line +++, then the front matter (TOML), then another line +++, then the text shown above the clauses";

fn split_front_matter(text: &str) -> Result<Parts<'_>, (usize, String)> {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut lines = text[bom..].split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    if first.trim_end() != "+++" {
        return Err((1, format!("line 1 is not +++: {FENCE_HELP}")));
    }
    let front_at = bom + first.len();
    let mut at = front_at;
    for (i, line) in lines.enumerate() {
        if line.trim_end() == "+++" {
            return Ok(Parts {
                front: &text[front_at..at],
                front_at,
                body: &text[at + line.len()..],
                close_line: i + 2,
            });
        }
        at += line.len();
    }
    Err((1, format!("the closing +++ line is missing: {FENCE_HELP}")))
}

/// The 1-based line holding a byte offset of the file.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Collects the problems of one file.
struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    front_at: usize,
    problems: Vec<FormProblem>,
}

impl Checker<'_> {
    fn at(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.problems.push(FormProblem {
            file: self.file.to_owned(),
            line,
            message: message.into(),
        });
    }

    /// The line of a span in the front matter.
    fn line<T>(&self, s: &Spanned<T>) -> usize {
        line_at(self.text.as_bytes(), self.front_at + s.span().start)
    }

    /// A required text, present and not blank; `label` names it in problems.
    fn text(&mut self, field: Option<&Spanned<String>>, label: &str, missing_at: usize) -> String {
        match field {
            None => self.at(Some(missing_at), format!("{label} is missing")),
            Some(v) if v.get_ref().trim().is_empty() => {
                let line = self.line(v);
                self.at(Some(line), format!("{label} is empty"));
            }
            Some(v) => return v.get_ref().trim().to_owned(),
        }
        String::new()
    }

    /// What Markdown in a form may not hold (raw HTML, images, unsafe
    /// links), at its line; `first_line` is the line the text starts on.
    fn markdown(&mut self, text: &str, first_line: usize, what: &str) {
        for refused in crate::markdown::refused(text) {
            let line = first_line + line_at(text.as_bytes(), refused.offset) - 1;
            self.at(Some(line), format!("{what}: {}", refused.message));
        }
    }

    /// A calendar date, written "YYYY-MM-DD" or as a bare TOML date.
    fn date(&mut self, field: Option<&Spanned<toml::Value>>, name: &str) -> NaiveDate {
        let Some(v) = field else {
            self.at(Some(1), format!("`{name}` is missing"));
            return NaiveDate::MIN;
        };
        let parsed = match v.get_ref() {
            toml::Value::String(s) if s.len() == 10 => {
                NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
            }
            toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => d
                .date
                .and_then(|d| NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let line = self.line(v);
            self.at(
                Some(line),
                format!("`{name}` is not a date written YYYY-MM-DD, e.g. 2024-09-02"),
            );
            NaiveDate::MIN
        })
    }
}

/// Parses and checks one form file. `file` is how problems name it; the study
/// and the file name come from where the file lies. Problems come sorted by line.
pub fn parse_form(
    file: &str,
    study_slug: &str,
    file_name: &str,
    bytes: &[u8],
) -> Result<ConsentForm, Vec<FormProblem>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(vec![FormProblem {
                file: file.to_owned(),
                line: Some(line_at(bytes, e.valid_up_to())),
                message: "this is not UTF-8 text: save the file as UTF-8".into(),
            }])
        }
    };
    let mut c = Checker {
        file,
        text,
        front_at: 0,
        problems: Vec::new(),
    };
    let name = FormFileName::parse(file_name);
    if name.is_none() {
        c.at(None, "the file name must be <form-id>.v<N>.md, e.g. participation.v1.md (form id: lowercase letters, digits and hyphens), or <form-id>.v<N>.<language>.md for a translation, e.g. participation.v1.ur.md");
    }
    let form = match split_front_matter(text) {
        Err((line, message)) => {
            c.at(Some(line), message);
            None
        }
        Ok(parts) => {
            c.front_at = parts.front_at;
            match toml::from_str::<FrontMatter>(parts.front) {
                Err(e) => {
                    let line = e
                        .span()
                        .map_or(1, |s| line_at(bytes, parts.front_at + s.start));
                    c.at(Some(line), e.message().trim().to_owned());
                    None
                }
                Ok(front) => {
                    let body = parts.body.trim();
                    if body.is_empty() {
                        c.at(
                            Some(parts.close_line),
                            "there is no text after the front matter: write the explanation shown above the clauses",
                        );
                    }
                    let hash = hex::encode(Sha256::digest(bytes));
                    let body_line = line_at(bytes, body.as_ptr() as usize - text.as_ptr() as usize);
                    c.markdown(body, body_line, "the text above the clauses");
                    Some(check_front_matter(
                        &mut c,
                        &front,
                        name.as_ref(),
                        study_slug,
                        body,
                        hash,
                    ))
                }
            }
        }
    };
    if let Some(form) = &form {
        check_printable(&mut c, form);
    }
    match form {
        Some(form) if c.problems.is_empty() => Ok(form),
        _ => {
            c.problems.sort_by_key(|p| p.line);
            Err(c.problems)
        }
    }
}

/// The form from its front matter and what lies outside it.
fn check_front_matter(
    c: &mut Checker,
    f: &FrontMatter,
    name: Option<&FormFileName>,
    study_slug: &str,
    body: &str,
    content_hash: String,
) -> ConsentForm {
    // Fields in the order they are written, so missing ones are listed so too.
    ConsentForm {
        study_slug: study_slug.to_owned(),
        form_id: check_form_id(c, f, name),
        version: check_version(c, f, name),
        language: check_language(c, f),
        title: c.text(f.title.as_ref(), "`title`", 1),
        information_sheet_version: c.text(
            f.information_sheet_version.as_ref(),
            "`information_sheet_version`",
            1,
        ),
        information_sheet_date: c.date(f.information_sheet_date.as_ref(), "information_sheet_date"),
        rec_reference: c.text(f.rec_reference.as_ref(), "`rec_reference`", 1),
        rec_approval_date: c.date(f.rec_approval_date.as_ref(), "rec_approval_date"),
        easy_read: f.easy_read.as_ref().map_or_else(
            || {
                c.at(Some(1), "`easy_read` is missing (true or false)");
                false
            },
            |v| *v.get_ref(),
        ),
        withdrawal_policy: check_withdrawal_policy(c, f),
        body_markdown: body.to_owned(),
        clauses: check_clauses(c, f),
        content_hash,
        translated_from: check_translated_from(c, f, name),
        staff_note: f
            .staff_note
            .as_ref()
            .map(|n| n.get_ref().trim().to_owned())
            .filter(|n| !n.is_empty()),
        contact: check_contact(c, f),
        information_sheet_url: check_information_sheet_url(c, f),
    }
}

/// The contact, Markdown like the rest of the text a participant reads.
fn check_contact(c: &mut Checker, f: &FrontMatter) -> Option<String> {
    let v = f.contact.as_ref()?;
    let text = v.get_ref().trim().to_owned();
    let line = c.line(v);
    if text.is_empty() {
        c.at(Some(line), "`contact` is empty: name who participants contact with a question (a name, a phone number, an email address), or leave the field out");
        return None;
    }
    c.markdown(&text, line, "contact");
    Some(text)
}

/// The information sheet's address: https only, so that following it never
/// leaves the participant's reading open to anyone on their network.
fn check_information_sheet_url(c: &mut Checker, f: &FrontMatter) -> Option<String> {
    let v = f.information_sheet_url.as_ref()?;
    let raw = v.get_ref().trim();
    match url::Url::parse(raw) {
        Ok(u) if u.scheme() == "https" && u.host().is_some() => Some(u.to_string()),
        _ => {
            let line = c.line(v);
            c.at(
                Some(line),
                format!("`information_sheet_url` \"{raw}\" is not an https:// address, e.g. https://example.ac.uk/designing-together/information-sheet.pdf"),
            );
            None
        }
    }
}

/// Every word a participant reads must print on their copy: a character no
/// bundled font has is refused at its first line, never printed as `?`.
fn check_printable(c: &mut Checker, form: &ConsentForm) {
    let mut read = vec![
        form.title.as_str(),
        &form.information_sheet_version,
        &form.body_markdown,
        &form.withdrawal_policy,
    ];
    read.extend(form.contact.as_deref());
    read.extend(form.clauses.iter().map(|cl| cl.text.as_str()));
    let missing = crate::pdf::uncovered_chars(&read.join("\n"));
    let Some(first) = missing.first() else { return };
    let line = c.text.find(*first).map(|at| line_at(c.text.as_bytes(), at));
    let named: Vec<String> = missing
        .iter()
        .take(5)
        .map(|ch| format!("\"{ch}\" (U+{:04X})", u32::from(*ch)))
        .collect();
    c.at(
        line,
        format!(
            "{} cannot be printed on the participant's copy: fieldkit bundles fonts for Latin, Greek and Cyrillic (Noto Sans) and Arabic script (Noto Naskh Arabic) only; add a font for this script before using the form",
            named.join(", ")
        ),
    );
}

fn check_withdrawal_policy(c: &mut Checker, f: &FrontMatter) -> String {
    let policy = c.text(f.withdrawal_policy.as_ref(), "`withdrawal_policy`", 1);
    if let Some(v) = &f.withdrawal_policy {
        let line = c.line(v);
        c.markdown(&policy, line, "withdrawal_policy");
    }
    policy
}

/// A translation names its source's language, and only a translation does.
fn check_translated_from(
    c: &mut Checker,
    f: &FrontMatter,
    name: Option<&FormFileName>,
) -> Option<String> {
    let language = f.language.as_ref().map(|l| l.get_ref().trim());
    match (name.and_then(|n| n.language.as_deref()), &f.translated_from) {
        (None, None) => None,
        (Some(_), None) => {
            c.at(Some(1), "`translated_from` is missing: a file with a language in its name is a translation; name the language of the form it translates, e.g. translated_from = \"en-GB\"");
            None
        }
        (None, Some(v)) => {
            let line = c.line(v);
            c.at(Some(line), "only a translation has `translated_from`: name the file <form-id>.v<N>.<language>.md");
            None
        }
        (Some(in_name), Some(v)) => {
            let (from, line) = (v.get_ref().trim().to_owned(), c.line(v));
            if !is_language_tag(&from) {
                c.at(
                    Some(line),
                    format!("translated_from \"{from}\" is not a language tag such as en-GB or cy"),
                );
            } else if language == Some(from.as_str()) {
                c.at(
                    Some(line),
                    "a form cannot be a translation into its own language",
                );
            }
            if let Some(l) = f
                .language
                .as_ref()
                .filter(|l| l.get_ref().trim() != in_name)
            {
                let line = c.line(l);
                c.at(
                    Some(line),
                    format!(
                        "language \"{}\" does not match the file name, which says \"{in_name}\"",
                        l.get_ref().trim()
                    ),
                );
            }
            Some(from)
        }
    }
}

fn check_form_id(c: &mut Checker, f: &FrontMatter, name: Option<&FormFileName>) -> String {
    let form_id = c.text(f.form_id.as_ref(), "`form_id`", 1);
    if let (Some(v), Some(name)) = (&f.form_id, name) {
        if !form_id.is_empty() && form_id != name.form_id {
            let line = c.line(v);
            c.at(
                Some(line),
                format!(
                    "form_id \"{form_id}\" does not match the file name, which says \"{}\"",
                    name.form_id
                ),
            );
        }
    }
    form_id
}

fn check_language(c: &mut Checker, f: &FrontMatter) -> String {
    let language = c.text(f.language.as_ref(), "`language`", 1);
    if let Some(v) = f
        .language
        .as_ref()
        .filter(|_| !language.is_empty() && !is_language_tag(&language))
    {
        let line = c.line(v);
        c.at(
            Some(line),
            format!("language \"{language}\" is not a language tag such as en-GB or cy"),
        );
    }
    language
}

fn check_version(c: &mut Checker, f: &FrontMatter, name: Option<&FormFileName>) -> i32 {
    let Some(v) = &f.version else {
        c.at(Some(1), "`version` is missing");
        return 0;
    };
    let (n, line) = (*v.get_ref(), c.line(v));
    match name {
        _ if n < 1 => c.at(Some(line), "version must be 1 or more"),
        Some(name) if i64::from(name.version) != n => c.at(
            Some(line),
            format!(
                "version {n} does not match the file name, which says v{}",
                name.version
            ),
        ),
        _ => {}
    }
    i32::try_from(n).unwrap_or_else(|_| {
        c.at(Some(line), "version is too large");
        0
    })
}

/// The study-defined uses that pass, each with its line.
fn check_custom_uses(c: &mut Checker, f: &FrontMatter) -> Vec<(String, usize)> {
    let mut valid: Vec<(String, usize)> = Vec::new();
    for u in &f.custom_uses {
        let (key, line) = (u.get_ref(), c.line(u));
        if DataUse::standard(key).is_some() {
            c.at(
                Some(line),
                format!(
                    "custom use \"{key}\" is already a standard use: remove it from custom_uses"
                ),
            );
        } else if !is_key(key) {
            c.at(Some(line), format!("custom use \"{key}\" must be 2 to 41 lowercase letters, digits and underscores, starting with a letter"));
        } else if valid.iter().any(|(k, _)| k == key) {
            c.at(Some(line), format!("custom use \"{key}\" is listed twice"));
        } else {
            valid.push((key.clone(), line));
        }
    }
    valid
}

/// Every clause, checked alone and against the others.
fn check_clauses(c: &mut Checker, f: &FrontMatter) -> Vec<Clause> {
    let custom = check_custom_uses(c, f);
    let Some(first) = f.clauses.first() else {
        c.at(Some(1), "the form has no [[clauses]]");
        return Vec::new();
    };
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut governed: HashMap<DataUse, (String, usize)> = HashMap::new();
    let mut clauses = Vec::new();
    for spanned in &f.clauses {
        let header = c.line(spanned);
        let raw = spanned.get_ref();
        let key = c.text(raw.key.as_ref(), "[[clauses]]: `key`", header);
        let key_line = raw.key.as_ref().map_or(header, |k| c.line(k));
        let who = format!("clause \"{key}\"");
        if !key.is_empty() && !is_key(&key) {
            c.at(Some(key_line), format!("{who}: a key is 2 to 41 lowercase letters, digits and underscores, starting with a letter"));
        }
        match keys.get(&key) {
            Some(first) if !key.is_empty() => c.at(
                Some(key_line),
                format!("{who}: the key is used twice (first on line {first})"),
            ),
            _ => {
                keys.insert(key.clone(), key_line);
            }
        }
        let text = c.text(raw.text.as_ref(), &format!("{who}: `text`"), header);
        let (Some(mandatory), Some(governs)) = (&raw.mandatory, &raw.governs) else {
            if raw.mandatory.is_none() {
                c.at(
                    Some(header),
                    format!("{who}: `mandatory` is missing (true or false)"),
                );
            }
            if raw.governs.is_none() {
                c.at(Some(header), format!("{who}: `governs` is missing"));
            }
            continue;
        };
        let use_ = DataUse::from(governs.get_ref().clone());
        let governs_line = c.line(governs);
        if let DataUse::Custom(k) = &use_ {
            if !custom.iter().any(|(declared, _)| declared == k) {
                c.at(Some(governs_line), format!("{who}: governs \"{k}\", which is neither a standard use ({}) nor listed in custom_uses", standard_list()));
                continue;
            }
        }
        let (is_mandatory, mandatory_line) = (*mandatory.get_ref(), c.line(mandatory));
        match (&use_, is_mandatory) {
            (DataUse::TakePart, true) => {}
            (DataUse::TakePart, false) => c.at(Some(mandatory_line), format!("{who}: taking part cannot be optional: make the clause mandatory, or have it govern the use it asks about")),
            (_, true) => c.at(Some(mandatory_line), format!("{who}: an optional use cannot be mandatory (C3)")),
            (_, false) => match governed.get(&use_) {
                Some((other, line)) => c.at(Some(governs_line), format!("{who}: {use_} is already governed by clause \"{other}\" (line {line}); each use has exactly one clause (C3)")),
                None => {
                    governed.insert(use_.clone(), (key.clone(), key_line));
                }
            },
        }
        clauses.push(Clause {
            key,
            text,
            mandatory: is_mandatory,
            governs: use_,
        });
    }
    if !clauses
        .iter()
        .any(|cl| cl.mandatory && cl.governs == DataUse::TakePart)
    {
        let line = c.line(first);
        c.at(
            Some(line),
            "no mandatory clause governs take_part: a form must ask for agreement to take part",
        );
    }
    for (key, line) in &custom {
        if !clauses.iter().any(|cl| cl.governs.as_str() == key) {
            c.at(
                Some(*line),
                format!("custom use \"{key}\" is declared but no clause governs it"),
            );
        }
    }
    clauses
}

fn standard_list() -> String {
    STANDARD_USES
        .iter()
        .map(DataUse::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "consent-forms/rc/participation.v2.md";

    /// A correct form; tests change one line at a time, so line numbers hold.
    const GOOD: &str = r#"+++
form_id = "participation"
version = 2
language = "en-GB"
title = "Taking part in the co-design study"
information_sheet_version = "1.0"
information_sheet_date = "2024-09-02"
rec_reference = "24/NW/0123"
rec_approval_date = 2024-10-15
easy_read = false
withdrawal_policy = "Data already analysed stays in the study."
custom_uses = ["film_teaching"]

[[clauses]]
key = "take_part"
text = "I agree to take part."
mandatory = true
governs = "take_part"

[[clauses]]
key = "video"
text = "I agree to be video recorded."
mandatory = false
governs = "video_recording"

[[clauses]]
key = "teaching"
text = "I agree to films being shown in teaching."
mandatory = false
governs = "film_teaching"
+++
Please read the information sheet first.
"#;

    fn parse(text: &str) -> Result<ConsentForm, Vec<FormProblem>> {
        parse_form(FILE, "rc", "participation.v2.md", text.as_bytes())
    }

    /// Every problem of a form, as printed.
    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    /// GOOD with one exact piece of text replaced.
    fn with(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from:?} is not in the form");
        GOOD.replacen(from, to, 1)
    }

    #[track_caller]
    fn assert_one(text: &str, expected: &str) {
        assert_eq!(problems(text), [expected]);
    }

    #[test]
    fn a_good_form_parses_with_every_field() {
        let form = parse(GOOD).unwrap();
        assert_eq!(form.study_slug, "rc");
        assert_eq!(form.form_id, "participation");
        assert_eq!(form.version, 2);
        assert_eq!(form.language, "en-GB");
        assert_eq!(form.information_sheet_version, "1.0");
        assert_eq!(
            form.information_sheet_date,
            NaiveDate::from_ymd_opt(2024, 9, 2).unwrap()
        );
        assert_eq!(form.rec_reference, "24/NW/0123");
        assert_eq!(
            form.rec_approval_date,
            NaiveDate::from_ymd_opt(2024, 10, 15).unwrap()
        );
        assert!(!form.easy_read);
        assert_eq!(
            form.body_markdown,
            "Please read the information sheet first."
        );
        let uses: Vec<&str> = form.clauses.iter().map(|c| c.governs.as_str()).collect();
        assert_eq!(uses, ["take_part", "video_recording", "film_teaching"]);
        assert_eq!(form.clauses[1].governs, DataUse::VideoRecording);
        assert_eq!(
            form.clauses[2].governs,
            DataUse::Custom("film_teaching".into())
        );
        assert_eq!(
            form.content_hash,
            hex::encode(Sha256::digest(GOOD.as_bytes()))
        );
    }

    #[test]
    fn the_hash_is_of_the_bytes_so_any_edit_changes_it() {
        let edited = with("first.", "first!");
        assert_ne!(
            parse(GOOD).unwrap().content_hash,
            parse(&edited).unwrap().content_hash
        );
    }

    #[test]
    fn uses_are_stored_by_their_keys() {
        let json =
            serde_json::to_string(&[DataUse::FilmPublic, DataUse::Custom("film_teaching".into())])
                .unwrap();
        assert_eq!(json, r#"["film_public","film_teaching"]"#);
        let back: Vec<DataUse> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            [DataUse::FilmPublic, DataUse::Custom("film_teaching".into())]
        );
        for use_ in STANDARD_USES {
            assert_eq!(DataUse::from(use_.as_str().to_owned()), use_);
        }
    }

    #[test]
    fn the_problem_names_file_line_and_what_is_wrong() {
        assert_one(
            &with("mandatory = false\ngoverns = \"video_recording\"", "mandatory = true\ngoverns = \"video_recording\""),
            "consent-forms/rc/participation.v2.md:23: clause \"video\": an optional use cannot be mandatory (C3)",
        );
    }

    #[test]
    fn a_toml_mistake_names_the_line_in_the_whole_file() {
        assert_one(
            &with(
                "title = \"Taking part in the co-design study\"",
                "title = \"Taking part",
            ),
            "consent-forms/rc/participation.v2.md:5: invalid basic string, expected `\"`",
        );
        let p = problems(&with("mandatory = true\n", "mandatory = \"yes\"\n"));
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with(&format!("{FILE}:17: invalid type")),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_fields_are_refused_where_they_are() {
        let p = problems(&with(
            "easy_read = false",
            "easy_read = false\neasyread = true",
        ));
        assert!(
            p[0].starts_with(&format!("{FILE}:11: unknown field `easyread`")),
            "{p:?}"
        );
        let p = problems(&with(
            "governs = \"take_part\"",
            "governs = \"take_part\"\nnote = \"x\"",
        ));
        assert!(
            p[0].starts_with(&format!("{FILE}:19: unknown field `note`")),
            "{p:?}"
        );
    }

    #[test]
    fn every_missing_field_is_reported_at_once() {
        let text = with("title = \"Taking part in the co-design study\"\n", "")
            .replacen("rec_reference = \"24/NW/0123\"\n", "", 1)
            .replacen("easy_read = false\n", "", 1);
        assert_eq!(
            problems(&text),
            [
                format!("{FILE}:1: `title` is missing"),
                format!("{FILE}:1: `rec_reference` is missing"),
                format!("{FILE}:1: `easy_read` is missing (true or false)"),
            ]
        );
    }

    #[test]
    fn a_clause_missing_a_field_is_named_at_its_header() {
        let text = with("mandatory = false\ngoverns = \"video_recording\"\n", "");
        assert_eq!(
            problems(&text),
            [
                format!("{FILE}:20: clause \"video\": `mandatory` is missing (true or false)"),
                format!("{FILE}:20: clause \"video\": `governs` is missing"),
            ]
        );
        assert_one(
            &with("key = \"video\"\n", ""),
            &format!("{FILE}:20: [[clauses]]: `key` is missing"),
        );
    }

    #[test]
    fn blank_texts_are_refused_at_their_line() {
        assert_one(
            &with("rec_reference = \"24/NW/0123\"", "rec_reference = \"  \""),
            &format!("{FILE}:8: `rec_reference` is empty"),
        );
        assert_one(
            &with("text = \"I agree to be video recorded.\"", "text = \"\""),
            &format!("{FILE}:22: clause \"video\": `text` is empty"),
        );
    }

    #[test]
    fn dates_are_real_calendar_dates_quoted_or_bare() {
        assert!(parse(&with("\"2024-09-02\"", "2024-09-02")).is_ok());
        for bad in [
            "\"2024-02-30\"",
            "\"2 September 2024\"",
            "\"2024-9-2\"",
            "2024-09-02T10:00:00",
            "20240902",
        ] {
            assert_one(
                &with("\"2024-09-02\"", bad),
                &format!("{FILE}:7: `information_sheet_date` is not a date written YYYY-MM-DD, e.g. 2024-09-02"),
            );
        }
    }

    #[test]
    fn form_id_and_version_must_match_the_file_name() {
        assert_one(
            &with("form_id = \"participation\"", "form_id = \"participation-easy-read\""),
            &format!("{FILE}:2: form_id \"participation-easy-read\" does not match the file name, which says \"participation\""),
        );
        assert_one(
            &with("version = 2", "version = 3"),
            &format!("{FILE}:3: version 3 does not match the file name, which says v2"),
        );
    }

    #[test]
    fn version_is_at_least_one() {
        let text = with("version = 2", "version = 0");
        let p = parse_form(
            "consent-forms/rc/participation.v0.md",
            "rc",
            "participation.v0.md",
            text.as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            p[0].to_string(),
            "consent-forms/rc/participation.v0.md:3: version must be 1 or more"
        );
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn file_names_say_form_and_version() {
        assert_eq!(
            FormFileName::parse("participation-easy-read.v12.md"),
            Some(FormFileName {
                form_id: "participation-easy-read".into(),
                version: 12,
                language: None,
            })
        );
        assert_eq!(
            FormFileName::parse("participation.v1.ur-PK.md"),
            Some(FormFileName {
                form_id: "participation".into(),
                version: 1,
                language: Some("ur-PK".into()),
            })
        );
        for bad in [
            "participation.md",
            "participation.v1.txt",
            "Participation.v1.md",
            "participation.v01.md",
            "participation.vx.md",
            "-x.v1.md",
            "participation.v1.md.bak",
            ".v1.md",
            "participation.v.md",
            "participation.v1.Urdu.md",
            "participation.v1.ur.x.md",
        ] {
            assert_eq!(FormFileName::parse(bad), None, "{bad}");
        }
        let p = parse_form(FILE, "rc", "participation-v2.md", GOOD.as_bytes()).unwrap_err();
        assert_eq!(p[0].line, None);
        assert!(
            p[0].to_string()
                .starts_with(&format!("{FILE}: the file name must be <form-id>.v<N>.md")),
            "{p:?}"
        );
    }

    #[test]
    fn a_script_with_no_bundled_font_is_refused_at_its_line() {
        let thai = with("I agree to be video recorded.", "ฉันยินยอม");
        let line = thai.lines().position(|l| l.contains("ฉัน")).unwrap() + 1;
        let p = problems(&thai);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(&format!("{FILE}:{line}: \"ฉ\" (U+0E09)")),
            "{p:?}"
        );
        assert!(parse(&with(
            "I agree to be video recorded.",
            "میں رضامند ہوں۔ Ça va, Ελλάδα, Київ"
        ))
        .is_ok());
    }

    #[test]
    fn language_is_a_language_tag() {
        assert!(parse(&with("\"en-GB\"", "\"cy\"")).is_ok());
        assert_one(
            &with("\"en-GB\"", "\"English\""),
            &format!("{FILE}:4: language \"English\" is not a language tag such as en-GB or cy"),
        );
    }

    #[test]
    fn a_form_must_ask_to_take_part() {
        let text = with(
            "mandatory = true\ngoverns = \"take_part\"",
            "mandatory = false\ngoverns = \"future_contact\"",
        );
        assert_one(&text, &format!("{FILE}:14: no mandatory clause governs take_part: a form must ask for agreement to take part"));
    }

    #[test]
    fn taking_part_cannot_be_optional() {
        let text = with("key = \"video\"\ntext = \"I agree to be video recorded.\"\nmandatory = false\ngoverns = \"video_recording\"", "key = \"workshops\"\ntext = \"I agree to join the workshops.\"\nmandatory = false\ngoverns = \"take_part\"");
        assert_one(&text, &format!("{FILE}:23: clause \"workshops\": taking part cannot be optional: make the clause mandatory, or have it govern the use it asks about"));
    }

    #[test]
    fn each_optional_use_has_exactly_one_clause() {
        let text = with(
            "governs = \"film_teaching\"",
            "governs = \"video_recording\"",
        );
        assert_eq!(
            problems(&text),
            [
                format!("{FILE}:12: custom use \"film_teaching\" is declared but no clause governs it"),
                format!("{FILE}:30: clause \"teaching\": video_recording is already governed by clause \"video\" (line 21); each use has exactly one clause (C3)"),
            ]
        );
    }

    #[test]
    fn clause_keys_are_identifiers_used_once() {
        assert_one(
            &with("key = \"video\"", "key = \"Video Recording\""),
            &format!("{FILE}:21: clause \"Video Recording\": a key is 2 to 41 lowercase letters, digits and underscores, starting with a letter"),
        );
        assert_one(
            &with("key = \"video\"", "key = \"take_part\""),
            &format!("{FILE}:21: clause \"take_part\": the key is used twice (first on line 15)"),
        );
    }

    #[test]
    fn a_use_must_be_standard_or_declared() {
        let p = problems(&with(
            "governs = \"video_recording\"",
            "governs = \"videos\"",
        ));
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with(&format!("{FILE}:24: clause \"video\": governs \"videos\", which is neither a standard use (take_part, audio_recording,")), "{p:?}");
        assert!(p[0].ends_with("nor listed in custom_uses"), "{p:?}");
    }

    #[test]
    fn custom_uses_are_checked_and_must_be_used() {
        let declared = "custom_uses = [\"film_teaching\"]";
        assert_one(
            &with(declared, "custom_uses = [\"film_teaching\", \"quotes\"]"),
            &format!("{FILE}:12: custom use \"quotes\" is already a standard use: remove it from custom_uses"),
        );
        assert_one(
            &with(declared, "custom_uses = [\"film_teaching\", \"Film-Public\"]"),
            &format!("{FILE}:12: custom use \"Film-Public\" must be 2 to 41 lowercase letters, digits and underscores, starting with a letter"),
        );
        assert_one(
            &with(
                declared,
                "custom_uses = [\"film_teaching\", \"film_teaching\"]",
            ),
            &format!("{FILE}:12: custom use \"film_teaching\" is listed twice"),
        );
        assert_one(
            &with(declared, "custom_uses = [\"film_teaching\", \"podcast\"]"),
            &format!("{FILE}:12: custom use \"podcast\" is declared but no clause governs it"),
        );
    }

    #[test]
    fn a_form_without_clauses_is_refused() {
        let cut = GOOD.find("[[clauses]]").unwrap()..GOOD.find("+++\nPlease").unwrap();
        let mut text = GOOD.to_owned();
        text.replace_range(cut, "");
        let p = problems(&text);
        assert!(
            p.contains(&format!("{FILE}:1: the form has no [[clauses]]")),
            "{p:?}"
        );
    }

    #[test]
    fn the_front_matter_is_fenced_and_followed_by_text() {
        let p = problems(&GOOD.replacen("+++\n", "", 1));
        assert!(
            p[0].starts_with(&format!("{FILE}:1: line 1 is not +++")),
            "{p:?}"
        );
        let p = problems(&GOOD.replace("+++\nPlease", "Please"));
        assert!(
            p[0].starts_with(&format!("{FILE}:1: the closing +++ line is missing")),
            "{p:?}"
        );
        assert_one(
            &with("Please read the information sheet first.\n", "\n"),
            &format!("{FILE}:31: there is no text after the front matter: write the explanation shown above the clauses"),
        );
    }

    #[test]
    fn a_byte_order_mark_and_windows_line_ends_are_fine() {
        let windows = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        let form = parse(&windows).unwrap();
        assert_eq!(form.clauses.len(), 3);
        let broken = windows.replacen("mandatory = false", "mandatory = true", 1);
        assert_eq!(
            problems(&broken),
            [format!(
                "{FILE}:23: clause \"video\": an optional use cannot be mandatory (C3)"
            )]
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_at_its_line() {
        let mut bytes = GOOD.as_bytes().to_vec();
        let at = GOOD.find("Taking part").unwrap();
        bytes[at] = 0xff;
        let p = parse_form(FILE, "rc", "participation.v2.md", &bytes).unwrap_err();
        assert_eq!(
            p[0].to_string(),
            format!("{FILE}:5: this is not UTF-8 text: save the file as UTF-8")
        );
    }

    #[test]
    fn every_rule_problem_in_a_file_is_reported_sorted_by_line() {
        let text = with("\"en-GB\"", "\"English\"")
            .replacen("mandatory = false", "mandatory = true", 1)
            .replacen("key = \"teaching\"", "key = \"video\"", 1);
        let lines: Vec<Option<usize>> = parse(&text).unwrap_err().iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(4), Some(23), Some(27)]);
    }

    #[test]
    fn a_contact_and_an_information_sheet_address_are_read_and_checked() {
        let text = with(
            "easy_read = false\n",
            "easy_read = false\ncontact = \"Sam, 0161 496 0000\"\ninformation_sheet_url = \"https://example.ac.uk/pis\"\n",
        );
        let form = parse(&text).unwrap();
        assert_eq!(form.contact.as_deref(), Some("Sam, 0161 496 0000"));
        assert_eq!(
            form.information_sheet_url.as_deref(),
            Some("https://example.ac.uk/pis")
        );
        assert_eq!(parse(GOOD).unwrap().contact, None);
        assert_one(
            &with("easy_read = false\n", "easy_read = false\ninformation_sheet_url = \"http://example.ac.uk/pis\"\n"),
            "consent-forms/rc/participation.v2.md:11: `information_sheet_url` \"http://example.ac.uk/pis\" is not an https:// address, e.g. https://example.ac.uk/designing-together/information-sheet.pdf",
        );
        let blank = problems(&with(
            "easy_read = false\n",
            "easy_read = false\ncontact = \"  \"\n",
        ));
        assert!(
            blank[0].starts_with("consent-forms/rc/participation.v2.md:11: `contact` is empty"),
            "{blank:?}"
        );
    }
}
