//! Charts drawn on the server as SVG, for pages under a strict Content
//! Security Policy: no `<style>`, no `style=` attributes, no scripts, no
//! external references, only presentation attributes.
//!
//! Two kinds today, each with a small builder: [`LineChart`] (series over
//! ordered categories such as time points) and [`BarChart`] (horizontal
//! grouped bars, categories down the side). Both take the same calls:
//! categories, series of optional values, axis titles, an optional fixed
//! value domain, decimals, and dashed reference lines. [`LinearScale`] and
//! [`BandScale`] place numbers and categories; the axes are drawn from them.
//!
//! Every chart comes back as a [`Chart`]: the SVG, and a [`DataTable`] with
//! the same numbers formatted exactly as the picture labels them, which the
//! page renders as an HTML table beside the picture. The SVG is
//! `role="img"`, labelled by its own `<title>` and `<desc>`; it is
//! `width="100%"` with a 560-unit-wide viewBox, so it scales down to a
//! phone. The visible heading belongs to the page: the SVG draws none.
//!
//! Series are told apart without colour: each has a marker shape and dash
//! pattern (lines) or fill pattern (bars) as well as a colour-blind-safe
//! colour, all chosen by the series' position, so passing teams in the
//! same order keeps each team's look the same across charts.
//!
//! Values that are missing, NaN or infinite are drawn as gaps (a line
//! breaks; a bar is replaced by "No data") and shown as "No data" in the
//! table. No input makes rendering panic; a chart with no values at all
//! says "No data yet". Output is deterministic, byte for byte.
//!
//! Several charts on one page need distinct ids: the SVG's ids are the
//! caller's id (reduced to `[A-Za-z0-9_-]`) plus a suffix.

mod axis;
mod bar;
mod line;
mod scale;
mod style;
mod svg;
#[cfg(test)]
mod tests;

pub use bar::BarChart;
pub use line::LineChart;
pub use scale::{BandScale, LinearScale};
pub use svg::format_value;

use serde::Serialize;
use svg::{sanitize_id, Svg, FONT, MUTED};

/// What the table says, and the bar chart draws, for a missing value.
pub const MISSING: &str = "No data";
/// What an empty chart says.
pub const NO_DATA_YET: &str = "No data yet";

/// Width of every chart's viewBox, in user units.
const WIDTH: f64 = 560.0;
/// Margin around the chart's content.
const PAD: f64 = 8.0;
/// Fonts to draw text in (an attribute value: no quotes needed).
const FONT_FAMILY: &str =
    "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";

/// A rendered chart: the picture and the same numbers as a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chart {
    /// A complete `<svg>` element, safe to insert into a page as it is.
    pub svg: String,
    /// The chart's numbers, for an HTML table beside the picture.
    pub table: DataTable,
}

/// A chart's numbers, formatted exactly as the chart labels them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataTable {
    /// The table's caption: the chart's title.
    pub caption: String,
    /// Headers of every column, the row-label column first (the category
    /// title), then one per series.
    pub column_headers: Vec<String>,
    /// One row per category: its name, then one cell per series.
    pub rows: Vec<(String, Vec<String>)>,
}

/// A dashed line across the plot at a value, with a label.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    value: f64,
    label: String,
}

/// What both kinds of chart are built from.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    id: String,
    title: String,
    description: String,
    categories: Vec<String>,
    series: Vec<(String, Vec<Option<f64>>)>,
    category_title: Option<String>,
    value_title: Option<String>,
    domain: Option<(f64, f64)>,
    decimals: Option<usize>,
    references: Vec<Reference>,
}

/// The spec's data made regular: one value (or None) per category in every
/// series, non-finite values dropped, with the table built from them.
struct Prepared {
    series: Vec<(String, Vec<Option<f64>>)>,
    decimals: usize,
    table: DataTable,
    has_data: bool,
}

impl Spec {
    fn new(id: &str, title: &str, description: &str) -> Self {
        Spec {
            id: sanitize_id(id),
            title: title.to_string(),
            description: description.to_string(),
            categories: Vec::new(),
            series: Vec::new(),
            category_title: None,
            value_title: None,
            domain: None,
            decimals: None,
            references: Vec::new(),
        }
    }

