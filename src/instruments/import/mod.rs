//! Importers: an XLSForm (`.xlsx`, or pyxform's CSV layout) or a REDCap data
//! dictionary (`.csv`) becomes a [`Definition`], checked exactly like the
//! files in `instruments/`. Calculations are recognised as declarative score
//! rules and never run; whatever is not understood is refused with the sheet,
//! row and column, and whatever is dropped or read differently is said in the
//! notes. Input is bounded: bytes, rows, columns, cell length, nesting.

mod expr;
mod form;
mod redcap;
mod score;
mod sheet;
mod xlsform;

use std::fmt;

use crate::instruments::definition::{self, Definition, RaterRole, Subject, TimePoint};

/// The largest file accepted, in bytes. An `.xlsx` is also refused when it
/// unpacks to more than [`sheet::MAX_UNPACKED_BYTES`], so a zip bomb costs
/// bounded work.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// What an import needs that the formats do not hold, and what overrides
/// what they do hold.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// The instrument id; else the XLSForm's `form_id`, the REDCap form name
    /// or the file name, with underscores as hyphens.
    pub id: Option<String>,
    /// Else the XLSForm's `version` setting, else 1.
    pub version: Option<u32>,
    /// Else the XLSForm's `form_title`, else the form name in words.
    pub title: Option<String>,
    /// The licence and attribution notice; no format holds one.
    pub licence: String,
    /// Who or what the instrument is about.
    pub subject: Subject,
    /// Who may rate with it.
    pub rater_roles: Vec<RaterRole>,
    /// When it is completed.
    pub time_points: Vec<TimePoint>,
}

/// An imported definition and what the import ignored or read differently,
/// for the researcher to review before the instrument is used.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// Checked exactly as a definition file is.
    pub definition: Definition,
    /// E.g. "survey sheet, row 9: relevant ignored; every item is shown".
    pub notes: Vec<String>,
}

/// Why an import was refused, and where in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportProblem {
    /// Where, as the researcher names it: "survey sheet", "choices sheet",
    /// "settings sheet", "data dictionary", or empty for the whole file.
    pub sheet: String,
    /// The row as a spreadsheet shows it (the header is row 1).
    pub row: Option<usize>,
    /// The column's header, or its letter when it has none.
    pub column: Option<String>,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
}

impl ImportProblem {
    fn file(message: impl Into<String>) -> ImportProblem {
        ImportProblem {
            sheet: String::new(),
            row: None,
            column: None,
            message: message.into(),
        }
    }

    fn at(sheet: &str, row: usize, column: &str, message: impl Into<String>) -> ImportProblem {
        ImportProblem {
            sheet: sheet.to_owned(),
            row: Some(row),
            column: (!column.is_empty()).then(|| column.to_owned()),
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut place = Vec::new();
        if !self.sheet.is_empty() {
            place.push(self.sheet.clone());
        }
        if let Some(row) = self.row {
            place.push(format!("row {row}"));
        }
        if let Some(column) = &self.column {
            place.push(format!("column {column}"));
        }
        if place.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", place.join(", "), self.message)
        }
    }
}

/// Reads an instrument from an XLSForm or a REDCap data dictionary. The
/// format is told by the name (`.xlsx`, `.csv`) and, for a CSV, by its
/// header. The result has passed [`definition::parse`].
pub fn import(
    file_name: &str,
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<Imported, Vec<ImportProblem>> {
    if bytes.len() > MAX_BYTES {
        return Err(vec![ImportProblem::file(format!(
            "the file is {} bytes; fieldkit imports files of at most {MAX_BYTES} bytes (10 MiB)",
            bytes.len()
        ))]);
    }
    let name = file_name.trim().to_ascii_lowercase();
    let draft = if name.ends_with(".xlsx") {
        let sheets = sheet::read_xlsx(bytes, &xlsform::SHEETS)?;
        xlsform::import(sheets, file_name, options)?
    } else if name.ends_with(".csv") {
        let rows = sheet::read_csv(bytes)?;
        if redcap::is_dictionary(&rows) {
            redcap::import(rows, options)?
        } else if let Some(sheets) = sheet::pyxform_sheets(rows, &xlsform::SHEETS)? {
            xlsform::import(sheets, file_name, options)?
        } else {
            return Err(vec![ImportProblem::file(
                "this CSV is neither a REDCap data dictionary (its first column is \"Variable / Field Name\") nor an XLSForm in pyxform's CSV layout (a row \"survey\" in the first column, then that sheet's header and rows)",
            )]);
        }
    } else {
        return Err(vec![ImportProblem::file(
            "fieldkit imports an XLSForm (.xlsx, or .csv in pyxform's layout) or a REDCap data dictionary (.csv); save the file as one of those",
        )]);
    };
    finish(file_name, draft)
}

/// Checked like the files: the draft is written as TOML and read back by
/// the same parser, so an import can never hold what a file could not.
fn finish(file_name: &str, draft: form::Draft) -> Result<Imported, Vec<ImportProblem>> {
    let toml = draft.definition.to_toml();
    match definition::parse(file_name, &toml, None) {
        Ok(definition) => Ok(Imported {
            definition,
            notes: draft.notes.render(),
        }),
        Err(problems) => Err(problems
            .into_iter()
            .map(|p| ImportProblem::file(format!("the imported instrument: {}", p.message)))
            .collect()),
    }
}

#[cfg(test)]
mod tests;
