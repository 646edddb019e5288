//! Writing the SVG text: escaping, ids, numbers, a rough measure of text
//! width, word wrapping, and a small element writer that only ever emits
//! escaped attribute values and escaped text.

/// Font size, in user units, of most text (tick and category labels,
/// legend, axis titles).
pub(crate) const FONT: f64 = 16.0;
/// Font size of value labels and reference line labels.
pub(crate) const SMALL: f64 = 15.0;
/// [`SMALL`] as an attribute value.
pub(crate) const SMALL_SIZE: &str = "15";
/// Distance between the baselines of wrapped lines at [`FONT`].
pub(crate) const LINE: f64 = 19.0;
/// Average advance of one character, as a share of the font size, for a
/// sans-serif face. Generous, so estimates err towards more room.
const CHAR_EM: f64 = 0.58;
/// Colour of ordinary text: near-black, 17:1 against white.
pub(crate) const INK: &str = "#1a1a1a";
/// Colour of secondary text and axis lines: 7:1 against white.
pub(crate) const MUTED: &str = "#555555";

/// Escapes text for XML content and attribute values (`& < > " '`), turns
/// tabs and line breaks into spaces and drops the characters XML 1.0 forbids.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Keeps `[A-Za-z0-9_-]` of a caller's id prefix, turning anything else into
/// `-`; an empty result becomes `chart`.
pub(crate) fn sanitize_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() {
        "chart".to_string()
    } else {
        clean
    }
}

/// A coordinate or length: two decimals, trailing zeros trimmed, never
/// `-0`, `NaN` or `inf` (those become `0`).
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_string();
    }
    let mut s = format!("{v:.2}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// Formats a value the way the charts label it and the data tables show it:
/// a fixed number of decimals (at most 6), thousands grouped with commas,
/// scientific notation from 10^15 up, and the words "No data" for a value
/// that is not finite.
pub fn format_value(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return super::MISSING.to_string();
    }
    let decimals = decimals.min(6);
    if value.abs() >= 1e15 {
        return format!("{value:.2e}");
    }
    let s = format!("{value:.decimals$}");
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.as_str()),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let negative_zero = sign == "-" && digits.chars().all(|c| c == '0' || c == '.');
    let mut out = String::with_capacity(s.len() + 6);
    if !negative_zero {
        out.push_str(sign);
    }
    let len = int.len();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (len - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Estimated width of `text` at `font_size`, in user units.
pub(crate) fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars().count() as f64 * font_size * CHAR_EM
}

/// How many characters fit in `width` user units at `font_size` (at least 1).
pub(crate) fn chars_fitting(width: f64, font_size: f64) -> usize {
    let n = width / (font_size * CHAR_EM);
    if n.is_finite() && n >= 1.0 {
        n.min(10_000.0) as usize
    } else {
        1
    }
}

/// A label broken into lines, and whether text was cut off to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wrapped {
    /// The lines, in order; empty for an empty label.
    pub(crate) lines: Vec<String>,
    /// True when the lines do not hold the whole text (an ellipsis ends the
    /// last line).
    pub(crate) truncated: bool,
}

