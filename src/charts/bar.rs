//! Horizontal grouped bar chart: categories down the side, one bar per
//! series in each category, value labels at the bars' ends.

use super::axis::{self, CategoryLabels, Legend, Plot, GAP, TICK};
use super::scale::{BandScale, LinearScale};
use super::style::{fill_value, pattern_def, series_style};
use super::svg::{
    chars_fitting, num, text_width, wrap, Svg, FONT, INK, LINE, MUTED, SMALL, SMALL_SIZE,
};
use super::{cell, spec_builder, Chart, Spec, HALO, MISSING, PAD, WIDTH};

/// Thickness of one bar.
const BAR: f64 = 18.0;
/// Space between the bars of one category.
const BAR_GAP: f64 = 3.0;
/// Space above and below each category's group of bars.
const GROUP_PAD: f64 = 9.0;
/// Widest the category label column gets, as a share of the width.
const LABEL_SHARE: f64 = 0.36;
/// Most lines a category label takes.
const LABEL_LINES: usize = 3;
/// Size of a legend key.
const KEY: f64 = 18.0;
/// Narrowest the plot gets, whatever the labels need.
const MIN_PLOT_WIDTH: f64 = 120.0;

/// A horizontal grouped bar chart: categories (e.g. checklist items or
/// teams) down the left, one bar per series in each, each bar labelled
/// with its value at its end. Bars are told apart by fill pattern as well
/// as colour. A missing value is labelled "No data" instead of a bar.
///
/// ```
/// use fieldkit::charts::BarChart;
/// let chart = BarChart::new("items", "Fidelity by item", "Mean score per checklist item and team.")
///     .categories(["Co-production", "Peer support"])
///     .series("Team A", [1.5, 2.0])
///     .series("Team B", [Some(0.5), None])
///     .value_domain(0.0, 2.0)
///     .render();
/// assert!(chart.svg.starts_with("<svg") && chart.table.rows.len() == 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    spec: Spec,
}

impl BarChart {
    spec_builder!();

