//! REDCap data dictionaries: a CSV with 18 fixed columns, one form per
//! import. Refuses identifier fields (fieldkit keeps identities only in its
//! vault, never in answers), field types and validations it has no item for,
//! and choices that are not `code, label` with whole-number codes; branching
//! logic is noted and ignored, as fieldkit shows every item.

use crate::instruments::definition::{is_instrument_id, Anchor, Definition, Item, ItemKind};

use super::expr::Dialect;
use super::form::{
    instrument_id, is_yes_no, key_from_name, key_problem, slug, words, Draft, FormBuilder, Named,
    Names,
};
use super::score::{self, Calculation};
use super::sheet::{Row, Table};
use super::{ImportOptions, ImportProblem};

const PLACE: &str = "data dictionary";

/// The columns in order, each as its header starts once reduced to lowercase
/// letters and digits, and as REDCap writes it.
const COLUMNS: [(&str, &str); 18] = [
    ("variablefieldname", "Variable / Field Name"),
    ("formname", "Form Name"),
    ("sectionheader", "Section Header"),
    ("fieldtype", "Field Type"),
    ("fieldlabel", "Field Label"),
    (
        "choicescalculations",
        "Choices, Calculations, OR Slider Labels",
    ),
    ("fieldnote", "Field Note"),
    (
        "textvalidationtype",
        "Text Validation Type OR Show Slider Number",
    ),
    ("textvalidationmin", "Text Validation Min"),
    ("textvalidationmax", "Text Validation Max"),
    ("identifier", "Identifier?"),
    ("branchinglogic", "Branching Logic (Show field only if...)"),
    ("requiredfield", "Required Field?"),
    ("customalignment", "Custom Alignment"),
    ("questionnumber", "Question Number (surveys only)"),
    ("matrixgroupname", "Matrix Group Name"),
    ("matrixranking", "Matrix Ranking?"),
    ("fieldannotation", "Field Annotation"),
];

const FIELD: usize = 0;
const FORM: usize = 1;
const HEADER: usize = 2;
const TYPE: usize = 3;
const LABEL: usize = 4;
const CHOICES: usize = 5;
const NOTE: usize = 6;
const VALIDATION: usize = 7;
const MIN: usize = 8;
const MAX: usize = 9;
const IDENTIFIER: usize = 10;
const BRANCHING: usize = 11;
const REQUIRED: usize = 12;
const MATRIX: usize = 15;
const ANNOTATION: usize = 17;

