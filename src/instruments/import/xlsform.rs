//! XLSForm (ODK, KoboToolbox, SurveyCTO): the survey, choices and settings
//! sheets, from a workbook or pyxform's CSV layout. Refuses repeats, question
//! types fieldkit has no item for, choice names that are not whole numbers,
//! and constraints other than a number's range; `relevant` is noted and
//! ignored, as fieldkit shows every item.

use std::collections::HashMap;

use crate::instruments::definition::{is_instrument_id, Anchor, Definition, Item, ItemKind};

use super::expr::{self, Dialect, Node, Op};
use super::form::{
    instrument_id, is_yes_no, key_from_name, key_problem, words, Draft, FormBuilder, Named, Names,
};
use super::score::{self, Calculation};
use super::sheet::{Row, Sheet, Table};
use super::{ImportOptions, ImportProblem};

/// The sheets an XLSForm import reads.
pub const SHEETS: [&str; 3] = ["survey", "choices", "settings"];

const SURVEY: &str = "survey sheet";
const CHOICES: &str = "choices sheet";
const SETTINGS: &str = "settings sheet";

/// Metadata ODK collects by itself; fieldkit does not, so they are dropped.
const METADATA: [&str; 12] = [
    "start",
    "end",
    "today",
    "deviceid",
    "imei",
    "subscriberid",
    "simserial",
    "phonenumber",
    "username",
    "email",
    "audit",
    "start-geopoint",
];

/// Reads an XLSForm's sheets into a draft definition.
pub fn import(
    sheets: Vec<Sheet>,
    file_name: &str,
    options: &ImportOptions,
) -> Result<Draft, Vec<ImportProblem>> {
    let mut by_name: HashMap<String, Sheet> = HashMap::new();
    for sheet in sheets {
        by_name.entry(sheet.name.clone()).or_insert(sheet);
    }
    let survey = by_name
        .remove("survey")
        .and_then(|s| Table::new(s, SURVEY))
        .ok_or_else(|| {
            vec![ImportProblem::file(
                "there is no survey sheet: an XLSForm lists its questions on a sheet named \"survey\"",
            )]
        })?;
    let choices = by_name
        .remove("choices")
        .and_then(|s| Table::new(s, CHOICES));
    let settings = by_name
        .remove("settings")
        .and_then(|s| Table::new(s, SETTINGS))
        .map(|t| Settings::read(&t));
    let settings = settings.unwrap_or_default();
    let meta = metadata(&settings, file_name, options)?;
    let mut form = FormBuilder::new(&meta.id.replace('-', "_"), &meta.title);
    for note in settings.notes {
        form.notes.add(SETTINGS, settings.row, note);
    }
    if meta.version_defaulted {
        form.notes
            .add("", None, "the form gives no version: version 1");
    }
    let lists = match choices {
        Some(table) => Lists::read(table, &mut form).map_err(|p| vec![p])?,
        None => Lists::default(),
    };
    let columns = SurveyColumns::find(&survey, settings.language.as_deref());
    if columns.ty.is_none() || columns.name.is_none() {
        return Err(vec![ImportProblem {
            sheet: SURVEY.to_owned(),
            row: survey.rows.first().map(|_| 1),
            column: None,
            message: "the survey sheet needs type and name columns".into(),
        }]);
    }
    let mut reader = SurveyReader {
        columns,
        table: &survey,
        lists,
        form,
        names: Names::default(),
        calculations: Vec::new(),
        groups: Vec::new(),
        repeat_depth: 0,
        problems: Vec::new(),
    };
    reader.note_ignored_columns();
    for row in &survey.rows {
        reader.row(row);
    }
    reader.finish(meta, options)
}

/// The id, version and title, from the options, the settings or the file.
struct Metadata {
    id: String,
    version: u32,
    title: String,
    version_defaulted: bool,
}

