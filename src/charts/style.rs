//! How series are told apart without relying on colour: each series gets a
//! colour, a marker shape, a dash pattern (lines) and a fill pattern (bars),
//! all chosen by its position, so the same series order gives the same look
//! on every chart.

use super::svg::{num, Svg};

/// The Okabe-Ito colour-blind-safe palette, keeping the colours with at
/// least 3:1 contrast against white (WCAG 1.4.11) and darkening its orange
/// (#E69F00, 2.3:1) to #A86F00 (4.3:1); its sky blue and yellow are left out.
pub(crate) const PALETTE: [&str; 6] = [
    "#0072B2", // blue, 5.2:1
    "#D55E00", // vermillion, 3.9:1
    "#009E73", // bluish green, 3.4:1
    "#CC79A7", // reddish purple, 3.1:1
    "#000000", // black, 21:1
    "#A86F00", // dark orange, 4.3:1
];

/// A point marker's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
    TriangleDown,
}

const MARKERS: [Marker; 6] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
    Marker::Cross,
    Marker::TriangleDown,
];

/// `stroke-dasharray` values; the empty one is a solid line.
const DASHES: [&str; 6] = ["", "10 5", "2 4", "12 4 3 4", "5 4", "12 3 3 3 3 3"];

/// A bar's fill: solid colour, or white marks over the colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fill {
    Solid,
    Diagonal,
    Dots,
    Horizontal,
    Grid,
    Vertical,
}

const FILLS: [Fill; 6] = [
    Fill::Solid,
    Fill::Diagonal,
    Fill::Dots,
    Fill::Horizontal,
    Fill::Grid,
    Fill::Vertical,
];

/// Everything that marks one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesStyle {
    pub(crate) colour: &'static str,
    pub(crate) marker: Marker,
    pub(crate) dash: &'static str,
    pub(crate) fill: Fill,
}

/// The style of the series at `index`. The first six differ in every
/// respect; later ones repeat colours but pair them with other shapes,
/// dashes and fills.
pub(crate) fn series_style(index: usize) -> SeriesStyle {
    let n = PALETTE.len();
    let i = index % n;
    let cycle = (index / n) % n;
    SeriesStyle {
        colour: PALETTE[i],
        marker: MARKERS[(i + cycle) % n],
        dash: DASHES[(i + 2 * cycle) % n],
        fill: FILLS[(i + cycle) % n],
    }
}

impl Marker {
    /// A short name, used in the marker's class (`marker-circle` …).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Marker::Circle => "circle",
            Marker::Square => "square",
            Marker::Triangle => "triangle",
            Marker::Diamond => "diamond",
            Marker::Cross => "cross",
            Marker::TriangleDown => "triangle-down",
        }
    }

    /// Draws the marker centred on (`x`, `y`), with a tooltip when given.
    pub(crate) fn draw(self, svg: &mut Svg, x: f64, y: f64, colour: &str, tooltip: Option<&str>) {
        let class = format!("marker marker-{}", self.name());
        let p = |dx: f64, dy: f64| format!("{} {}", num(x + dx), num(y + dy));
        let (name, shape): (&str, Vec<(&str, String)>) = match self {
            Marker::Circle => (
                "circle",
                vec![("cx", num(x)), ("cy", num(y)), ("r", "5.5".into())],
            ),
            Marker::Square => (
                "rect",
                vec![
                    ("x", num(x - 5.0)),
                    ("y", num(y - 5.0)),
                    ("width", "10".into()),
                    ("height", "10".into()),
                ],
            ),
            Marker::Triangle => (
                "path",
                vec![(
                    "d",
                    format!("M{}L{}L{}Z", p(0.0, -7.0), p(6.5, 4.5), p(-6.5, 4.5)),
                )],
            ),
            Marker::TriangleDown => (
                "path",
                vec![(
                    "d",
                    format!("M{}L{}L{}Z", p(0.0, 7.0), p(6.5, -4.5), p(-6.5, -4.5)),
                )],
            ),
            Marker::Diamond => (
                "path",
                vec![(
                    "d",
                    format!(
                        "M{}L{}L{}L{}Z",
                        p(0.0, -7.0),
                        p(7.0, 0.0),
                        p(0.0, 7.0),
                        p(-7.0, 0.0)
                    ),
                )],
            ),
            Marker::Cross => (
                "path",
                vec![(
                    "d",
                    format!(
                        "M{}L{}M{}L{}",
                        p(-5.0, -5.0),
                        p(5.0, 5.0),
                        p(-5.0, 5.0),
                        p(5.0, -5.0)
                    ),
                )],
            ),
        };
        let mut attrs: Vec<(&str, &str)> = vec![("class", &class)];
        attrs.extend(shape.iter().map(|(k, v)| (*k, v.as_str())));
        if self == Marker::Cross {
            attrs.extend([
                ("fill", "none"),
                ("stroke", colour),
                ("stroke-width", "3"),
                ("stroke-linecap", "round"),
            ]);
        } else {
            attrs.extend([
                ("fill", colour),
                ("stroke", "#ffffff"),
                ("stroke-width", "1"),
            ]);
        }
        match tooltip {
            Some(t) => svg.leaf_titled(name, &attrs, t),
            None => svg.leaf(name, &attrs),
        }
    }
}