    /// Draws the chart. Never panics; with no values at all it says
    /// "No data yet".
    pub fn render(&self) -> Chart {
        let spec = &self.spec;
        let prepared = spec.prepare("Category");
        if !prepared.has_data {
            return spec.empty(prepared);
        }
        let series = &prepared.series;
        let categories = &spec.categories;
        let n = categories.len();
        let m = series.len();
        let id = &spec.id;
        let names: Vec<String> = series.iter().map(|(name, _)| name.clone()).collect();
        let values: Vec<f64> = series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .collect();

        // Room for value labels right of positive bars and left of
        // negative ones.
        let label_width = |keep: &dyn Fn(f64) -> bool| {
            values
                .iter()
                .filter(|v| keep(**v))
                .map(|v| text_width(&cell(Some(*v), prepared.decimals), SMALL))
                .fold(0.0, f64::max)
        };
        let any_missing = series.iter().any(|(_, v)| v.iter().any(Option::is_none));
        let missing_width = if any_missing {
            text_width(MISSING, SMALL)
        } else {
            0.0
        };
        let right_room = label_width(&|v| v >= 0.0).max(missing_width) + 8.0;
        let negative_width = label_width(&|v| v < 0.0);
        let left_room = if negative_width > 0.0 {
            negative_width + 8.0
        } else {
            0.0
        };

        // Category labels, wrapped into a column at most LABEL_SHARE wide.
        let max_column = WIDTH * LABEL_SHARE;
        let labels = CategoryLabels::new(categories, chars_fitting(max_column, FONT), LABEL_LINES);
        let column = labels
            .wrapped
            .iter()
            .flat_map(|w| w.lines.iter())
            .map(|l| text_width(l, FONT))
            .fold(0.0, f64::max)
            .min(max_column);

        let label_right = PAD + column;
        let left = label_right + GAP + TICK + left_room;
        let right = (WIDTH - PAD - right_room).max(left + MIN_PLOT_WIDTH);
        let scale = value_scale(spec, &values, (left, right));

        // Layout, top to bottom.
        let legend = Legend::new(&names, KEY, PAD, PAD, WIDTH - 2.0 * PAD);
        let mut y = PAD + legend.height + 6.0;
        let category_title_y = spec.category_title.as_ref().map(|_| {
            let baseline = y + FONT * 0.8;
            y += LINE + 4.0;
            baseline
        });
        let references = spec.visible_references(&scale);
        let reference_rows: Vec<f64> = (0..references.len())
            .map(|k| y + (k + 1) as f64 * (SMALL + 8.0) - 4.0)
            .collect();
        y += references.len() as f64 * (SMALL + 8.0);
        let top = y + 4.0;
        let content =
            (m as f64 * BAR + (m as f64 - 1.0) * BAR_GAP).max(labels.max_lines() as f64 * LINE);
        let step = content + 2.0 * GROUP_PAD;
        let bottom = top + step * n as f64;
        let plot = Plot {
            left,
            top,
            right,
            bottom,
        };
        let band = BandScale::new(n, (top, bottom), 2.0 * GROUP_PAD / step);
        let mut height = bottom + 10.0 + FONT * 0.8 + 6.0;
        let value_title_y = spec.value_title.as_ref().map(|_| {
            let baseline = height + 6.0 + FONT * 0.8;
            height = baseline + 6.0;
            baseline
        });
        height += PAD;

        let mut defs = Svg::new();
        for j in 0..m {
            pattern_def(&mut defs, id, j, &series_style(j));
        }

        let mut body = Svg::new();
        legend.draw(&mut body, &names, |svg, j, x, y| {
            let style = series_style(j);
            let fill = fill_value(id, j, &style);
            let (xs, ys) = (num(x), num(y - KEY / 2.0));
            let size = num(KEY);
            svg.leaf(
                "rect",
                &[
                    ("x", &xs),
                    ("y", &ys),
                    ("width", &size),
                    ("height", &size),
                    ("fill", &fill),
                    ("stroke", style.colour),
                    ("stroke-width", "1.5"),
                ],
            );
        });
        if let (Some(title), Some(baseline)) = (&spec.category_title, category_title_y) {
            body.text(
                PAD,
                baseline,
                title,
                &[("fill", INK), ("font-weight", "bold")],
            );
        }
        axis::bottom_value_axis(&mut body, &scale, &plot);
        axis::left_category_axis(&mut body, &band, &labels, label_right, &plot);
        if let (Some(title), Some(baseline)) = (&spec.value_title, value_title_y) {
            body.text(
                (plot.left + plot.right) / 2.0,
                baseline,
                title,
                &[
                    ("text-anchor", "middle"),
                    ("fill", INK),
                    ("font-weight", "bold"),
                ],
            );
        }
        let (low, high) = scale.domain();
        let zero = scale.map(0.0);
        if low < 0.0 && high > 0.0 {
            let (xs, y1, y2) = (num(zero), num(plot.top), num(plot.bottom));
            body.leaf(
                "line",
                &[
                    ("class", "zero"),
                    ("x1", &xs),
                    ("y1", &y1),
                    ("x2", &xs),
                    ("y2", &y2),
                    ("stroke", MUTED),
                ],
            );
        }

        // Bars, then reference lines over them, then value labels (with a
        // white halo) over both.
        let bars_height = m as f64 * BAR + (m as f64 - 1.0) * BAR_GAP;
        let mut value_labels = Svg::new();
        value_labels.open("g", &[("class", "values")]);
        for (j, (name, values)) in series.iter().enumerate() {
            let style = series_style(j);
            let fill = fill_value(id, j, &style);
            let class = format!("series series-{j} fill-{}", style.fill.name());
            body.open("g", &[("class", &class)]);
            for (i, value) in values.iter().enumerate() {
                let bar_top = band.band_start(i)
                    + (band.bandwidth() - bars_height) / 2.0
                    + j as f64 * (BAR + BAR_GAP);
                let text_y = bar_top + BAR / 2.0 + SMALL * 0.35;
                let label = cell(*value, prepared.decimals);
                let Some(v) = value else {
                    let mut attrs = vec![
                        ("class", "value"),
                        ("font-size", SMALL_SIZE),
                        ("fill", MUTED),
                    ];
                    attrs.extend(HALO);
                    value_labels.text(zero + 5.0, text_y, &label, &attrs);
                    continue;
                };
                let end = scale.map(*v);
                let (x, w) = (zero.min(end), (end - zero).abs());
                let (xs, ys, ws, hs) = (num(x), num(bar_top), num(w), num(BAR));
                let tooltip = format!("{name}, {}: {label}", categories[i]);
                body.leaf_titled(
                    "rect",
                    &[
                        ("x", &xs),
                        ("y", &ys),
                        ("width", &ws),
                        ("height", &hs),
                        ("fill", &fill),
                        ("stroke", style.colour),
                        ("stroke-width", "1.5"),
                    ],
                    &tooltip,
                );
                let (text_x, anchor) = if *v < 0.0 {
                    (end - 5.0, "end")
                } else {
                    (end + 5.0, "start")
                };
                let mut attrs = vec![
                    ("class", "value"),
                    ("text-anchor", anchor),
                    ("font-size", SMALL_SIZE),
                    ("fill", INK),
                ];
                attrs.extend(HALO);
                value_labels.text(text_x, text_y, &label, &attrs);
            }
            body.close("g");
        }

        body.open("g", &[("class", "reference")]);
        for (r, baseline) in references.iter().zip(&reference_rows) {
            let x = scale.map(r.value);
            let (xs, y1, y2) = (num(x), num(baseline - SMALL * 0.7), num(plot.bottom));
            body.leaf(
                "line",
                &[
                    ("x1", &xs),
                    ("y1", &y1),
                    ("x2", &xs),
                    ("y2", &y2),
                    ("stroke", "#333333"),
                    ("stroke-width", "1.5"),
                    ("stroke-dasharray", "6 4"),
                ],
            );
            let right_half = x > (plot.left + plot.right) / 2.0;
            let (text_x, anchor, room) = if right_half {
                (x - 5.0, "end", x - 5.0 - PAD)
            } else {
                (x + 5.0, "start", WIDTH - PAD - x - 5.0)
            };
            let label = wrap(&r.label, chars_fitting(room, SMALL), 1);
            let mut attrs = vec![
                ("text-anchor", anchor),
                ("font-size", SMALL_SIZE),
                ("fill", INK),
            ];
            attrs.extend(HALO);
            body.text_lines(text_x, *baseline, &label, &r.label, LINE, &attrs);
        }
        body.close("g");
        value_labels.close("g");
        let body = body.finish() + &value_labels.finish();

        Chart {
            svg: spec.document(height, prepared.decimals, &defs.finish(), &body),
            table: prepared.table,
        }
    }
}

/// The value scale onto `range`, with as many ticks (at most five) as fit
/// without their labels running into each other.
fn value_scale(spec: &Spec, values: &[f64], range: (f64, f64)) -> LinearScale {
    let mut scale = spec.value_scale(values, range, 2);
    for count in (2..=5).rev() {
        let candidate = spec.value_scale(values, range, count);
        let labels = axis::tick_labels(&candidate);
        let widest = labels
            .iter()
            .map(|(_, l)| text_width(l, FONT))
            .fold(0.0, f64::max);
        let spacing = labels
            .windows(2)
            .map(|w| (candidate.map(w[1].0) - candidate.map(w[0].0)).abs())
            .fold(f64::INFINITY, f64::min);
        if widest + 12.0 <= spacing {
            scale = candidate;
            break;
        }
    }
    scale
}