fn metadata(
    settings: &Settings,
    file_name: &str,
    options: &ImportOptions,
) -> Result<Metadata, Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let at_settings = |column: &str, message: String| match settings.row {
        Some(row) => ImportProblem::at(SETTINGS, row, column, message),
        None => ImportProblem::file(message),
    };
    let id = match (&options.id, &settings.form_id) {
        (Some(id), _) => id.clone(),
        (None, Some(form_id)) => {
            let id = instrument_id(form_id);
            if !is_instrument_id(&id) {
                problems.push(at_settings(
                    "form_id",
                    format!("form_id \"{form_id}\" cannot be an instrument id (2 to 63 letters, digits and hyphens, starting with a letter); give an id in the import"),
                ));
            }
            id
        }
        (None, None) => {
            let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
            let stem = base.split('.').next().unwrap_or(base);
            let id = instrument_id(stem);
            if !is_instrument_id(&id) {
                problems.push(ImportProblem::file(format!(
                    "the form has no form_id and the file name \"{base}\" cannot be an instrument id; give an id in the import"
                )));
            }
            id
        }
    };
    let (version, version_defaulted) = match (options.version, &settings.version) {
        (Some(v), _) => (v, false),
        (None, Some(text)) => match text.parse::<u32>() {
            Ok(v) if v > 0 => (v, false),
            _ => {
                problems.push(at_settings(
                    "version",
                    format!("version \"{text}\" is not a whole number from 1 to 4294967295; give the version in the import"),
                ));
                (1, false)
            }
        },
        (None, None) => (1, true),
    };
    let title = options
        .title
        .clone()
        .or_else(|| settings.title.clone())
        .unwrap_or_else(|| words(&id));
    if problems.is_empty() {
        Ok(Metadata {
            id,
            version,
            title,
            version_defaulted,
        })
    } else {
        Err(problems)
    }
}

/// The settings sheet's first row.
#[derive(Debug, Default)]
struct Settings {
    row: Option<usize>,
    form_id: Option<String>,
    title: Option<String>,
    version: Option<String>,
    language: Option<String>,
    notes: Vec<String>,
}

impl Settings {
    fn read(table: &Table) -> Settings {
        let mut out = Settings::default();
        let Some(row) = table.rows.first() else {
            return out;
        };
        out.row = Some(row.number);
        for (column, header) in table.header.iter().enumerate() {
            let value = row.cell(column);
            if value.is_empty() {
                continue;
            }
            let slot = match header.to_lowercase().as_str() {
                "form_id" | "set_form_id" => &mut out.form_id,
                "form_title" | "set_form_title" => &mut out.title,
                "version" => &mut out.version,
                "default_language" => &mut out.language,
                _ => {
                    out.notes
                        .push(format!("column {} ignored", table.column_name(column)));
                    continue;
                }
            };
            *slot = Some(value.to_owned());
        }
        out
    }
}

/// The choices sheet's lists, and each list's options once checked.
#[derive(Debug, Default)]
struct Lists {
    table: Option<Table>,
    /// Each list's rows, as indexes into the table's rows.
    rows: HashMap<String, Vec<usize>>,
    checked: HashMap<String, Option<Vec<Anchor>>>,
    name: Option<usize>,
    label: Option<usize>,
    yes_no_noted: Vec<String>,
}