impl Fill {
    /// A short name, used in the bar's class (`fill-dots` …).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fill::Solid => "solid",
            Fill::Diagonal => "diagonal",
            Fill::Dots => "dots",
            Fill::Horizontal => "horizontal",
            Fill::Grid => "grid",
            Fill::Vertical => "vertical",
        }
    }
}

/// The id of series `index`'s fill pattern in chart `id`.
fn pattern_id(id: &str, index: usize) -> String {
    format!("{id}-fill-{index}")
}

/// The `fill` attribute value for series `index`'s bars: its colour, or a
/// reference to its pattern in the chart's own `<defs>`.
pub(crate) fn fill_value(id: &str, index: usize, style: &SeriesStyle) -> String {
    match style.fill {
        Fill::Solid => style.colour.to_string(),
        _ => format!("url(#{})", pattern_id(id, index)),
    }
}

/// Writes the `<pattern>` for series `index` (nothing for a solid fill).
pub(crate) fn pattern_def(svg: &mut Svg, id: &str, index: usize, style: &SeriesStyle) {
    let marks: Vec<(&str, Vec<(&str, &str)>)> = match style.fill {
        Fill::Solid => return,
        Fill::Diagonal => vec![(
            "path",
            vec![
                ("d", "M-2 2L2 -2M0 8L8 0M6 10L10 6"),
                ("stroke", "#ffffff"),
                ("stroke-width", "2"),
            ],
        )],
        Fill::Dots => vec![(
            "circle",
            vec![("cx", "4"), ("cy", "4"), ("r", "1.8"), ("fill", "#ffffff")],
        )],
        Fill::Horizontal => vec![(
            "path",
            vec![
                ("d", "M0 4H8"),
                ("stroke", "#ffffff"),
                ("stroke-width", "2"),
            ],
        )],
        Fill::Grid => vec![(
            "path",
            vec![
                ("d", "M0 4H8M4 0V8"),
                ("stroke", "#ffffff"),
                ("stroke-width", "1.5"),
            ],
        )],
        Fill::Vertical => vec![(
            "path",
            vec![
                ("d", "M4 0V8"),
                ("stroke", "#ffffff"),
                ("stroke-width", "2"),
            ],
        )],
    };
    let pid = pattern_id(id, index);
    svg.open(
        "pattern",
        &[
            ("id", &pid),
            ("patternUnits", "userSpaceOnUse"),
            ("width", "8"),
            ("height", "8"),
        ],
    );
    svg.leaf(
        "rect",
        &[("width", "8"), ("height", "8"), ("fill", style.colour)],
    );
    for (name, attrs) in marks {
        svg.leaf(name, &attrs);
    }
    svg.close("pattern");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    #[test]
    fn palette_has_3_to_1_contrast_against_white() {
        for colour in PALETTE {
            let ratio = 1.05 / (luminance(colour) + 0.05);
            assert!(ratio >= 3.0, "{colour}: {ratio:.2}");
        }
    }

    #[test]
    fn first_six_series_differ_in_every_respect() {
        let styles: Vec<SeriesStyle> = (0..6).map(series_style).collect();
        for (i, a) in styles.iter().enumerate() {
            for b in &styles[i + 1..] {
                assert_ne!(a.colour, b.colour);
                assert_ne!(a.marker, b.marker);
                assert_ne!(a.dash, b.dash);
                assert_ne!(a.fill, b.fill);
            }
        }
        // Later series never repeat an earlier combination, up to 36.
        let all: Vec<SeriesStyle> = (0..36).map(series_style).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "series {i} repeats");
        }
        assert_eq!(series_style(usize::MAX).colour, PALETTE[usize::MAX % 6]);
    }
}
