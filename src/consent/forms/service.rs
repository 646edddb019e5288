//! Reading the consent-forms folder and publishing its forms. Every problem in
//! every file is collected before anything is refused, and nothing is
//! published while any problem remains. Published versions are frozen (C5).

use std::fmt;
use std::path::Path;

use anyhow::Context;

use super::model::{parse_form, ConsentForm, ConsentFormVersion, FormProblem};
use super::store;
use crate::audit::action::{Key, Sha256Hex};
use crate::audit::{self, Action, Entity, NewEntry};
use crate::db::Db;
use crate::error::{AppError, Result};
use crate::ids::{FormVersionId, StudyId};

/// A form file that passed every rule.
#[derive(Clone, Debug)]
pub struct FormFile {
    /// The file as the team sees it, e.g. consent-forms/rc/participation.v1.md.
    pub shown_as: String,
    /// Relative to the consent-forms folder: <study-slug>/<file name>.
    pub source_path: String,
    pub form: ConsentForm,
}

/// What a folder holds: the forms that passed, and every problem.
#[derive(Debug, Default)]
pub struct Checked {
    pub forms: Vec<FormFile>,
    pub problems: Vec<FormProblem>,
}

impl Checked {
    /// The forms, or an error listing every problem, one a line.
    pub fn into_forms(self) -> anyhow::Result<Vec<FormFile>> {
        if self.problems.is_empty() {
            Ok(self.forms)
        } else {
            Err(refusal(&self.problems))
        }
    }
}

/// "N forms checked, all correct", or every problem, one a line, and how many.
impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problems.is_empty() {
            return write!(
                f,
                "{} checked, all correct",
                plural(self.forms.len(), "form")
            );
        }
        for problem in &self.problems {
            writeln!(f, "{problem}")?;
        }
        write!(
            f,
            "{} found; the server will not start until they are fixed",
            plural(self.problems.len(), "problem")
        )
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn refusal(problems: &[FormProblem]) -> anyhow::Error {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    anyhow::anyhow!(
        "{} in the consent forms; no form was loaded:\n{}",
        plural(problems.len(), "problem"),
        lines.join("\n")
    )
}

/// A path as configured, without a leading "./".
fn shown(path: &Path) -> String {
    path.strip_prefix(".").unwrap_or(path).display().to_string()
}

fn problem(path: &Path, message: &str) -> FormProblem {
    FormProblem {
        file: shown(path),
        line: None,
        message: message.to_owned(),
    }
}

/// The entries of a folder, by name, leaving out hidden ones (.gitkeep, editor files).
fn visible_entries(dir: &Path) -> std::io::Result<Vec<(String, std::path::PathBuf, bool)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.starts_with('.') {
            entries.push((name, path.clone(), path.is_dir()));
        }
    }
    entries.sort();
    Ok(entries)
}

/// Reads and checks every form; a missing folder holds none. Only a folder
/// that exists but cannot be read is an error.
pub fn check_folder(dir: &Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::default();
    let entries = match visible_entries(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(checked),
        Err(e) => anyhow::bail!("cannot read the consent-forms folder {}: {e}", shown(dir)),
    };
    for (slug, path, is_dir) in entries {
        if is_dir {
            read_study(&path, &slug, &mut checked);
        } else {
            checked.problems.push(problem(
                &path,
                "forms go in a folder named after the study's short name: <study-slug>/<form-id>.v<N>.md",
            ));
        }
    }
    Ok(checked)
}

/// Reads and checks the forms in one study's folder, if it has one.
fn read_study(folder: &Path, slug: &str, checked: &mut Checked) {
    let entries = match visible_entries(folder) {
        Ok(entries) => entries,
        Err(e) => {
            checked
                .problems
                .push(problem(folder, &format!("cannot be read: {e}")));
            return;
        }
    };
    let first = checked.forms.len();
    for (name, path, is_dir) in entries {
        if is_dir {
            checked.problems.push(problem(
                &path,
                "folders inside a study's folder are not read: put each form directly in the study's folder",
            ));
            continue;
        }
        let shown_as = shown(&path);
        match std::fs::read(&path) {
            Err(e) => checked
                .problems
                .push(problem(&path, &format!("cannot be read: {e}"))),
            Ok(bytes) => match parse_form(&shown_as, slug, &name, &bytes) {
                Ok(form) => checked.forms.push(FormFile {
                    shown_as,
                    source_path: format!("{slug}/{name}"),
                    form,
                }),
                Err(problems) => checked.problems.extend(problems),
            },
        }
    }
    let (study_forms, problems) = (&checked.forms[first..], &mut checked.problems);
    problems.extend(
        study_forms
            .iter()
            .filter_map(|f| translation_problem(f, study_forms)),
    );
    problems.extend(study_forms.iter().filter_map(easy_read_problem));
}

