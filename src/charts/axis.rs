//! Axes drawn from scales (axis lines, tick marks, tick labels, grid lines)
//! and the legend.

use super::scale::{BandScale, LinearScale};
use super::svg::{num, text_width, wrap, Svg, Wrapped, FONT, INK, LINE, MUTED};

/// Colour of grid lines: decorative, light.
const GRID: &str = "#d9d9d9";
/// Length of a tick mark.
pub(crate) const TICK: f64 = 6.0;
/// Gap between a tick mark and its label.
pub(crate) const GAP: f64 = 4.0;

/// The plot area, in user units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plot {
    pub(crate) left: f64,
    pub(crate) top: f64,
    pub(crate) right: f64,
    pub(crate) bottom: f64,
}

/// A scale's ticks with their labels, formatted to the step's decimals.
pub(crate) fn tick_labels(scale: &LinearScale) -> Vec<(f64, String)> {
    let decimals = scale.tick_decimals();
    scale
        .ticks()
        .into_iter()
        .map(|t| (t, super::format_value(t, decimals)))
        .collect()
}

/// Width taken by a vertical value axis: its widest label, gap and tick.
pub(crate) fn left_axis_width(scale: &LinearScale) -> f64 {
    let widest = tick_labels(scale)
        .iter()
        .map(|(_, l)| text_width(l, FONT))
        .fold(0.0, f64::max);
    widest + GAP + TICK
}

/// A vertical value axis on the plot's left edge, with horizontal grid
/// lines across the plot at each tick.
pub(crate) fn left_value_axis(svg: &mut Svg, scale: &LinearScale, plot: &Plot) {
    let ticks = tick_labels(scale);
    svg.open(
        "g",
        &[("class", "grid"), ("stroke", GRID), ("stroke-width", "1")],
    );
    for (t, _) in &ticks {
        let y = num(scale.map(*t));
        let (x1, x2) = (num(plot.left), num(plot.right));
        svg.leaf("line", &[("x1", &x1), ("y1", &y), ("x2", &x2), ("y2", &y)]);
    }
    svg.close("g");
    svg.open("g", &[("class", "axis axis-value")]);
    let (x, top, bottom) = (num(plot.left), num(plot.top), num(plot.bottom));
    svg.leaf(
        "line",
        &[
            ("x1", &x),
            ("y1", &top),
            ("x2", &x),
            ("y2", &bottom),
            ("stroke", MUTED),
        ],
    );
    for (t, label) in &ticks {
        let y = scale.map(*t);
        let (ys, x0) = (num(y), num(plot.left - TICK));
        svg.leaf(
            "line",
            &[
                ("x1", &x0),
                ("y1", &ys),
                ("x2", &x),
                ("y2", &ys),
                ("stroke", MUTED),
            ],
        );
        svg.text(
            plot.left - TICK - GAP,
            y + FONT * 0.35,
            label,
            &[("text-anchor", "end"), ("fill", INK)],
        );
    }
    svg.close("g");
}

/// A horizontal value axis along the plot's bottom edge, with vertical
/// grid lines at each tick.
pub(crate) fn bottom_value_axis(svg: &mut Svg, scale: &LinearScale, plot: &Plot) {
    let ticks = tick_labels(scale);
    svg.open(
        "g",
        &[("class", "grid"), ("stroke", GRID), ("stroke-width", "1")],
    );
    for (t, _) in &ticks {
        let x = num(scale.map(*t));
        let (y1, y2) = (num(plot.top), num(plot.bottom));
        svg.leaf("line", &[("x1", &x), ("y1", &y1), ("x2", &x), ("y2", &y2)]);
    }
    svg.close("g");
    svg.open("g", &[("class", "axis axis-value")]);
    let (left, right, y) = (num(plot.left), num(plot.right), num(plot.bottom));
    svg.leaf(
        "line",
        &[
            ("x1", &left),
            ("y1", &y),
            ("x2", &right),
            ("y2", &y),
            ("stroke", MUTED),
        ],
    );
    let baseline = plot.bottom + TICK + GAP + FONT * 0.8;
    for (t, label) in &ticks {
        let x = scale.map(*t);
        let (xs, y2) = (num(x), num(plot.bottom + TICK));
        svg.leaf(
            "line",
            &[
                ("x1", &xs),
                ("y1", &y),
                ("x2", &xs),
                ("y2", &y2),
                ("stroke", MUTED),
            ],
        );
        svg.text(
            x,
            baseline,
            label,
            &[("text-anchor", "middle"), ("fill", INK)],
        );
    }
    svg.close("g");
}

/// Category labels, wrapped to fit, with the full text of each.
pub(crate) struct CategoryLabels<'a> {
    pub(crate) full: &'a [String],
    pub(crate) wrapped: Vec<Wrapped>,
}

impl<'a> CategoryLabels<'a> {
    /// Wraps every label to `max_chars` per line and `max_lines` lines.
    pub(crate) fn new(full: &'a [String], max_chars: usize, max_lines: usize) -> Self {
        let wrapped = full.iter().map(|c| wrap(c, max_chars, max_lines)).collect();
        CategoryLabels { full, wrapped }
    }

    /// The most lines any label takes (at least 1).
    pub(crate) fn max_lines(&self) -> usize {
        self.wrapped
            .iter()
            .map(|w| w.lines.len())
            .max()
            .unwrap_or(1)
            .max(1)
    }
}

