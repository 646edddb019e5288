//! Line chart over ordered categories (e.g. time points), one line per
//! series, with markers.

use super::axis::{self, CategoryLabels, Legend, Plot};
use super::scale::{BandScale, LinearScale};
use super::style::series_style;
use super::svg::{chars_fitting, num, text_width, wrap, Svg, FONT, INK, LINE, SMALL, SMALL_SIZE};
use super::{cell, spec_builder, Chart, Spec, HALO, PAD, WIDTH};

/// Height of the plot area.
const PLOT_HEIGHT: f64 = 280.0;
/// Width of a legend key: long enough to show a dash pattern.
const KEY_WIDTH: f64 = 44.0;
/// Fewest characters per line a category label should get before labels
/// are thinned out (only every second, third … shown).
const MIN_LABEL_CHARS: usize = 7;
/// Most lines a category label takes.
const LABEL_LINES: usize = 3;
/// Least distance between the markers of one series along the x axis.
const MARKER_SPACING: f64 = 24.0;
/// Markers closer than this, vertically, at one category are spread apart.
const CLOSE: f64 = 9.0;

/// A line chart: categories along the bottom in order, values up the side,
/// one line per series with a marker at each value. A missing value breaks
/// the line.
///
/// ```
/// use fieldkit::charts::LineChart;
/// let chart = LineChart::new("fidelity-by-team", "Fidelity by team", "Mean score per team at each time point.")
///     .categories(["Baseline", "6 months", "12 months"])
///     .series("Team A", [Some(1.2), None, Some(1.7)])
///     .value_domain(0.0, 2.0)
///     .reference_line(1.5, "High fidelity threshold")
///     .render();
/// assert!(chart.svg.starts_with("<svg") && chart.table.rows.len() == 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    spec: Spec,
}

impl LineChart {
    spec_builder!();