/// A form named as an easy-read version (`<form>-easy-read`) must be one:
/// participants are offered it as such beside the standard form.
fn easy_read_problem(f: &FormFile) -> Option<FormProblem> {
    (f.form.form_id.ends_with(EASY_READ_SUFFIX) && !f.form.easy_read).then(|| FormProblem {
        file: f.shown_as.clone(),
        line: None,
        message: format!(
            "the form id ends in \"{EASY_READ_SUFFIX}\", which offers it to participants as the easy-read version of {}, but easy_read is false",
            f.form.form_id.trim_end_matches(EASY_READ_SUFFIX)
        ),
    })
}

/// What is wrong with a translation against its source form in the same
/// folder (same form id and version, no language in the file name).
fn translation_problem(f: &FormFile, forms: &[FormFile]) -> Option<FormProblem> {
    let from = f.form.translated_from.as_deref()?;
    let source = forms.iter().find(|s| {
        s.form.translated_from.is_none()
            && s.form.form_id == f.form.form_id
            && s.form.version == f.form.version
    });
    let message = match source {
        None => format!(
            "this translates version {} of form {}, but there is no {}.v{}.md beside it",
            f.form.version, f.form.form_id, f.form.form_id, f.form.version
        ),
        Some(s) if s.form.language != from => format!(
            "translated_from is \"{from}\" but {} is in \"{}\"",
            s.shown_as, s.form.language
        ),
        Some(s) => f.form.differs_from_source(&s.form)?,
    };
    Some(FormProblem {
        file: f.shown_as.clone(),
        line: None,
        message,
    })
}

/// What a load did with each form file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Published now.
    pub loaded: Vec<String>,
    /// Published before with the same content.
    pub unchanged: Vec<String>,
    /// Correct, but no study has the folder's short name yet.
    pub waiting: Vec<String>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "consent forms: {} published, {} unchanged, {} waiting for their study",
            self.loaded.len(),
            self.unchanged.len(),
            self.waiting.len()
        )?;
        if !self.waiting.is_empty() {
            write!(f, " ({})", self.waiting.join(", "))?;
        }
        Ok(())
    }
}

/// Checks the whole folder and publishes every new form version; refuses
/// (changing nothing) on any problem. `serve` and `migrate` run it.
pub async fn load_all(db: &Db, folder: &Path, now: i64) -> anyhow::Result<LoadReport> {
    let forms = check_folder(folder)?.into_forms()?;
    publish(db, &forms, now).await
}

/// Publishes the forms waiting in a study's folder, for a study just created.
pub async fn load_for_study(
    db: &Db,
    folder: &Path,
    slug: &str,
    now: i64,
) -> anyhow::Result<LoadReport> {
    let folder = folder.join(slug);
    let mut checked = Checked::default();
    if folder.is_dir() {
        read_study(&folder, slug, &mut checked);
    }
    publish(db, &checked.into_forms()?, now).await
}

/// The file name the next version of a form should have.
fn next_file(forms: &[FormFile], form: &ConsentForm) -> String {
    let highest = forms
        .iter()
        .filter(|f| f.form.study_slug == form.study_slug && f.form.form_id == form.form_id)
        .map(|f| f.form.version)
        .max()
        .unwrap_or(form.version);
    match &form.translated_from {
        None => format!("{}.v{}.md", form.form_id, highest + 1),
        Some(_) => format!("{}.v{}.{}.md", form.form_id, highest + 1, form.language),
    }
}