/// A horizontal category axis along the plot's bottom edge: a tick mark at
/// each category's centre and, for every `every`-th category, its label
/// centred below (moved inwards where it would cross `bounds`, and left
/// out if that puts it on the label before).
pub(crate) fn bottom_category_axis(
    svg: &mut Svg,
    band: &BandScale,
    labels: &CategoryLabels,
    every: usize,
    plot: &Plot,
    bounds: (f64, f64),
) {
    svg.open("g", &[("class", "axis axis-category")]);
    let (left, right, y) = (num(plot.left), num(plot.right), num(plot.bottom));
    svg.leaf(
        "line",
        &[
            ("x1", &left),
            ("y1", &y),
            ("x2", &right),
            ("y2", &y),
            ("stroke", MUTED),
        ],
    );
    let every = every.max(1);
    let mut shown_right = f64::NEG_INFINITY;
    for (i, (label, full)) in labels.wrapped.iter().zip(labels.full).enumerate() {
        let x = band.center(i);
        let (xs, y2) = (num(x), num(plot.bottom + TICK));
        svg.leaf(
            "line",
            &[
                ("x1", &xs),
                ("y1", &y),
                ("x2", &xs),
                ("y2", &y2),
                ("stroke", MUTED),
            ],
        );
        if i % every == 0 {
            let baseline = plot.bottom + TICK + GAP + FONT * 0.8;
            let half = label
                .lines
                .iter()
                .map(|l| text_width(l, FONT) / 2.0)
                .fold(0.0, f64::max);
            let (low, high) = (bounds.0 + half, bounds.1 - half);
            let x = if low <= high { x.clamp(low, high) } else { x };
            if x - half < shown_right + GAP {
                // Moved inwards onto the label before it: leave it out.
                continue;
            }
            shown_right = x + half;
            svg.text_lines(
                x,
                baseline,
                label,
                full,
                LINE,
                &[("text-anchor", "middle"), ("fill", INK)],
            );
        }
    }
    svg.close("g");
}

/// A vertical category axis on the plot's left edge: a tick mark at each
/// category's centre and its label, vertically centred and right-aligned
/// at `label_right` (at most the tick's start, less a gap).
pub(crate) fn left_category_axis(
    svg: &mut Svg,
    band: &BandScale,
    labels: &CategoryLabels,
    label_right: f64,
    plot: &Plot,
) {
    svg.open("g", &[("class", "axis axis-category")]);
    let (x, top, bottom) = (num(plot.left), num(plot.top), num(plot.bottom));
    svg.leaf(
        "line",
        &[
            ("x1", &x),
            ("y1", &top),
            ("x2", &x),
            ("y2", &bottom),
            ("stroke", MUTED),
        ],
    );
    for (i, (label, full)) in labels.wrapped.iter().zip(labels.full).enumerate() {
        let y = band.center(i);
        let (ys, x0) = (num(y), num(plot.left - TICK));
        svg.leaf(
            "line",
            &[
                ("x1", &x0),
                ("y1", &ys),
                ("x2", &x),
                ("y2", &ys),
                ("stroke", MUTED),
            ],
        );
        let lines = label.lines.len().max(1) as f64;
        let first = y - (lines - 1.0) * LINE / 2.0 + FONT * 0.35;
        svg.text_lines(
            label_right.min(plot.left - TICK - GAP),
            first,
            label,
            full,
            LINE,
            &[("text-anchor", "end"), ("fill", INK)],
        );
    }
    svg.close("g");
}

/// Height of one legend row.
const LEGEND_ROW: f64 = 26.0;
/// Longest series name shown in full in the legend.
const LEGEND_CHARS: usize = 40;

/// Where each legend entry goes, flowing left to right in rows.
pub(crate) struct Legend {
    entries: Vec<(f64, f64, Wrapped)>,
    key_width: f64,
    /// Total height of the legend (0 when it has no entries).
    pub(crate) height: f64,
}

impl Legend {
    /// Lays out one entry per name, each a key `key_width` wide and the
    /// name, within `left..left + width`, from `top` down.
    pub(crate) fn new(names: &[String], key_width: f64, left: f64, top: f64, width: f64) -> Self {
        let mut entries = Vec::with_capacity(names.len());
        let (mut x, mut row) = (left, 0usize);
        for name in names {
            let label = wrap(name, LEGEND_CHARS, 1);
            let text = label.lines.first().map_or("", String::as_str);
            let w = key_width + 8.0 + text_width(text, FONT);
            if x > left && x + w > left + width {
                x = left;
                row += 1;
            }
            let y = top + row as f64 * LEGEND_ROW + LEGEND_ROW / 2.0;
            entries.push((x, y, label));
            x += w + 22.0;
        }
        let height = if names.is_empty() {
            0.0
        } else {
            (row + 1) as f64 * LEGEND_ROW
        };
        Legend {
            entries,
            key_width,
            height,
        }
    }

    /// Draws the legend; `key` draws entry `i`'s key in the box whose left
    /// edge is at `x` and whose vertical centre is at `y`.
    pub(crate) fn draw(
        &self,
        svg: &mut Svg,
        names: &[String],
        mut key: impl FnMut(&mut Svg, usize, f64, f64),
    ) {
        svg.open("g", &[("class", "legend")]);
        for (i, ((x, y, label), full)) in self.entries.iter().zip(names).enumerate() {
            key(svg, i, *x, *y);
            svg.text_lines(
                x + self.key_width + 8.0,
                y + FONT * 0.35,
                label,
                full,
                LINE,
                &[("fill", INK)],
            );
        }
        svg.close("g");
    }
}