    fn prepare(&self, default_category_title: &str) -> Prepared {
        let n = self.categories.len();
        let series: Vec<(String, Vec<Option<f64>>)> = self
            .series
            .iter()
            .map(|(name, values)| {
                let mut values: Vec<Option<f64>> = values
                    .iter()
                    .take(n)
                    .map(|v| v.filter(|x| x.is_finite()))
                    .collect();
                values.resize(n, None);
                (name.clone(), values)
            })
            .collect();
        let all: Vec<f64> = series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .collect();
        let decimals = self.decimals.unwrap_or_else(|| auto_decimals(&all));
        let mut column_headers = vec![self
            .category_title
            .clone()
            .unwrap_or_else(|| default_category_title.to_string())];
        column_headers.extend(series.iter().map(|(name, _)| name.clone()));
        let rows = self
            .categories
            .iter()
            .enumerate()
            .map(|(i, category)| {
                let cells = series
                    .iter()
                    .map(|(_, values)| cell(values[i], decimals))
                    .collect();
                (category.clone(), cells)
            })
            .collect();
        Prepared {
            has_data: !all.is_empty(),
            series,
            decimals,
            table: DataTable {
                caption: self.title.clone(),
                column_headers,
                rows,
            },
        }
    }

    /// The value scale onto `range`: the caller's fixed domain if valid,
    /// otherwise a nice domain over the values, the reference lines and 0.
    fn value_scale(&self, values: &[f64], range: (f64, f64), ticks: usize) -> LinearScale {
        if let Some((low, high)) = self.domain {
            if low.is_finite() && high.is_finite() && low < high {
                return LinearScale::new((low, high), range).tick_count(ticks);
            }
        }
        let refs = self.references.iter().map(|r| r.value);
        let (low, high) = values
            .iter()
            .copied()
            .chain(refs)
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        LinearScale::new((low, high), range)
            .tick_count(ticks)
            .nice()
    }

    /// The reference lines whose value lies in the scale's domain.
    fn visible_references(&self, scale: &LinearScale) -> Vec<&Reference> {
        let (low, high) = scale.domain();
        self.references
            .iter()
            .filter(|r| r.value >= low && r.value <= high)
            .collect()
    }

    /// The description, followed by the reference lines in words.
    fn full_description(&self, decimals: usize) -> String {
        let mut text = self.description.clone();
        for r in &self.references {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!(
                "Reference line: {} at {}.",
                r.label,
                format_value(r.value, decimals)
            ));
        }
        text
    }

    /// The whole `<svg>` element around `body`, with `defs` when non-empty.
    fn document(&self, height: f64, decimals: usize, defs: &str, body: &str) -> String {
        let id = &self.id;
        let view_box = format!("0 0 {} {}", svg::num(WIDTH), svg::num(height));
        let labelled_by = format!("{id}-title {id}-desc");
        let mut doc = Svg::new();
        doc.open(
            "svg",
            &[
                ("xmlns", "http://www.w3.org/2000/svg"),
                ("width", "100%"),
                ("viewBox", &view_box),
                ("role", "img"),
                ("aria-labelledby", &labelled_by),
                ("font-family", FONT_FAMILY),
                ("font-size", &svg::num(FONT)),
            ],
        );
        doc.element_text("title", &[("id", &format!("{id}-title"))], &self.title);
        doc.element_text(
            "desc",
            &[("id", &format!("{id}-desc"))],
            &self.full_description(decimals),
        );
        let mut out = doc.finish();
        if !defs.is_empty() {
            out.push_str("<defs>\n");
            out.push_str(defs);
            out.push_str("</defs>\n");
        }
        out.push_str(body);
        out.push_str("</svg>\n");
        out
    }

    /// A chart with nothing to draw: a frame saying "No data yet".
    fn empty(&self, prepared: Prepared) -> Chart {
        let height = 120.0;
        let mut body = Svg::new();
        let (w, h) = (svg::num(WIDTH - 2.0), svg::num(height - 2.0));
        body.leaf(
            "rect",
            &[
                ("x", "1"),
                ("y", "1"),
                ("width", &w),
                ("height", &h),
                ("fill", "none"),
                ("stroke", "#949494"),
                ("stroke-dasharray", "4 4"),
            ],
        );
        body.text(
            WIDTH / 2.0,
            height / 2.0 + FONT * 0.35,
            NO_DATA_YET,
            &[("text-anchor", "middle"), ("fill", MUTED)],
        );
        Chart {
            svg: self.document(height, prepared.decimals, "", &body.finish()),
            table: prepared.table,
        }
    }
}

