//! Sheets as rows of text, from an `.xlsx` workbook or a CSV file, within
//! fixed bounds. Owns the limits and the reading; knows nothing of XLSForm
//! or REDCap beyond pyxform's CSV layout (sheet names in the first column).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};

use super::ImportProblem;

/// Rows in one sheet (the header included).
pub const MAX_ROWS: usize = 5_000;
/// Columns in one sheet.
pub const MAX_COLUMNS: usize = 256;
/// Characters in one cell.
pub const MAX_CELL_CHARS: usize = 10_000;
/// Bytes an `.xlsx` may unpack to, all its parts together.
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// Parts in an `.xlsx` (a form has about a dozen).
const MAX_PARTS: usize = 1_000;
/// Distinct strings an `.xlsx` may declare; calamine reserves room for the
/// declared number before reading them.
const MAX_SHARED_STRINGS: u64 = 1_000_000;
/// Records in one CSV file: three sheets' worth in pyxform's layout.
const MAX_CSV_RECORDS: usize = 3 * MAX_ROWS;

/// One row with content, its cells trimmed, empty where blank.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// As a spreadsheet numbers it: the first row is 1.
    pub number: usize,
    /// By column, from the first.
    pub cells: Vec<String>,
}

impl Row {
    /// A cell's text, empty when the row is shorter.
    pub fn cell(&self, column: usize) -> &str {
        self.cells.get(column).map_or("", String::as_str)
    }

    fn is_blank(&self) -> bool {
        self.cells.iter().all(String::is_empty)
    }
}

/// A sheet's rows with content, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// Lowercased, as XLSForm sheet names are matched.
    pub name: String,
    /// Rows with content, the header first.
    pub rows: Vec<Row>,
}

/// A sheet read as a table: its first row names the columns.
#[derive(Clone, Debug)]
pub struct Table {
    /// Where problems are placed, e.g. "survey sheet".
    pub place: String,
    /// The column headers, as written.
    pub header: Vec<String>,
    /// The rows after the header.
    pub rows: Vec<Row>,
}

impl Table {
    /// None when the sheet has no rows at all.
    pub fn new(sheet: Sheet, place: &str) -> Option<Table> {
        let mut rows = sheet.rows.into_iter();
        let header = rows.next()?.cells;
        Some(Table {
            place: place.to_owned(),
            header,
            rows: rows.collect(),
        })
    }

    /// The header of a column, or its letter when the header is blank;
    /// empty for a column the sheet does not have.
    pub fn column_name(&self, column: usize) -> String {
        match self.header.get(column) {
            Some(h) if !h.is_empty() => h.clone(),
            _ if column < MAX_COLUMNS => column_letter(column),
            _ => String::new(),
        }
    }

    /// A problem at a row and column of this table.
    pub fn problem(&self, row: &Row, column: usize, message: impl Into<String>) -> ImportProblem {
        ImportProblem::at(&self.place, row.number, &self.column_name(column), message)
    }
}

/// Spreadsheet column letters: 0 is A, 26 is AA.
pub fn column_letter(column: usize) -> String {
    let mut n = column.saturating_add(1);
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

fn cell_problem(place: &str, row: usize, column: usize) -> ImportProblem {
    ImportProblem::at(
        place,
        row,
        &column_letter(column),
        format!("a cell holds more than {MAX_CELL_CHARS} characters"),
    )
}

fn rows_problem(place: &str) -> ImportProblem {
    ImportProblem {
        sheet: place.to_owned(),
        row: None,
        column: None,
        message: format!(
            "more than {MAX_ROWS} rows or {MAX_COLUMNS} columns; fieldkit imports instruments within those bounds"
        ),
    }
}

/// Reads the named sheets (matched without regard to case) of a workbook.
pub fn read_xlsx(bytes: &[u8], wanted: &[&str]) -> Result<Vec<Sheet>, Vec<ImportProblem>> {
    check_package(bytes).map_err(|m| vec![ImportProblem::file(m)])?;
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|e| {
        vec![ImportProblem::file(format!(
            "this is not a workbook fieldkit can read ({e}); open it in a spreadsheet and save it again as .xlsx"
        ))]
    })?;
    let mut sheets = Vec::new();
    for name in book.sheet_names() {
        let lower = name.trim().to_lowercase();
        if !wanted.contains(&lower.as_str()) {
            continue;
        }
        let place = format!("{lower} sheet");
        let rows = read_worksheet(&mut book, &name, &place)?;
        sheets.push(Sheet { name: lower, rows });
    }
    Ok(sheets)
}