/// Breaks `text` into at most `max_lines` lines of at most `max_chars`
/// characters, at spaces where it can and inside over-long words where it
/// must; what does not fit is cut and marked with `…`.
pub(crate) fn wrap(text: &str, max_chars: usize, max_lines: usize) -> Wrapped {
    let max_chars = max_chars.max(1);
    let max_lines = max_lines.max(1);
    // Pieces to lay out: words, split again after hyphens (a piece that
    // follows a hyphen joins its line without a space), and over-long
    // pieces cut to the line length.
    let mut pieces: Vec<(Vec<char>, bool)> = Vec::new();
    for word in text.split_whitespace() {
        let mut joined = false;
        let mut piece: Vec<char> = Vec::new();
        for c in word.chars() {
            piece.push(c);
            if c == '-' && piece.len() > 1 {
                pieces.push((std::mem::take(&mut piece), joined));
                joined = true;
            }
        }
        if !piece.is_empty() {
            pieces.push((piece, joined));
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let mut current: Vec<char> = Vec::new();
    for (piece, joined) in pieces {
        for chunk in piece.chunks(max_chars) {
            let extra = usize::from(!joined && !current.is_empty());
            if current.is_empty() || current.len() + extra + chunk.len() <= max_chars {
                if extra == 1 {
                    current.push(' ');
                }
                current.extend_from_slice(chunk);
            } else {
                lines.push(std::mem::take(&mut current).into_iter().collect());
                current.extend_from_slice(chunk);
            }
        }
        if lines.len() > max_lines {
            break;
        }
    }
    if !current.is_empty() {
        lines.push(current.into_iter().collect());
    }
    let truncated = lines.len() > max_lines;
    if truncated {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let mut chars: Vec<char> = last.chars().collect();
            chars.truncate(max_chars.saturating_sub(1));
            while chars.last() == Some(&' ') {
                chars.pop();
            }
            *last = chars.into_iter().collect::<String>() + "…";
        }
    }
    Wrapped { lines, truncated }
}

/// An SVG document being written. Every attribute value and every piece of
/// text goes through [`escape`]; element and attribute names are always
/// literals of this module.
pub(crate) struct Svg {
    out: String,
}

impl Svg {
    /// An empty document.
    pub(crate) fn new() -> Self {
        Svg { out: String::new() }
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape(value));
            self.out.push('"');
        }
    }

    /// `<name attrs>` followed by a line break.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.tag(name, attrs);
        self.out.push_str(">\n");
    }

    /// `<name attrs/>` followed by a line break.
    pub(crate) fn leaf(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.tag(name, attrs);
        self.out.push_str("/>\n");
    }

    /// `<name attrs><title>tooltip</title></name>`: a shape with a tooltip.
    pub(crate) fn leaf_titled(&mut self, name: &str, attrs: &[(&str, &str)], tooltip: &str) {
        self.tag(name, attrs);
        self.out.push_str("><title>");
        self.out.push_str(&escape(tooltip));
        self.out.push_str("</title></");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `</name>` followed by a line break.
    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// An element holding only escaped text, e.g. `<title id="…">…</title>`.
    pub(crate) fn element_text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.tag(name, attrs);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// One line of text at (`x`, `y`), `y` being the baseline.
    pub(crate) fn text(&mut self, x: f64, y: f64, text: &str, attrs: &[(&str, &str)]) {
        let (xs, ys) = (num(x), num(y));
        let mut all: Vec<(&str, &str)> = vec![("x", &xs), ("y", &ys)];
        all.extend_from_slice(attrs);
        self.element_text("text", &all, text);
    }

    /// A wrapped label: one `<tspan>` per line, `line_height` apart, the
    /// first baseline at `y`; when the label was cut short its full text is
    /// kept in a `<title>` child.
    pub(crate) fn text_lines(
        &mut self,
        x: f64,
        y: f64,
        label: &Wrapped,
        full: &str,
        line_height: f64,
        attrs: &[(&str, &str)],
    ) {
        let (xs, ys) = (num(x), num(y));
        let mut all: Vec<(&str, &str)> = vec![("x", &xs), ("y", &ys)];
        all.extend_from_slice(attrs);
        self.tag("text", &all);
        self.out.push('>');
        if label.truncated {
            self.out.push_str("<title>");
            self.out.push_str(&escape(full));
            self.out.push_str("</title>");
        }
        let dy = num(line_height);
        for (i, line) in label.lines.iter().enumerate() {
            let dy_line = if i == 0 { "0" } else { dy.as_str() };
            self.out.push_str("<tspan x=\"");
            self.out.push_str(&xs);
            self.out.push_str("\" dy=\"");
            self.out.push_str(dy_line);
            self.out.push_str("\">");
            self.out.push_str(&escape(line));
            self.out.push_str("</tspan>");
        }
        self.out.push_str("</text>\n");
    }

    /// The finished document.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_forbidden_characters() {
        assert_eq!(
            escape("<script>&\"'\u{0}\u{7}\nx"),
            "&lt;script&gt;&amp;&quot;&#39; x"
        );
    }

    #[test]
    fn ids_keep_only_safe_characters() {
        assert_eq!(sanitize_id("fid\"elity <1>"), "fid-elity--1-");
        assert_eq!(sanitize_id(""), "chart");
        assert_eq!(sanitize_id("team_A-2"), "team_A-2");
    }

    #[test]
    fn coordinates_are_trimmed_and_finite() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(2.345_678), "2.35");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::INFINITY), "0");
        assert_eq!(num(100.0), "100");
    }

    #[test]
    fn values_have_fixed_decimals_and_grouping() {
        assert_eq!(format_value(1.5, 2), "1.50");
        assert_eq!(format_value(1234567.0, 0), "1,234,567");
        assert_eq!(format_value(-1234.5, 1), "-1,234.5");
        assert_eq!(format_value(-0.001, 2), "0.00");
        assert_eq!(format_value(999.0, 0), "999");
        assert_eq!(format_value(f64::NAN, 2), super::super::MISSING);
        assert_eq!(format_value(f64::MAX, 0), "1.80e308");
        assert_eq!(format_value(3.0, 99), "3.000000");
    }

    #[test]
    fn wraps_at_spaces_and_hyphens_and_cuts_with_an_ellipsis() {
        let w = wrap("Peer worker co-facilitates every session", 12, 2);
        assert_eq!(w.lines, vec!["Peer worker", "co-…"]);
        assert!(w.truncated);
        let w = wrap("Peer worker co-facilitates every session", 14, 4);
        assert_eq!(
            w.lines,
            vec!["Peer worker", "co-facilitates", "every session"]
        );
        assert!(!w.truncated);
        let w = wrap("Baseline", 12, 2);
        assert_eq!(w.lines, vec!["Baseline"]);
        assert!(!w.truncated);
        let w = wrap("Supercalifragilistic", 8, 3);
        assert_eq!(w.lines, vec!["Supercal", "ifragili", "stic"]);
        assert!(wrap("", 5, 2).lines.is_empty());
        assert_eq!(wrap("a b", 0, 0).lines, vec!["…"]);
    }
}