impl Lists {
    fn read(table: Table, form: &mut FormBuilder) -> Result<Lists, ImportProblem> {
        let list = find(&table.header, &["list_name", "list name"]);
        let name = find(&table.header, &["name", "value"]);
        let (label, several) = text_column(&table.header, &["label", "caption"], None);
        let (Some(list), Some(_)) = (list, name) else {
            return Err(ImportProblem {
                sheet: CHOICES.to_owned(),
                row: table.rows.first().map(|_| 1),
                column: None,
                message: "the choices sheet needs list_name and name columns".into(),
            });
        };
        if several {
            form.notes.add(
                CHOICES,
                None,
                "labels in several languages: the first language's column is used",
            );
        }
        let mut rows: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, row) in table.rows.iter().enumerate() {
            let list_name = row.cell(list);
            if !list_name.is_empty() {
                rows.entry(list_name.to_owned()).or_default().push(i);
            }
        }
        Ok(Lists {
            table: Some(table),
            rows,
            checked: HashMap::new(),
            name,
            label,
            yes_no_noted: Vec::new(),
        })
    }

    /// A list's options as whole-numbered anchors, checked once; problems
    /// are reported the first time the list is used.
    fn anchors(&mut self, list: &str, problems: &mut Vec<ImportProblem>) -> Option<Vec<Anchor>> {
        if let Some(done) = self.checked.get(list) {
            return done.clone();
        }
        let (table, rows) = (self.table.as_ref()?, self.rows.get(list)?);
        let name_column = self.name.unwrap_or(usize::MAX);
        let label_column = self.label.unwrap_or(usize::MAX);
        let mut anchors: Vec<Anchor> = Vec::new();
        let mut ok = true;
        for row in rows.iter().filter_map(|&i| table.rows.get(i)) {
            let name = row.cell(name_column);
            let label = row.cell(label_column);
            match name.parse::<i64>() {
                Ok(value) if anchors.iter().any(|a| a.value == value) => {
                    problems.push(table.problem(
                        row,
                        name_column,
                        format!("choice \"{name}\" is listed twice in list \"{list}\""),
                    ));
                    ok = false;
                }
                Ok(value) => anchors.push(Anchor {
                    value,
                    label: label.to_owned(),
                }),
                Err(_) => {
                    problems.push(table.problem(
                        row,
                        name_column,
                        format!("choice name \"{name}\" in list \"{list}\" is not a whole number; fieldkit stores options as numbers (e.g. 0, 1, 2)"),
                    ));
                    ok = false;
                }
            }
            if label.is_empty() {
                problems.push(table.problem(row, label_column, "every choice needs a label"));
                ok = false;
            }
        }
        let result = ok.then_some(anchors);
        self.checked.insert(list.to_owned(), result.clone());
        result
    }
}

/// Where the survey sheet's columns are.
#[derive(Debug)]
struct SurveyColumns {
    ty: Option<usize>,
    name: Option<usize>,
    label: Option<usize>,
    hint: Option<usize>,
    required: Option<usize>,
    relevant: Option<usize>,
    constraint: Option<usize>,
    calculation: Option<usize>,
    appearance: Option<usize>,
    several_languages: bool,
}

impl SurveyColumns {
    fn find(table: &Table, language: Option<&str>) -> SurveyColumns {
        let h = &table.header;
        let (label, several_languages) = text_column(h, &["label", "caption"], language);
        let (hint, _) = text_column(h, &["hint"], language);
        SurveyColumns {
            ty: find(h, &["type"]),
            name: find(h, &["name"]),
            label,
            hint,
            required: find(h, &["required"]),
            relevant: find(h, &["relevant", "relevance"]),
            constraint: find(h, &["constraint"]),
            calculation: find(h, &["calculation", "calculate"]),
            appearance: find(h, &["appearance"]),
            several_languages,
        }
    }