/// A table cell / label for an optional value.
fn cell(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) => format_value(v, decimals),
        None => MISSING.to_string(),
    }
}

/// The fewest decimals (0 to 2) that show every value exactly, else 2.
fn auto_decimals(values: &[f64]) -> usize {
    (0..=2)
        .find(|&d| {
            let factor = 10f64.powi(d);
            values.iter().all(|v| {
                let scaled = v * factor;
                !scaled.is_finite()
                    || (scaled - scaled.round()).abs() <= 1e-9 * scaled.abs().max(1.0)
            })
        })
        .map_or(2, |d| d as usize)
}

/// A label drawn over lines: white halo behind dark text.
const HALO: [(&str, &str); 4] = [
    ("stroke", "#ffffff"),
    ("stroke-width", "4"),
    ("stroke-linejoin", "round"),
    ("paint-order", "stroke"),
];

/// The builder calls both kinds of chart share.
macro_rules! spec_builder {
    () => {
        /// A chart whose SVG ids start with `id` (reduced to
        /// `[A-Za-z0-9_-]`), labelled by `title` and `description` (given
        /// to screen readers; the table's caption is the title).
        pub fn new(id: &str, title: &str, description: &str) -> Self {
            Self {
                spec: $crate::charts::Spec::new(id, title, description),
            }
        }

        /// The categories, in order.
        pub fn categories<I, S>(mut self, categories: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.spec.categories = categories.into_iter().map(Into::into).collect();
            self
        }

        /// Adds a series: one value per category, in the categories' order
        /// (`f64` or `Option<f64>`). Missing, NaN and infinite values are
        /// gaps; values past the last category are ignored.
        pub fn series<I>(mut self, name: impl Into<String>, values: I) -> Self
        where
            I: IntoIterator,
            I::Item: Into<Option<f64>>,
        {
            let values = values.into_iter().map(Into::into).collect();
            self.spec.series.push((name.into(), values));
            self
        }

        /// Title of the category axis, and header of the table's first
        /// column.
        pub fn category_title(mut self, title: impl Into<String>) -> Self {
            self.spec.category_title = Some(title.into());
            self
        }

        /// Title of the value axis.
        pub fn value_title(mut self, title: impl Into<String>) -> Self {
            self.spec.value_title = Some(title.into());
            self
        }

        /// Fixes the value axis to `min..=max` (e.g. 0..=2 for a fidelity
        /// score) instead of fitting it to the data; values outside are
        /// drawn at its edge but labelled truly. Ignored unless both are
        /// finite and `min < max`.
        pub fn value_domain(mut self, min: f64, max: f64) -> Self {
            self.spec.domain = Some((min, max));
            self
        }

        /// Decimals in value labels and the table (at most 6). By default,
        /// the fewest from 0 to 2 that show every value exactly.
        pub fn decimals(mut self, decimals: usize) -> Self {
            self.spec.decimals = Some(decimals);
            self
        }

        /// Adds a dashed reference line at `value` with `label` (e.g. "High
        /// fidelity threshold" at 1.5); it is also told in the description.
        /// Not drawn when outside a fixed domain, or when not finite.
        pub fn reference_line(mut self, value: f64, label: impl Into<String>) -> Self {
            if value.is_finite() {
                self.spec.references.push($crate::charts::Reference {
                    value,
                    label: label.into(),
                });
            }
            self
        }
    };
}
use spec_builder;