/// One transaction: every insert first (forms before their translations),
/// then every audit entry, so instances starting together take their locks
/// in the same order. fieldkit cannot yet tell whether a version was used, so
/// every published version is frozen.
async fn publish(db: &Db, forms: &[FormFile], now: i64) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    if forms.is_empty() {
        return Ok(report);
    }
    let mut refused = Vec::new();
    let mut published = Vec::new();
    let mut tx = db.begin().await?;
    let sources = forms.iter().filter(|f| f.form.translated_from.is_none());
    let translations = forms.iter().filter(|f| f.form.translated_from.is_some());
    for f in sources.chain(translations) {
        let form = &f.form;
        let Some(study) = store::study_by_slug(&mut tx, &form.study_slug).await? else {
            report.waiting.push(f.shown_as.clone());
            continue;
        };
        let (id, inserted, hash) = if form.translated_from.is_some() {
            let id = store::version_id(&mut tx, &study, &form.form_id, form.version)
                .await?
                .context("a translation is published after its form")?;
            let inserted =
                store::insert_translation_if_new(&mut tx, &id, form, &f.source_path, now).await?;
            let hash = match inserted {
                true => String::new(),
                false => store::published_translation_hash(&mut tx, &id, &form.language).await?,
            };
            (id, inserted, hash)
        } else {
            let id = FormVersionId::new();
            let inserted =
                store::insert_if_new(&mut tx, &id, &study, form, &f.source_path, now).await?;
            let hash = match inserted {
                true => String::new(),
                false => {
                    store::published_hash(&mut tx, &study, &form.form_id, form.version).await?
                }
            };
            (id, inserted, hash)
        };
        if inserted {
            report.loaded.push(f.shown_as.clone());
            published.push((study, id, form));
        } else if hash == form.content_hash {
            report.unchanged.push(f.shown_as.clone());
        } else {
            refused.push(FormProblem {
                file: f.shown_as.clone(),
                line: None,
                message: format!(
                    "version {} of form {}{} has already been published with different content; publish it as a new file {}",
                    form.version,
                    form.form_id,
                    form.translated_from.as_ref().map_or(String::new(), |_| format!(" in {}", form.language)),
                    next_file(forms, form)
                ),
            });
        }
    }
    if !refused.is_empty() {
        return Err(refusal(&refused));
    }
    for (study, id, form) in published {
        let action = Action::FormPublish {
            form_id: Key::published(&form.form_id),
            version: form.version,
            language: form
                .translated_from
                .as_ref()
                .map(|_| Key::published(&form.language)),
            content_hash: Sha256Hex::parse(&form.content_hash)
                .context("a content hash is a SHA-256")?,
        };
        let entry = NewEntry::system(action, Entity::FormVersion(id)).study(&study);
        audit::append(&mut tx, now, entry).await?;
    }
    tx.commit().await?;
    Ok(report)
}

// What the consent code asks of published forms. No policy check here: the
// callers are use cases that have checked it.

/// The highest published version of a form.
pub async fn current_version(
    db: &Db,
    study: &StudyId,
    form_id: &str,
) -> Result<Option<ConsentFormVersion>> {
    Ok(store::current(&db.pool, study, form_id).await?)
}

/// A published version of a form of this study; "not found" for any other.
pub async fn version_of(
    db: &Db,
    study: &StudyId,
    id: &FormVersionId,
) -> Result<ConsentFormVersion> {
    let form = store::get(&db.pool, id).await?;
    if form.study_id != *study {
        return Err(AppError::NotFound);
    }
    Ok(form)
}

/// The version as read in `language`: itself when no language is asked for
/// or its own is, else its translation into that language. A language it has
/// no translation into is refused, naming those it has.
pub async fn in_language(
    db: &Db,
    version: ConsentFormVersion,
    language: Option<&str>,
) -> Result<ConsentFormVersion> {
    let Some(language) = language.filter(|l| *l != version.form.language) else {
        return Ok(version);
    };
    if let Some(translated) = store::translation(&db.pool, &version.id, language).await? {
        return Ok(translated);
    }
    let mut languages = vec![version.form.language.clone()];
    languages.extend(store::translated_languages(&db.pool, &version.id).await?);
    Err(AppError::invalid(
        "language",
        format!(
            "This form is not published in \"{language}\"; it is published in {}.",
            languages.join(", ")
        ),
    ))
}

/// The languages a version can be read in: its own first, then its
/// translations'.
pub async fn languages(db: &Db, version: &ConsentFormVersion) -> Result<Vec<String>> {
    let source = match &version.form.translated_from {
        Some(from) => from.clone(),
        None => version.form.language.clone(),
    };
    let mut languages = vec![source];
    languages.extend(store::translated_languages(&db.pool, &version.id).await?);
    Ok(languages)
}

/// What pairs an easy-read form with its standard form:
/// `participation-easy-read` is the easy-read version of `participation`.
pub const EASY_READ_SUFFIX: &str = "-easy-read";

/// The current version of the form's other presentation: the easy-read
/// version of a standard form, or the standard version of an easy-read one.
pub async fn other_presentation(
    db: &Db,
    version: &ConsentFormVersion,
) -> Result<Option<ConsentFormVersion>> {
    let f = &version.form;
    let other_id = match (f.easy_read, f.form_id.strip_suffix(EASY_READ_SUFFIX)) {
        (false, _) => format!("{}{EASY_READ_SUFFIX}", f.form_id),
        (true, Some(standard)) => standard.to_owned(),
        (true, None) => return Ok(None),
    };
    let other = store::current(&db.pool, &version.study_id, &other_id).await?;
    Ok(other.filter(|o| o.form.easy_read != f.easy_read))
}

/// Every published version of every form of a study, by form and version.
pub async fn list_for_study(db: &Db, study: &StudyId) -> Result<Vec<ConsentFormVersion>> {
    Ok(store::for_study(&db.pool, study).await?)
}

/// The current version of each of a study's forms, by form id.
pub async fn current_of_each(db: &Db, study: &StudyId) -> Result<Vec<ConsentFormVersion>> {
    Ok(store::current_of_each(&db.pool, study).await?)
}