    /// Draws the chart. Never panics; with no values at all it says
    /// "No data yet".
    pub fn render(&self) -> Chart {
        let spec = &self.spec;
        let prepared = spec.prepare("Time point");
        if !prepared.has_data {
            return spec.empty(prepared);
        }
        let series = &prepared.series;
        let categories = &spec.categories;
        let n = categories.len();
        let names: Vec<String> = series.iter().map(|(name, _)| name.clone()).collect();
        let values: Vec<f64> = series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .collect();

        // Layout, top to bottom.
        let legend = Legend::new(&names, KEY_WIDTH, PAD, PAD, WIDTH - 2.0 * PAD);
        let mut y = PAD + legend.height + 6.0;
        let value_title_y = spec.value_title.as_ref().map(|_| {
            let baseline = y + FONT * 0.8;
            y += LINE + 4.0;
            baseline
        });
        let top = y + 12.0;
        let bottom = top + PLOT_HEIGHT;
        let scale = spec.value_scale(&values, (bottom, top), 5);
        let left = PAD + axis::left_axis_width(&scale) + 2.0;
        let plot = Plot {
            left,
            top,
            right: WIDTH - PAD,
            bottom,
        };
        let band = BandScale::new(n, (plot.left, plot.right), 0.0);
        let mut every = 1usize;
        while every < n && chars_fitting(band.step() * every as f64 - 8.0, FONT) < MIN_LABEL_CHARS {
            every += 1;
        }
        let labels = CategoryLabels::new(
            categories,
            chars_fitting(band.step() * every as f64 - 8.0, FONT),
            LABEL_LINES,
        );
        let labels_bottom =
            plot.bottom + 10.0 + FONT * 0.8 + (labels.max_lines() - 1) as f64 * LINE;
        let mut height = labels_bottom + 6.0;
        let category_title_y = spec.category_title.as_ref().map(|_| {
            let baseline = height + 6.0 + FONT * 0.8;
            height = baseline + 6.0;
            baseline
        });
        height += PAD;

        let mut body = Svg::new();
        legend.draw(&mut body, &names, |svg, i, x, y| {
            let style = series_style(i);
            let (x1, x2, ys) = (num(x), num(x + KEY_WIDTH), num(y));
            let mut attrs = vec![
                ("x1", x1.as_str()),
                ("y1", ys.as_str()),
                ("x2", x2.as_str()),
                ("y2", ys.as_str()),
                ("stroke", style.colour),
                ("stroke-width", "2.5"),
            ];
            if !style.dash.is_empty() {
                attrs.push(("stroke-dasharray", style.dash));
            }
            svg.leaf("line", &attrs);
            style
                .marker
                .draw(svg, x + KEY_WIDTH / 2.0, y, style.colour, None);
        });
        if let (Some(title), Some(baseline)) = (&spec.value_title, value_title_y) {
            body.text(
                PAD,
                baseline,
                title,
                &[("fill", INK), ("font-weight", "bold")],
            );
        }
        axis::left_value_axis(&mut body, &scale, &plot);
        axis::bottom_category_axis(&mut body, &band, &labels, every, &plot, (PAD, WIDTH - PAD));
        if let (Some(title), Some(baseline)) = (&spec.category_title, category_title_y) {
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

        let points = place_points(series, &band, &scale);
        let marker_stride = ((MARKER_SPACING / band.step()).ceil().min(n as f64) as usize).max(1);
        let references = spec.visible_references(&scale);
        body.open("g", &[("class", "reference")]);
        for r in &references {
            let y = scale.map(r.value);
            let ys = num(y);
            let (x1, x2) = (num(plot.left), num(plot.right));
            body.leaf(
                "line",
                &[
                    ("x1", &x1),
                    ("y1", &ys),
                    ("x2", &x2),
                    ("y2", &ys),
                    ("stroke", "#333333"),
                    ("stroke-width", "1.5"),
                    ("stroke-dasharray", "6 4"),
                ],
            );
            // The label goes where it hides the least data, and under the
            // data, so a marker is never hidden entirely.
            let label = wrap(
                &r.label,
                chars_fitting(plot.right - plot.left - 8.0, SMALL),
                1,
            );
            let width = label.lines.first().map_or(0.0, |l| text_width(l, SMALL));
            let (x, baseline, anchor) = place_reference_label(y, width, &plot, &points);
            let mut attrs = vec![
                ("text-anchor", anchor),
                ("font-size", SMALL_SIZE),
                ("fill", INK),
            ];
            attrs.extend(HALO);
            body.text_lines(x, baseline, &label, &r.label, LINE, &attrs);
        }
        body.close("g");

        for (j, ((name, values), points)) in series.iter().zip(&points).enumerate() {
            let style = series_style(j);
            let class = format!("series series-{j}");
            body.open("g", &[("class", &class)]);
            for run in points.split(Option::is_none) {
                if run.len() < 2 {
                    continue;
                }
                let d: String = run
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(k, (x, y))| {
                        format!("{}{} {}", if k == 0 { 'M' } else { 'L' }, num(*x), num(*y))
                    })
                    .collect();
                let mut attrs = vec![
                    ("d", d.as_str()),
                    ("fill", "none"),
                    ("stroke", style.colour),
                    ("stroke-width", "2.5"),
                    ("stroke-linejoin", "round"),
                ];
                if !style.dash.is_empty() {
                    attrs.push(("stroke-dasharray", style.dash));
                }
                body.leaf("path", &attrs);
            }
            for (i, point) in points.iter().enumerate() {
                // Where points are dense, markers only every few points
                // (and on points with no line to either side), or they
                // would hide the lines and their dashes.
                let isolated = (i == 0 || points[i - 1].is_none())
                    && points.get(i + 1).is_none_or(Option::is_none);
                if i % marker_stride != 0 && !isolated {
                    continue;
                }
                if let Some((x, y)) = point {
                    let tooltip = format!(
                        "{name}, {}: {}",
                        categories[i],
                        cell(values[i], prepared.decimals)
                    );
                    style
                        .marker
                        .draw(&mut body, *x, *y, style.colour, Some(&tooltip));
                }
            }
            body.close("g");
        }

        Chart {
            svg: spec.document(height, prepared.decimals, "", &body.finish()),
            table: prepared.table,
        }
    }
}