fn read_worksheet(
    book: &mut Xlsx<Cursor<&[u8]>>,
    name: &str,
    place: &str,
) -> Result<Vec<Row>, Vec<ImportProblem>> {
    let unreadable = |e: calamine::XlsxError| {
        vec![ImportProblem {
            sheet: place.to_owned(),
            row: None,
            column: None,
            message: format!("the sheet cannot be read ({e}); save the workbook again as .xlsx"),
        }]
    };
    let mut reader = book.worksheet_cells_reader(name).map_err(unreadable)?;
    let mut cells: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        let text = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::Error(e) => {
                return Err(vec![ImportProblem::at(
                    place,
                    row + 1,
                    &column_letter(column),
                    format!("the cell holds a spreadsheet error ({e}); give it a value"),
                )])
            }
            value => cell_text(value),
        };
        if row >= MAX_ROWS || column >= MAX_COLUMNS {
            return Err(vec![rows_problem(place)]);
        }
        if text.chars().count() > MAX_CELL_CHARS {
            return Err(vec![cell_problem(place, row + 1, column)]);
        }
        if !text.is_empty() {
            cells.entry(row).or_default().insert(column, text);
        }
    }
    Ok(cells
        .into_iter()
        .map(|(row, by_column)| {
            let width = by_column.keys().next_back().map_or(0, |c| c + 1);
            let mut row_cells = vec![String::new(); width];
            for (column, text) in by_column {
                if let Some(slot) = row_cells.get_mut(column) {
                    *slot = text;
                }
            }
            Row {
                number: row + 1,
                cells: row_cells,
            }
        })
        .collect())
}

/// A cell as text, as pyxform reads it: whole numbers without a decimal point.
fn cell_text(value: &DataRef<'_>) -> String {
    let text = match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => number_text(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(_) | DataRef::Empty => String::new(),
    };
    text.trim().to_owned()
}

fn number_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// Unpacks every part of the package within a byte budget, before calamine
/// reads it from memory, so a zip bomb is refused after bounded work.
fn check_package(bytes: &[u8]) -> Result<(), String> {
    let not_xlsx = |e: &dyn std::fmt::Display| {
        format!("this is not a workbook fieldkit can read ({e}); open it in a spreadsheet and save it again as .xlsx")
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| not_xlsx(&e))?;
    if archive.len() > MAX_PARTS {
        return Err(format!(
            "the workbook has {} parts; fieldkit reads workbooks of at most {MAX_PARTS}",
            archive.len()
        ));
    }
    let too_big = || {
        format!(
            "the workbook unpacks to more than {} MiB; fieldkit reads smaller workbooks",
            MAX_UNPACKED_BYTES / (1024 * 1024)
        )
    };
    let mut budget = MAX_UNPACKED_BYTES;
    for i in 0..archive.len() {
        let part = archive.by_index(i).map_err(|e| not_xlsx(&e))?;
        let is_strings = part.name().is_ok_and(|n| n.ends_with("sharedStrings.xml"));
        let mut unpacked = Vec::new();
        let read = part
            .take(budget + 1)
            .read_to_end(&mut unpacked)
            .map_err(|e| not_xlsx(&e))? as u64;
        if read > budget {
            return Err(too_big());
        }
        budget -= read;
        if is_strings && declared_strings(&unpacked) > MAX_SHARED_STRINGS {
            return Err(format!(
                "the workbook declares more than {MAX_SHARED_STRINGS} distinct texts; fieldkit reads smaller workbooks"
            ));
        }
    }
    Ok(())
}

/// The largest `uniqueCount` declared in a shared-strings part; calamine
/// reserves room for that many strings up front.
fn declared_strings(xml: &[u8]) -> u64 {
    let mut largest = 0u64;
    let mut rest = xml;
    let needle = b"uniqueCount";
    while let Some(at) = find(rest, needle) {
        rest = rest.get(at + needle.len()..).unwrap_or_default();
        let after_space = trim_start(rest);
        let Some(after_eq) = after_space.strip_prefix(b"=") else {
            continue;
        };
        let value = trim_start(after_eq);
        let Some((&quote, digits)) = value.split_first() else {
            continue;
        };
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let n = digits
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |n, b| {
                n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
            });
        largest = largest.max(n);
    }
    largest
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let n = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    bytes.get(n..).unwrap_or_default()
}