    fn known(&self) -> Vec<usize> {
        [
            self.ty,
            self.name,
            self.label,
            self.hint,
            self.required,
            self.relevant,
            self.constraint,
            self.calculation,
            self.appearance,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn find(header: &[String], names: &[&str]) -> Option<usize> {
    header
        .iter()
        .position(|h| names.contains(&h.to_lowercase().as_str()))
}

/// A translatable column: the plain one, else the default language's, else
/// the first language's (and whether there were several to choose from).
fn text_column(header: &[String], bases: &[&str], language: Option<&str>) -> (Option<usize>, bool) {
    if let Some(plain) = find(header, bases) {
        return (Some(plain), false);
    }
    let translations: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let lower = h.to_lowercase();
            let (base, lang) = lower.split_once("::")?;
            bases
                .contains(&base.trim())
                .then(|| (i, lang.trim().to_owned()))
        })
        .collect();
    if let Some(language) = language {
        let wanted = language.trim().to_lowercase();
        if let Some((i, _)) = translations.iter().find(|(_, l)| *l == wanted) {
            return (Some(*i), false);
        }
    }
    (
        translations.first().map(|(i, _)| *i),
        translations.len() > 1,
    )
}

/// What a survey row's type says it is.
#[derive(Debug, PartialEq)]
enum RowType {
    BeginGroup,
    EndGroup,
    BeginRepeat,
    EndRepeat,
    Note,
    Calculate,
    Number { integer: bool },
    Text,
    SelectOne(String),
    SelectMultiple(String),
    Metadata,
    Unsupported,
}

fn row_type(raw: &str) -> RowType {
    let ty = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let select = |prefixes: &[&str]| {
        prefixes
            .iter()
            .find_map(|p| ty.strip_prefix(p))
            .map(|rest| rest.trim().to_owned())
    };
    if let Some(list) = select(&["select_one ", "select one ", "select1 "]) {
        return RowType::SelectOne(list);
    }
    if let Some(list) = select(&[
        "select_multiple ",
        "select multiple ",
        "select all that apply ",
    ]) {
        return RowType::SelectMultiple(list);
    }
    match ty.as_str() {
        "begin_group" | "begin group" => RowType::BeginGroup,
        "end_group" | "end group" => RowType::EndGroup,
        "begin_repeat" | "begin repeat" | "begin_loop" | "begin loop" => RowType::BeginRepeat,
        "end_repeat" | "end repeat" | "end_loop" | "end loop" => RowType::EndRepeat,
        "note" => RowType::Note,
        "calculate" => RowType::Calculate,
        "integer" | "int" => RowType::Number { integer: true },
        "decimal" => RowType::Number { integer: false },
        "text" => RowType::Text,
        t if METADATA.contains(&t) => RowType::Metadata,
        _ => RowType::Unsupported,
    }
}

struct SurveyReader<'a> {
    table: &'a Table,
    columns: SurveyColumns,
    lists: Lists,
    form: FormBuilder,
    names: Names,
    calculations: Vec<Calculation>,
    /// Open groups, outermost first: key, title and row.
    groups: Vec<(String, String, usize)>,
    /// Rows inside a refused repeat are skipped.
    repeat_depth: usize,
    problems: Vec<ImportProblem>,
}