/// Where each series' values go: `points[series][category]`. Markers of
/// different series that would sit on top of each other (within
/// [`CLOSE`] units at one category) are spread sideways a little, in
/// series order, so none hides another.
fn place_points(
    series: &[(String, Vec<Option<f64>>)],
    band: &BandScale,
    scale: &LinearScale,
) -> Vec<Vec<Option<(f64, f64)>>> {
    let mut points: Vec<Vec<Option<(f64, f64)>>> = series
        .iter()
        .map(|(_, values)| {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| v.map(|v| (band.center(i), scale.map(v))))
                .collect()
        })
        .collect();
    let n = series.first().map_or(0, |(_, v)| v.len());
    for i in 0..n {
        let mut here: Vec<(f64, usize)> = points
            .iter()
            .enumerate()
            .filter_map(|(j, p)| p[i].map(|(_, y)| (y, j)))
            .collect();
        here.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut start = 0;
        while start < here.len() {
            let mut end = start + 1;
            while end < here.len() && here[end].0 - here[end - 1].0 < CLOSE {
                end += 1;
            }
            let mut cluster: Vec<usize> = here[start..end].iter().map(|(_, j)| *j).collect();
            cluster.sort_unstable();
            let k = cluster.len() as f64;
            let spacing = (band.step() * 0.5 / k).min(9.0);
            for (rank, j) in cluster.into_iter().enumerate() {
                if let Some((x, _)) = points[j][i].as_mut() {
                    *x += (rank as f64 - (k - 1.0) / 2.0) * spacing;
                }
            }
            start = end;
        }
    }
    points
}

/// Where a reference line's label goes (x, baseline, text-anchor): above or
/// below the line at its right or left end, whichever box covers the fewest
/// markers and line samples, the right end above winning ties.
fn place_reference_label(
    y: f64,
    width: f64,
    plot: &Plot,
    points: &[Vec<Option<(f64, f64)>>],
) -> (f64, f64, &'static str) {
    let above = y - 6.0;
    let below = y + SMALL + 4.0;
    let candidates = [
        (plot.right - 4.0, above, "end"),
        (plot.right - 4.0, below, "end"),
        (plot.left + 4.0, above, "start"),
        (plot.left + 4.0, below, "start"),
    ];
    let mut samples: Vec<(f64, f64, usize)> = Vec::new();
    for series in points {
        for p in series.iter().flatten() {
            samples.push((p.0, p.1, 4));
        }
        for pair in series.windows(2) {
            if let [Some(a), Some(b)] = pair {
                for s in 1..12 {
                    let t = f64::from(s) / 12.0;
                    samples.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, 1));
                }
            }
        }
    }
    let mut best = candidates[0];
    let mut best_score = usize::MAX;
    for candidate in candidates {
        let (x, baseline, anchor) = candidate;
        if baseline - SMALL < plot.top - 8.0 || baseline + 4.0 > plot.bottom {
            continue;
        }
        let (x0, x1) = if anchor == "end" {
            (x - width, x)
        } else {
            (x, x + width)
        };
        let (y0, y1) = (baseline - SMALL, baseline + 4.0);
        let score: usize = samples
            .iter()
            .filter(|(sx, sy, _)| {
                *sx >= x0 - 7.0 && *sx <= x1 + 7.0 && *sy >= y0 - 7.0 && *sy <= y1 + 7.0
            })
            .map(|(_, _, w)| w)
            .sum();
        if score < best_score {
            best = candidate;
            best_score = score;
        }
    }
    best
}