fn reduced(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A REDCap data dictionary starts with the "Variable / Field Name" column.
pub fn is_dictionary(rows: &[Row]) -> bool {
    rows.first()
        .is_some_and(|r| reduced(r.cell(FIELD)).starts_with(COLUMNS[FIELD].0))
}

/// Reads a data dictionary into a draft definition.
pub fn import(rows: Vec<Row>, options: &ImportOptions) -> Result<Draft, Vec<ImportProblem>> {
    let mut rows = rows.into_iter();
    let header = rows.next().map(|r| r.cells).unwrap_or_default();
    let table = Table {
        place: PLACE.to_owned(),
        header,
        rows: rows.collect(),
    };
    check_header(&table)?;
    let form_name = one_form(&table)?;
    let id = options
        .id
        .clone()
        .unwrap_or_else(|| instrument_id(&form_name));
    if options.id.is_none() && !is_instrument_id(&id) {
        return Err(vec![ImportProblem::file(format!(
            "the form name \"{form_name}\" cannot be an instrument id; give an id in the import"
        ))]);
    }
    let title = options.title.clone().unwrap_or_else(|| words(&form_name));
    let mut form = FormBuilder::new(&id.replace('-', "_"), &title);
    if options.title.is_none() {
        form.notes.add(
            "",
            None,
            format!("a data dictionary holds no title: \"{title}\" is made from the form name"),
        );
    }
    if options.version.is_none() {
        form.notes
            .add("", None, "a data dictionary holds no version: version 1");
    }
    let mut reader = FieldReader {
        table: &table,
        form,
        names: Names::default(),
        calculations: Vec::new(),
        matrix: String::new(),
        last_header: None,
        problems: Vec::new(),
    };
    for row in &table.rows {
        reader.row(row);
    }
    if !reader.problems.is_empty() {
        return Err(reader.problems);
    }
    let (scales, sections, mut notes) = reader.form.finish();
    let mut definition = Definition {
        id,
        version: options.version.unwrap_or(1),
        title,
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
    score::recognise(
        &mut definition,
        &reader.calculations,
        &reader.names,
        &mut notes,
    )?;
    Ok(Draft { definition, notes })
}

fn check_header(table: &Table) -> Result<(), Vec<ImportProblem>> {
    let problems: Vec<ImportProblem> = COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, (start, _))| {
            !reduced(table.header.get(*i).map_or("", String::as_str)).starts_with(start)
        })
        .map(|(i, (_, name))| {
            ImportProblem::at(
                PLACE,
                1,
                &super::sheet::column_letter(i),
                format!("expected the column \"{name}\" here: a REDCap data dictionary has 18 columns in a fixed order"),
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The one form every row belongs to.
fn one_form(table: &Table) -> Result<String, Vec<ImportProblem>> {
    let mut first: Option<&str> = None;
    for row in &table.rows {
        let name = row.cell(FORM);
        match first {
            _ if name.is_empty() => {
                return Err(vec![table.problem(row, FORM, "the field has no form name")])
            }
            None => first = Some(name),
            Some(f) if f != name => {
                return Err(vec![table.problem(
                    row,
                    FORM,
                    format!("the dictionary holds more than one form (\"{f}\", \"{name}\"); import one form at a time"),
                )])
            }
            Some(_) => {}
        }
    }
    first
        .map(str::to_owned)
        .ok_or_else(|| vec![ImportProblem::file("the data dictionary has no fields")])
}

struct FieldReader<'a> {
    table: &'a Table,
    form: FormBuilder,
    names: Names,
    calculations: Vec<Calculation>,
    /// The matrix group of the row before.
    matrix: String,
    /// The last section header seen, as key and title.
    last_header: Option<(String, String)>,
    problems: Vec<ImportProblem>,
}

impl FieldReader<'_> {
    fn problem(&mut self, row: &Row, column: usize, message: impl Into<String>) {
        let p = self.table.problem(row, column, message);
        self.problems.push(p);
    }

    fn note(&mut self, row: &Row, message: impl Into<String>) {
        self.form.notes.add(PLACE, Some(row.number), message);
    }

    fn row(&mut self, row: &Row) {
        if row.cell(IDENTIFIER).eq_ignore_ascii_case("y") {
            self.problem(
                row,
                IDENTIFIER,
                "identifier fields are refused: fieldkit keeps identities only in its vault, never in instrument answers; remove the field to import the form",
            );
            return;
        }
        if !row.cell(BRANCHING).is_empty() {
            self.note(row, "branching logic ignored; every item is shown");
        }
        self.sections(row);
        let annotation = row.cell(ANNOTATION);
        let calctext = annotation.contains("@CALCTEXT");
        if !annotation.is_empty() && !calctext {
            self.note(row, "field annotation (action tags) ignored");
        }
        let ty = row.cell(TYPE).to_lowercase();
        match ty.as_str() {
            "descriptive" => {
                self.name(row, |_| Named::Other("descriptive text"));
                let text = row.cell(LABEL);
                if !text.is_empty() {
                    self.form.intro(text, PLACE, row.number);
                }
            }
            "calc" => self.calculation(row, row.cell(CHOICES), CHOICES),
            "text" if calctext => match calctext_expression(annotation) {
                Some(text) => self.calculation(row, text, ANNOTATION),
                None => self.problem(row, ANNOTATION, "@CALCTEXT( is not closed"),
            },
            "text" | "notes" | "radio" | "dropdown" | "checkbox" | "yesno" | "truefalse" => {
                self.question(row, &ty)
            }
            _ => self.problem(
                row,
                TYPE,
                format!("field type \"{}\" is not supported: fieldkit's questions are radio, dropdown, yesno, truefalse, checkbox, text (free, integer or number) and notes, with descriptive and calc fields", row.cell(TYPE)),
            ),
        }
    }

    /// A section header starts a section; so does a matrix group, which
    /// names the section (and its scale). After a matrix, the section it
    /// interrupted continues.
    fn sections(&mut self, row: &Row) {
        let header = row.cell(HEADER);
        let matrix = row.cell(MATRIX);
        let matrix_key = key_from_name(matrix).unwrap_or_else(|| slug(matrix));
        if !header.is_empty() {
            let key = if matrix.is_empty() {
                slug(header)
            } else {
                matrix_key
            };
            self.form.start(&key, header);
            self.last_header = Some((slug(header), header.to_owned()));
        } else if !matrix.is_empty() && matrix != self.matrix {
            if !(self.form.is_fresh() && self.form.rekey(&matrix_key)) {
                self.form.start(&matrix_key, &words(matrix));
            }
        } else if matrix.is_empty() && !self.matrix.is_empty() {
            if let Some((key, title)) = self.last_header.clone() {
                self.form.start(&key, &title);
            } else {
                self.form.close();
            }
        }
        self.matrix = matrix.to_owned();
    }

    fn name(&mut self, row: &Row, named: impl FnOnce(String) -> Named) -> Option<String> {
        let name = row.cell(FIELD);
        let Some(key) = key_from_name(name) else {
            let column = self.table.column_name(FIELD);
            self.problems
                .push(key_problem(PLACE, row.number, &column, name));
            return None;
        };
        if let Err(message) = self.names.add(name, &key, named(key.clone()), row.number) {
            self.problem(row, FIELD, message);
            return None;
        }
        Some(key)
    }

    fn calculation(&mut self, row: &Row, text: &str, column: usize) {
        let index = self.calculations.len();
        let Some(key) = self.name(row, |_| Named::Calculation(index)) else {
            return;
        };
        if text.trim().is_empty() {
            self.problem(row, column, "the calculation is empty");
            return;
        }
        let label = row.cell(LABEL);
        self.calculations.push(Calculation {
            label: if label.is_empty() {
                words(&key)
            } else {
                label.to_owned()
            },
            key,
            text: text.to_owned(),
            dialect: Dialect::Redcap,
            place: PLACE.to_owned(),
            row: row.number,
            column: self.table.column_name(column),
        });
    }

    fn question(&mut self, row: &Row, ty: &str) {
        let Some(key) = self.name(row, Named::Item) else {
            return;
        };
        let text = row.cell(LABEL);
        if text.is_empty() {
            self.problem(row, LABEL, "the field has no label");
        }
        let required = row.cell(REQUIRED).eq_ignore_ascii_case("y");
        let mut item = Item::new(key, text, row.cell(NOTE), required);
        match ty {
            "text" => self.text(row, &mut item),
            "yesno" => item.kind = ItemKind::YesNo,
            "truefalse" => {
                item.kind = ItemKind::YesNo;
                self.note(row, "true/false is read as yes (1) / no (0)");
            }
            "radio" | "dropdown" | "checkbox" => match choices(row.cell(CHOICES)) {
                Err(message) => self.problem(row, CHOICES, message),
                Ok(anchors) if ty == "checkbox" => {
                    item.kind = ItemKind::MultipleChoice;
                    item.choices = anchors;
                }
                Ok(anchors) if is_yes_no(&anchors) => item.kind = ItemKind::YesNo,
                Ok(anchors) => {
                    let hint = match key_from_name(row.cell(MATRIX)) {
                        Some(matrix) => matrix,
                        None => {
                            let mut base = item.key.clone();
                            base.truncate(57);
                            format!("{base}_scale")
                        }
                    };
                    item.kind = ItemKind::Scale;
                    item.scale = Some(self.form.scale_for_anchors(anchors, &hint));
                }
            },
            _ => {}
        }
        self.form.item(item);
    }

    /// A text field: free text, or a number by its validation.
    fn text(&mut self, row: &Row, item: &mut Item) {
        let validation = row.cell(VALIDATION).to_lowercase();
        let (min, max) = (row.cell(MIN), row.cell(MAX));
        match validation.as_str() {
            "" => {
                if !min.is_empty() || !max.is_empty() {
                    self.note(
                        row,
                        "a minimum or maximum without a validation type is ignored",
                    );
                }
                return;
            }
            "integer" => item.integer = true,
            "number" => {}
            v if v.starts_with("number_") => {
                let message = format!(
                    "validation \"{v}\" is read as a number; its decimal format is not enforced"
                );
                self.note(row, message);
            }
            v => {
                let message = format!(
                    "validation \"{v}\" is not supported: fieldkit's text fields are free text, integer or number"
                );
                self.problem(row, VALIDATION, message);
                return;
            }
        }
        item.kind = ItemKind::Number;
        for (column, text, slot) in [(MIN, min, &mut item.min), (MAX, max, &mut item.max)] {
            if text.is_empty() {
                continue;
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => *slot = Some(v),
                _ => self.problem(row, column, format!("\"{text}\" is not a number")),
            }
        }
    }
}

/// `1, Label | 2, Label`: whole-number codes, each with a label.
fn choices(cell: &str) -> Result<Vec<Anchor>, String> {
    if cell.trim().is_empty() {
        return Err("the field lists no choices; write them as \"1, Label | 2, Label\"".into());
    }
    let mut anchors: Vec<Anchor> = Vec::new();
    for part in cell.split(['|', '\n']).map(str::trim) {
        let Some((code, label)) = part.split_once(',') else {
            return Err(format!(
                "choice \"{part}\" is not \"code, label\"; write choices as \"1, Label | 2, Label\""
            ));
        };
        let (code, label) = (code.trim(), label.trim());
        let Ok(value) = code.parse::<i64>() else {
            return Err(format!(
                "choice code \"{code}\" is not a whole number; fieldkit stores options as numbers"
            ));
        };
        if label.is_empty() {
            return Err(format!("choice {code} has no label"));
        }
        if anchors.iter().any(|a| a.value == value) {
            return Err(format!("choice code {code} is listed twice"));
        }
        anchors.push(Anchor {
            value,
            label: label.to_owned(),
        });
    }
    Ok(anchors)
}

/// The expression inside `@CALCTEXT(...)`, brackets and quotes respected.
fn calctext_expression(annotation: &str) -> Option<&str> {
    let after = annotation.split_once("@CALCTEXT")?.1.trim_start();
    let inner = after.strip_prefix('(')?;
    let mut depth = 1usize;
    let mut quote: Option<char> = None;
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return inner.get(..i);
                }
            }
            (None, _) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_code_comma_label() {
        let anchors = choices("1, Yes | 0, No").unwrap_or_default();
        assert_eq!(anchors.len(), 2);
        assert_eq!(anchors[1].label, "No");
        assert!(choices("1 Yes | 0, No").is_err());
        assert!(choices("a, Yes | b, No").is_err());
        assert!(choices("1, Yes | 1, Also").is_err());
        assert!(choices("1, | 2, No").is_err());
        assert!(choices("").is_err());
        assert_eq!(
            choices("1, A, with comma").map(|a| a[0].label.clone()),
            Ok("A, with comma".into())
        );
    }

    #[test]
    fn calctext_keeps_brackets_and_quotes() {
        assert_eq!(
            calctext_expression("@HIDDEN @CALCTEXT(if([t] >= 2, 'a)', 'b')) @READONLY"),
            Some("if([t] >= 2, 'a)', 'b')")
        );
        assert_eq!(calctext_expression("@CALCTEXT(if([t]"), None);
        assert_eq!(calctext_expression("@CALCTEXT"), None);
    }
}