impl SurveyReader<'_> {
    fn cell<'r>(&self, row: &'r Row, column: Option<usize>) -> &'r str {
        column.map_or("", |c| row.cell(c))
    }

    fn problem(&mut self, row: &Row, column: Option<usize>, message: impl Into<String>) {
        let p = self
            .table
            .problem(row, column.unwrap_or(usize::MAX), message);
        self.problems.push(p);
    }

    fn note(&mut self, row: &Row, message: impl Into<String>) {
        self.form.notes.add(SURVEY, Some(row.number), message);
    }

    fn note_ignored_columns(&mut self) {
        if self.columns.several_languages {
            self.form.notes.add(
                SURVEY,
                None,
                "labels in several languages: the default_language's column is used, else the first",
            );
        }
        let known = self.columns.known();
        for column in 0..self.table.header.len() {
            let header = self.table.header.get(column).map_or("", String::as_str);
            let lower = header.to_lowercase();
            let translation = lower.starts_with("label::") || lower.starts_with("hint::");
            if known.contains(&column) || translation {
                continue;
            }
            let rows: Vec<usize> = self
                .table
                .rows
                .iter()
                .filter(|r| !r.cell(column).is_empty())
                .map(|r| r.number)
                .collect();
            let message = format!("column {} ignored", self.table.column_name(column));
            for row in rows {
                self.form.notes.add(SURVEY, Some(row), message.clone());
            }
        }
    }

    fn row(&mut self, row: &Row) {
        let raw_type = self.cell(row, self.columns.ty);
        let ty = row_type(raw_type);
        if self.repeat_depth > 0 {
            match ty {
                RowType::BeginRepeat => self.repeat_depth += 1,
                RowType::EndRepeat => self.repeat_depth -= 1,
                _ => {}
            }
            return;
        }
        if raw_type.is_empty() {
            // As pyxform: a row with neither name nor label is a comment.
            let comment = self.cell(row, self.columns.name).is_empty()
                && self.cell(row, self.columns.label).is_empty();
            if comment {
                self.note(
                    row,
                    "a row with no type, name or label is skipped as a comment",
                );
            } else {
                self.problem(row, self.columns.ty, "the row has no type");
            }
            return;
        }
        match ty {
            RowType::BeginGroup => self.begin_group(row),
            RowType::EndGroup => self.end_group(row),
            RowType::BeginRepeat => {
                self.repeat_depth = 1;
                self.problem(
                    row,
                    self.columns.ty,
                    "repeats are not supported: a fieldkit instrument asks each question once per response",
                );
            }
            RowType::EndRepeat => self.problem(row, self.columns.ty, "end_repeat without a begin_repeat"),
            RowType::Note => self.note_row(row),
            RowType::Calculate => self.calculate(row),
            RowType::Metadata => {
                let message = format!("{} is not collected: fieldkit records its own metadata", raw_type.trim());
                self.note(row, message);
            }
            RowType::Unsupported => self.problem(
                row,
                self.columns.ty,
                format!("type \"{raw_type}\" is not supported: fieldkit's questions are select_one (a scale or yes/no), select_multiple, integer, decimal and text, with note, begin_group and calculate rows"),
            ),
            RowType::Number { .. }
            | RowType::Text
            | RowType::SelectOne(_)
            | RowType::SelectMultiple(_) => self.question(row, ty),
        }
    }

    /// The row's name as a key, recorded for expressions; None (with a
    /// problem) when it cannot be one.
    fn name(&mut self, row: &Row, named: impl FnOnce(String) -> Named) -> Option<String> {
        let name = self.cell(row, self.columns.name);
        if name.is_empty() {
            self.problem(row, self.columns.name, "the row has no name");
            return None;
        }
        let Some(key) = key_from_name(name) else {
            let column = self
                .table
                .column_name(self.columns.name.unwrap_or(usize::MAX));
            self.problems
                .push(key_problem(SURVEY, row.number, &column, name));
            return None;
        };
        if key != name {
            let message = format!("name \"{name}\" becomes the key \"{key}\"");
            self.note(row, message);
        }
        if let Err(message) = self.names.add(name, &key, named(key.clone()), row.number) {
            self.problem(row, self.columns.name, message);
            return None;
        }
        Some(key)
    }

    fn relevant(&mut self, row: &Row) {
        if !self.cell(row, self.columns.relevant).is_empty() {
            self.note(row, "relevant ignored; every item is shown");
        }
    }

    fn begin_group(&mut self, row: &Row) {
        self.relevant(row);
        let Some(key) = self.name(row, |_| Named::Other("a group")) else {
            return;
        };
        let label = self.cell(row, self.columns.label);
        let title = if label.is_empty() {
            words(&key)
        } else {
            label.to_owned()
        };
        self.form.start(&key, &title);
        self.groups.push((key, title, row.number));
    }

    fn end_group(&mut self, row: &Row) {
        if self.groups.pop().is_none() {
            self.problem(row, self.columns.ty, "end_group without a begin_group");
            return;
        }
        match self.groups.last().cloned() {
            // The rest of the enclosing group continues as a new section.
            Some((key, title, _)) => self.form.start(&key, &title),
            None => self.form.close(),
        }
    }

    fn note_row(&mut self, row: &Row) {
        self.relevant(row);
        if !self.cell(row, self.columns.name).is_empty() {
            self.name(row, |_| Named::Other("a note"));
        }
        let text = self.cell(row, self.columns.label);
        if !text.is_empty() {
            self.form.intro(text, SURVEY, row.number);
        }
    }

    fn calculate(&mut self, row: &Row) {
        let index = self.calculations.len();
        let Some(key) = self.name(row, |_| Named::Calculation(index)) else {
            return;
        };
        let text = self.cell(row, self.columns.calculation);
        if text.is_empty() {
            self.problem(
                row,
                self.columns.calculation,
                "a calculate row needs a calculation",
            );
            return;
        }
        let label = self.cell(row, self.columns.label);
        self.calculations.push(Calculation {
            label: if label.is_empty() {
                words(&key)
            } else {
                label.to_owned()
            },
            key,
            text: text.to_owned(),
            dialect: Dialect::XlsForm,
            place: SURVEY.to_owned(),
            row: row.number,
            column: self
                .table
                .column_name(self.columns.calculation.unwrap_or(usize::MAX)),
        });
    }

    fn question(&mut self, row: &Row, ty: RowType) {
        self.relevant(row);
        if !self.cell(row, self.columns.calculation).is_empty() {
            self.problem(
                row,
                self.columns.calculation,
                "a calculation on a question is not supported; put scores on calculate rows",
            );
        }
        let Some(key) = self.name(row, Named::Item) else {
            return;
        };
        let text = self.cell(row, self.columns.label);
        if text.is_empty() {
            self.problem(row, self.columns.label, "the question has no label");
        }
        let hint = self.cell(row, self.columns.hint);
        let mut item = Item::new(key, text, hint, self.required(row));
        let constraint = self.cell(row, self.columns.constraint);
        match ty {
            RowType::Number { integer } => {
                item.kind = ItemKind::Number;
                item.integer = integer;
                match bounds(constraint, integer) {
                    Ok((min, max)) => (item.min, item.max) = (min, max),
                    Err(m) => self.problem(row, self.columns.constraint, m),
                }
            }
            RowType::SelectOne(list) => self.choices(row, &mut item, &list, true),
            RowType::SelectMultiple(list) => self.choices(row, &mut item, &list, false),
            _ => {}
        }
        if !constraint.is_empty() && item.kind != ItemKind::Number {
            self.problem(
                row,
                self.columns.constraint,
                "fieldkit cannot enforce this constraint (it keeps only a number's range); remove it from the form to import without it",
            );
        }
        self.form.item(item);
    }

    fn required(&mut self, row: &Row) -> bool {
        match self
            .cell(row, self.columns.required)
            .to_lowercase()
            .as_str()
        {
            "" | "no" | "false" | "false()" => false,
            "yes" | "true" | "true()" => true,
            _ => {
                self.note(
                    row,
                    "required only under a condition: fieldkit treats it as optional",
                );
                false
            }
        }
    }

    fn choices(&mut self, row: &Row, item: &mut Item, list: &str, one: bool) {
        if list.contains(char::is_whitespace) {
            let message = if list.ends_with("or_other") {
                "or_other is not supported: add an \"Other\" choice and a text question".to_owned()
            } else {
                format!("\"{list}\" is not a list name")
            };
            self.problem(row, self.columns.ty, message);
            return;
        }
        if !self.lists.rows.contains_key(list) {
            self.problem(
                row,
                self.columns.ty,
                format!("list \"{list}\" is not on the choices sheet"),
            );
            return;
        }
        let Some(anchors) = self.lists.anchors(list, &mut self.problems) else {
            return;
        };
        if !one {
            item.kind = ItemKind::MultipleChoice;
            item.choices = anchors;
        } else if is_yes_no(&anchors) {
            item.kind = ItemKind::YesNo;
            if !self.lists.yes_no_noted.iter().any(|l| l == list) {
                self.lists.yes_no_noted.push(list.to_owned());
                self.note(
                    row,
                    format!("list \"{list}\" (1 Yes, 0 No) is read as fieldkit's yes/no"),
                );
            }
        } else if let Some(key) = key_from_name(list) {
            item.kind = ItemKind::Scale;
            match self.form.scale_for_list(&key, anchors) {
                Ok(scale) => item.scale = Some(scale),
                Err(message) => self.problem(row, self.columns.ty, message),
            }
        } else {
            let column = self
                .table
                .column_name(self.columns.ty.unwrap_or(usize::MAX));
            self.problems
                .push(key_problem(SURVEY, row.number, &column, list));
        }
    }

    fn finish(
        mut self,
        meta: Metadata,
        options: &ImportOptions,
    ) -> Result<Draft, Vec<ImportProblem>> {
        if let Some((key, _, row)) = self.groups.last() {
            let column = self
                .table
                .column_name(self.columns.ty.unwrap_or(usize::MAX));
            let message = format!("group \"{key}\" has no end_group");
            self.problems
                .push(ImportProblem::at(SURVEY, *row, &column, message));
        }
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        let (scales, sections, mut notes) = self.form.finish();
        let mut definition = Definition {
            id: meta.id,
            version: meta.version,
            title: meta.title,
            licence: options.licence.clone(),
            draft: None,
            subject: options.subject,
            rater_roles: options.rater_roles.clone(),
            time_points: options.time_points.clone(),
            scales,
            sections,
            scores: Vec::new(),
            conversions: Vec::new(),
        };
        score::recognise(&mut definition, &self.calculations, &self.names, &mut notes)?;
        Ok(Draft { definition, notes })
    }
}