/// Reads a CSV file: UTF-8 with or without a byte-order mark, any line
/// endings, rows of any length.
pub fn read_csv(bytes: &[u8]) -> Result<Vec<Row>, Vec<ImportProblem>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let number = i + 1;
        if number > MAX_CSV_RECORDS {
            return Err(vec![ImportProblem::file(format!(
                "the file has more than {MAX_CSV_RECORDS} rows; fieldkit imports instruments of at most {MAX_ROWS} rows a sheet"
            ))]);
        }
        let record = record.map_err(|e| {
            let message = match e.kind() {
                csv::ErrorKind::Utf8 { .. } => {
                    "the file is not UTF-8 text; save it as \"CSV UTF-8\"".to_owned()
                }
                _ => format!("the file cannot be read as CSV ({e})"),
            };
            vec![ImportProblem {
                sheet: String::new(),
                row: Some(number),
                column: None,
                message,
            }]
        })?;
        if record.len() > MAX_COLUMNS {
            return Err(vec![rows_problem("")]);
        }
        let mut cells = Vec::with_capacity(record.len());
        for (column, field) in record.iter().enumerate() {
            if field.chars().count() > MAX_CELL_CHARS {
                return Err(vec![cell_problem("", number, column)]);
            }
            cells.push(field.trim().to_owned());
        }
        let row = Row { number, cells };
        if !row.is_blank() {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// pyxform's CSV layout: a first cell names the sheet the following rows
/// belong to; the first row of a sheet with content after the first cell is
/// its header (it may share the row with the name). None when the first
/// row with content does not start with a sheet name, or none of the sheets
/// is one of `known`.
pub fn pyxform_sheets(
    rows: Vec<Row>,
    known: &[&str],
) -> Result<Option<Vec<Sheet>>, Vec<ImportProblem>> {
    let mut sheets: Vec<Sheet> = Vec::new();
    for row in rows {
        let name = row.cell(0).to_lowercase();
        let content = Row {
            number: row.number,
            cells: row.cells.into_iter().skip(1).collect(),
        };
        if !name.is_empty() {
            sheets.push(Sheet {
                name,
                rows: Vec::new(),
            });
        }
        let Some(sheet) = sheets.last_mut() else {
            return Ok(None);
        };
        if !content.is_blank() {
            if sheet.rows.len() >= MAX_ROWS {
                return Err(vec![rows_problem(&format!("{} sheet", sheet.name))]);
            }
            sheet.rows.push(content);
        }
    }
    let recognised = sheets.iter().any(|s| known.contains(&s.name.as_str()));
    Ok(recognised.then_some(sheets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_run_like_a_spreadsheet() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
    }

    #[test]
    fn declared_string_counts_are_found_in_any_spelling() {
        let xml = br#"<?xml version="1.0"?><x:sst xmlns:x="y" count = '12' uniqueCount="99999999999999999999999">"#;
        assert_eq!(declared_strings(xml), u64::MAX);
        assert_eq!(declared_strings(br#"<sst count="3" uniqueCount="2">"#), 2);
        assert_eq!(declared_strings(b"<sst>"), 0);
    }

    #[test]
    fn csv_rows_are_trimmed_and_numbered_as_a_spreadsheet_shows_them() {
        let text = "\u{feff}a, b ,c\r\n\r\n,,\r\n\"x\r\ny\",z\r\n";
        let rows = read_csv(text.as_bytes()).unwrap_or_default();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].cells, ["a", "b", "c"]);
        assert_eq!(rows[1].number, 3);
        assert_eq!(rows[1].cells, ["x\r\ny", "z"]);
    }

    #[test]
    fn a_cell_past_the_bound_is_refused() {
        let text = format!("a,{}\n", "x".repeat(MAX_CELL_CHARS + 1));
        let problems = read_csv(text.as_bytes()).err().unwrap_or_default();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].column.as_deref(), Some("B"));
    }

    #[test]
    fn pyxform_layout_groups_rows_under_sheet_names() {
        let text = "survey,type,name\n,integer,a\n\nchoices\n,list_name,name\n,l,1\n";
        let rows = read_csv(text.as_bytes()).unwrap_or_default();
        let sheets = pyxform_sheets(rows, &["survey"])
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(sheets.len(), 2);
        assert_eq!(sheets[0].rows[0].cells, ["type", "name"]);
        assert_eq!(sheets[0].rows[1].number, 2);
        assert_eq!(sheets[1].name, "choices");
        assert_eq!(sheets[1].rows[1].cells, ["l", "1"]);
        let plain = read_csv(b",a,b\n,c,d\n").unwrap_or_default();
        assert_eq!(pyxform_sheets(plain, &["survey"]), Ok(None));
        let unknown = read_csv(b"a,b\n,c\n").unwrap_or_default();
        assert_eq!(pyxform_sheets(unknown, &["survey"]), Ok(None));
    }
}