/// A number's range from its constraint: a conjunction of comparisons of
/// `.` with numbers. Anything else is refused.
fn bounds(constraint: &str, integer: bool) -> Result<(Option<f64>, Option<f64>), String> {
    if constraint.is_empty() {
        return Ok((None, None));
    }
    let refuse = |part: &str, why: &str| {
        format!("not understood: `{part}`: {why}; fieldkit keeps only a number's range, e.g. . >= 0 and . <= 10")
    };
    let e = expr::parse(constraint, Dialect::XlsForm).map_err(|e| {
        refuse(
            constraint.get(e.span.0..e.span.1).unwrap_or(constraint),
            &e.message,
        )
    })?;
    let mut parts = vec![&e];
    let mut comparisons = Vec::new();
    while let Some(p) = parts.pop() {
        match &p.node {
            Node::Bin(Op::And, a, b) => {
                parts.push(b);
                parts.push(a);
            }
            _ => comparisons.push(p),
        }
    }
    let (mut min, mut max) = (None, None);
    for c in comparisons {
        let part = constraint.get(c.span.0..c.span.1).unwrap_or(constraint);
        let (op, k) = match &c.node {
            Node::Bin(op, a, b) => match (&a.node, &b.node) {
                (Node::Dot, Node::Num(k)) => (*op, *k),
                (Node::Num(k), Node::Dot) => (op.mirrored(), *k),
                _ => return Err(refuse(part, "expected . compared with a number")),
            },
            _ => return Err(refuse(part, "expected . compared with a number")),
        };
        let (slot, value) = match op {
            Op::Ge => (&mut min, k),
            Op::Le => (&mut max, k),
            Op::Gt if integer => (&mut min, k.floor() + 1.0),
            Op::Lt if integer => (&mut max, k.ceil() - 1.0),
            Op::Gt | Op::Lt => {
                return Err(refuse(
                    part,
                    "a decimal's range includes its ends: write >= or <=",
                ))
            }
            _ => return Err(refuse(part, "expected >=, <=, > or <")),
        };
        if slot.replace(value).is_some() {
            return Err(refuse(part, "the range gives this end twice"));
        }
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_with_pyxform_spellings() {
        assert_eq!(
            row_type("select_one  agree5"),
            RowType::SelectOne("agree5".into())
        );
        assert_eq!(
            row_type("select one agree5"),
            RowType::SelectOne("agree5".into())
        );
        assert_eq!(
            row_type("Select_Multiple kinds"),
            RowType::SelectMultiple("kinds".into())
        );
        assert_eq!(row_type("begin group"), RowType::BeginGroup);
        assert_eq!(row_type("select_one_from_file x.csv"), RowType::Unsupported);
        assert_eq!(row_type("geopoint"), RowType::Unsupported);
        assert_eq!(row_type("start"), RowType::Metadata);
    }

    #[test]
    fn constraints_give_a_range_or_are_refused() {
        assert_eq!(
            bounds(". >= 0 and . <= 10", true),
            Ok((Some(0.0), Some(10.0)))
        );
        assert_eq!(bounds("10 >= .", false), Ok((None, Some(10.0))));
        assert_eq!(bounds(". > 0 and . < 10", true), Ok((Some(1.0), Some(9.0))));
        assert!(bounds(". > 0", false).is_err());
        assert!(bounds(". >= 0 and . >= 1", true).is_err());
        let refused = bounds("regex(., '^[0-9]+$')", false)
            .err()
            .unwrap_or_default();
        assert!(refused.contains("`regex(., '^[0-9]+$')`"), "{refused}");
        assert!(bounds(". >= 0 or . <= 10", true).is_err());
    }
}
