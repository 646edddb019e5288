//! Tests of whole charts: well-formed, safe, accessible, deterministic, and
//! drawing exactly the numbers their tables hold.

use super::*;

/// One piece of a parsed SVG document.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        empty: bool,
    },
    End(String),
    Text(String),
}

/// Decodes the five entities the charts write; anything else is an error.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity in {text:?}"))?;
        out.push(match &rest[at..at + end + 1] {
            "&amp;" => '&',
            "&lt;" => '<',
            "&gt;" => '>',
            "&quot;" => '"',
            "&#39;" => '\'',
            other => return Err(format!("unknown entity {other}")),
        });
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '_')
}

/// A small XML checker: tags balance, one root element, attributes are
/// quoted, unique and hold no `<`, text holds no raw `<`, `>` or unknown
/// entity, and there are no comments, processing instructions or CDATA.
fn parse(doc: &str) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = doc;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let end = after.find('>').ok_or("unclosed tag")?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            if tag.contains('<') {
                return Err(format!("'<' inside tag {tag:?}"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or(format!("stray </{name}>"))?;
                if open != name {
                    return Err(format!("<{open}> closed by </{name}>"));
                }
                events.push(Event::End(name.to_string()));
                continue;
            }
            let (tag, empty) = match tag.strip_suffix('/') {
                Some(t) => (t, true),
                None => (tag, false),
            };
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let name = &tag[..name_end];
            if !is_name(name) || name.starts_with(['!', '?']) {
                return Err(format!("bad element name {name:?}"));
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            let mut a = tag[name_end..].trim_start();
            while !a.is_empty() {
                let eq = a
                    .find('=')
                    .ok_or(format!("attribute without value in {tag:?}"))?;
                let key = &a[..eq];
                if !is_name(key) {
                    return Err(format!("bad attribute name {key:?}"));
                }
                let value_and_rest = a[eq + 1..]
                    .strip_prefix('"')
                    .ok_or(format!("unquoted attribute {key}"))?;
                let close = value_and_rest.find('"').ok_or("unterminated attribute")?;
                let value = unescape(&value_and_rest[..close])?;
                if attrs.iter().any(|(k, _)| k == key) {
                    return Err(format!("duplicate attribute {key} in {tag:?}"));
                }
                attrs.push((key.to_string(), value));
                let after_value = &value_and_rest[close + 1..];
                if !after_value.is_empty() && !after_value.starts_with(char::is_whitespace) {
                    return Err(format!("no space after attribute {key}"));
                }
                a = after_value.trim_start();
            }
            if stack.is_empty() {
                roots += 1;
            }
            if !empty {
                stack.push(name.to_string());
            }
            events.push(Event::Start {
                name: name.to_string(),
                attrs,
                empty,
            });
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            rest = &rest[end..];
            if text.contains('>') {
                return Err(format!("raw '>' in text {text:?}"));
            }
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            let text = unescape(text)?;
            if !text.trim().is_empty() {
                events.push(Event::Text(text));
            }
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(events)
}

fn parsed(doc: &str) -> Vec<Event> {
    parse(doc).unwrap_or_else(|e| panic!("not well-formed: {e}\n{doc}"))
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn has_class(attrs: &[(String, String)], class: &str) -> bool {
    attr(attrs, "class").is_some_and(|c| c.split(' ').any(|c| c == class))
}

/// The events inside the first element with `class`, nested ones included.
fn inside(events: &[Event], class: &str) -> Vec<Event> {
    let Some(start) = events
        .iter()
        .position(|e| matches!(e, Event::Start { attrs, .. } if has_class(attrs, class)))
    else {
        return Vec::new();
    };
    let mut depth = 0;
    let mut out = Vec::new();
    for e in &events[start + 1..] {
        match e {
            Event::Start { empty: false, .. } => depth += 1,
            Event::End(_) if depth == 0 => break,
            Event::End(_) => depth -= 1,
            _ => {}
        }
        out.push(e.clone());
    }
    out
}

/// The direct text of every element with `class`, in document order.
fn texts_of_class(events: &[Event], class: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if let Event::Start {
            attrs,
            empty: false,
            ..
        } = e
        {
            if has_class(attrs, class) {
                if let Some(Event::Text(t)) = events.get(i + 1) {
                    out.push(t.clone());
                }
            }
        }
    }
    out
}

/// Every `<title>` text inside `events`.
fn titles(events: &[Event]) -> Vec<String> {
    events
        .windows(2)
        .filter_map(|w| match w {
            [Event::Start { name, .. }, Event::Text(t)] if name == "title" => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn count_elements(events: &[Event], element: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Start { name, .. } if name == element))
        .count()
}

/// All of the visible text: `<title>`s and `<desc>` excluded.
fn visible_text(events: &[Event]) -> String {
    let mut out = String::new();
    let mut in_title = false;
    for e in events {
        match e {
            Event::Start { name, .. } if name == "title" || name == "desc" => in_title = true,
            Event::End(name) if name == "title" || name == "desc" => in_title = false,
            Event::Text(t) if !in_title => {
                out.push_str(t);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// Attributes the charts may write: presentation attributes and structure,
/// never `style`, event handlers or links.
const ALLOWED_ATTRIBUTES: [&str; 29] = [
    "xmlns",
    "width",
    "height",
    "viewBox",
    "role",
    "aria-labelledby",
    "id",
    "class",
    "x",
    "y",
    "dy",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "d",
    "fill",
    "stroke",
    "stroke-width",
    "stroke-dasharray",
    "stroke-linejoin",
    "stroke-linecap",
    "paint-order",
    "font-family",
    "font-size",
    "font-weight",
];

const ALLOWED_ELEMENTS: [&str; 12] = [
    "svg", "title", "desc", "defs", "pattern", "g", "line", "path", "rect", "circle", "text",
    "tspan",
];

/// Checks every safety and accessibility rule that holds for any chart.
fn check_chart(chart: &Chart) -> Vec<Event> {
    let svg = &chart.svg;
    assert!(!svg.contains("style"), "style in {svg}");
    assert!(!svg.contains("<script"), "{svg}");
    assert!(!svg.contains("foreignObject"), "{svg}");
    assert!(!svg.contains("href"), "{svg}");
    assert_eq!(svg.matches("http").count(), 1, "only the xmlns: {svg}");
    let events = parsed(svg);
    for e in &events {
        if let Event::Start { name, attrs, .. } = e {
            assert!(ALLOWED_ELEMENTS.contains(&name.as_str()), "element {name}");
            for (key, value) in attrs {
                assert!(
                    ALLOWED_ATTRIBUTES.contains(&key.as_str())
                        || (name == "pattern" && key == "patternUnits")
                        || (name == "text" && key == "text-anchor"),
                    "attribute {key} on {name}"
                );
                if !["id", "class", "aria-labelledby", "xmlns", "font-family"]
                    .contains(&key.as_str())
                {
                    assert!(
                        !value.contains("NaN") && !value.contains("inf"),
                        "{key}={value}"
                    );
                }
                if key == "fill" && value.starts_with("url(") {
                    assert!(value.starts_with("url(#"), "external fill {value}");
                }
                if key == "id" {
                    assert!(value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
                }
            }
        }
    }
    let Some(Event::Start { name, attrs, .. }) = events.first() else {
        panic!("no root");
    };
    assert_eq!(name, "svg");
    assert_eq!(attr(attrs, "role"), Some("img"));
    assert_eq!(attr(attrs, "width"), Some("100%"));
    let view_box = attr(attrs, "viewBox").expect("viewBox");
    let parts: Vec<f64> = view_box.split(' ').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 4);
    assert!(parts[2] > 0.0 && parts[3] > 0.0);
    let labelled_by = attr(attrs, "aria-labelledby").expect("aria-labelledby");
    let ids: Vec<&str> = labelled_by.split(' ').collect();
    assert_eq!(ids.len(), 2);
    // The title and desc come first, with the ids the root names.
    assert!(matches!(&events[1], Event::Start { name, attrs, .. }
        if name == "title" && attr(attrs, "id") == Some(ids[0])));
    if chart.table.caption.is_empty() {
        assert_eq!(events[2], Event::End("title".to_string()));
    } else {
        assert_eq!(events[2], Event::Text(chart.table.caption.clone()));
    }
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Start { name, attrs, .. }
        if name == "desc" && attr(attrs, "id") == Some(ids[1]))));
    // Tables are rectangular.
    for (_, cells) in &chart.table.rows {
        assert_eq!(cells.len() + 1, chart.table.column_headers.len());
    }
    events
}

fn fidelity_line() -> LineChart {
    LineChart::new(
        "fidelity-time",
        "Fidelity by team over time",
        "Mean fidelity score for each team at each time point.",
    )
    .categories(["Baseline", "6 months", "12 months", "18 months"])
    .series("North CMHT", [Some(0.8), Some(1.1), Some(1.4), Some(1.6)])
    .series("South CMHT", [Some(1.0), None, Some(1.5), Some(1.55)])
    .series("Recovery College", [1.2, 1.3, 1.3, 1.8])
    .category_title("Time point")
    .value_title("Mean fidelity score")
    .value_domain(0.0, 2.0)
    .reference_line(1.5, "High fidelity threshold")
}

fn fidelity_bars() -> BarChart {
    BarChart::new(
        "fidelity-items",
        "Fidelity by checklist item",
        "Mean score per checklist item for two teams.",
    )
    .categories([
        "Worker has a clear understanding of connecting people",
        "Peer worker co-facilitates sessions",
        "Risk",
    ])
    .series("North CMHT", [Some(1.5), Some(2.0), Some(0.0)])
    .series("South CMHT", [Some(1.0), None, Some(1.75)])
    .category_title("Checklist item")
    .value_title("Mean score")
    .value_domain(0.0, 2.0)
    .reference_line(1.5, "High fidelity threshold")
}

#[test]
fn output_is_deterministic() {
    let line = fidelity_line();
    assert_eq!(line.render(), line.clone().render());
    assert_eq!(line.render(), fidelity_line().render());
    let bars = fidelity_bars();
    assert_eq!(bars.render(), bars.clone().render());
    assert_eq!(bars.render(), fidelity_bars().render());
}

#[test]
fn example_charts_are_safe_accessible_and_well_formed() {
    let line = fidelity_line().render();
    let events = check_chart(&line);
    let text = visible_text(&events);
    for expected in [
        "North CMHT",
        "Baseline",
        "Mean fidelity score",
        "Time point",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    let bars = fidelity_bars().render();
    let events = check_chart(&bars);
    assert_eq!(
        count_elements(&events, "pattern"),
        1,
        "the second series is hatched"
    );
    let text = visible_text(&events);
    assert!(text.contains("South CMHT") && text.contains("Checklist item"));
}

#[test]
fn hostile_text_is_escaped_everywhere() {
    let evil = "<script>&\"'";
    let escaped = "&lt;script&gt;&amp;&quot;&#39;";
    let line = LineChart::new(evil, evil, evil)
        .categories([evil, "b"])
        .series(evil, [1.0, 2.0])
        .category_title(evil)
        .value_title(evil)
        .reference_line(1.5, evil)
        .render();
    let bars = BarChart::new(evil, evil, evil)
        .categories([evil, "b"])
        .series(evil, [1.0, -2.0])
        .category_title(evil)
        .value_title(evil)
        .reference_line(0.5, evil)
        .render();
    for chart in [line, bars] {
        let events = check_chart(&chart);
        assert!(chart.svg.contains(escaped), "{}", chart.svg);
        assert!(!chart.svg.contains("<script"));
        let title = titles(&events);
        assert_eq!(title[0], evil, "unescaped back to the original");
        // The id prefix was sanitised, not escaped.
        assert!(
            chart.svg.contains("id=\"-script-----title\""),
            "{}",
            chart.svg
        );
        assert_eq!(chart.table.caption, evil);
        assert_eq!(chart.table.rows[0].0, evil);
    }
}

#[test]
fn fixed_domain_gets_nice_ticks_covering_it() {
    let events = parsed(&fidelity_line().render().svg);
    let ticks: Vec<String> = inside(&events, "axis-value")
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ticks, ["0.0", "0.5", "1.0", "1.5", "2.0"]);

    let counts = BarChart::new("c", "Counts", "People recruited.")
        .categories(["A", "B"])
        .series("Site", [12_345.0, 8_000.0])
        .render();
    let events = parsed(&counts.svg);
    let ticks: Vec<f64> = inside(&events, "axis-value")
        .iter()
        .filter_map(|e| match e {
            Event::Text(t) => Some(t.replace(',', "").parse().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(ticks.first(), Some(&0.0));
    assert!(*ticks.last().unwrap() >= 12_345.0, "{ticks:?}");
    assert!(ticks.len() >= 3, "{ticks:?}");
}

#[test]
fn a_missing_value_breaks_the_line_into_two_paths() {
    let chart = LineChart::new("gap", "Gap", "A gap.")
        .categories(["T1", "T2", "T3", "T4", "T5"])
        .series("A", [Some(1.0), Some(2.0), None, Some(3.0), Some(4.0)])
        .series("B", [1.0, 2.0, f64::NAN, 3.0, 4.0])
        .series("C", [1.0, 2.0, 2.5, 3.0, 4.0])
        .render();
    let events = check_chart(&chart);
    for (series, paths) in [("series-0", 2), ("series-1", 2), ("series-2", 1)] {
        let group = inside(&events, series);
        assert_eq!(
            count_elements(&group, "path") - markers_drawn_as_paths(&group),
            paths
        );
    }
    assert_eq!(chart.table.rows[2].1, [MISSING, MISSING, "2.5"]);
}

/// How many of a group's `<path>` elements are markers, not lines.
fn markers_drawn_as_paths(group: &[Event]) -> usize {
    group
        .iter()
        .filter(|e| {
            matches!(e, Event::Start { name, attrs, .. }
            if name == "path" && has_class(attrs, "marker"))
        })
        .count()
}

#[test]
fn series_differ_in_marker_and_dash_as_well_as_colour() {
    let mut chart = LineChart::new("six", "Six", "Six series.").categories(["a", "b"]);
    for i in 0..6 {
        chart = chart.series(format!("S{i}"), [f64::from(i), f64::from(i) + 1.0]);
    }
    let events = check_chart(&chart.render());
    let mut looks = Vec::new();
    for i in 0..6 {
        let group = inside(&events, &format!("series-{i}"));
        let line = group
            .iter()
            .find_map(|e| match e {
                Event::Start { name, attrs, .. }
                    if name == "path" && !has_class(attrs, "marker") =>
                {
                    Some(attrs.clone())
                }
                _ => None,
            })
            .expect("a line");
        let dash = attr(&line, "stroke-dasharray")
            .unwrap_or("solid")
            .to_string();
        let colour = attr(&line, "stroke").unwrap().to_string();
        let marker = group
            .iter()
            .find_map(|e| match e {
                Event::Start { attrs, .. } if has_class(attrs, "marker") => {
                    attr(attrs, "class").map(str::to_string)
                }
                _ => None,
            })
            .expect("a marker");
        looks.push((dash, marker, colour));
    }
    for (i, a) in looks.iter().enumerate() {
        for b in &looks[i + 1..] {
            assert_ne!(a.0, b.0, "dashes");
            assert_ne!(a.1, b.1, "markers");
            assert_ne!(a.2, b.2, "colours");
        }
    }
    // The legend shows the same marker and dash for each series.
    let legend = inside(&events, "legend");
    assert_eq!(
        legend
            .iter()
            .filter(|e| matches!(e, Event::Start { attrs, .. } if has_class(attrs, "marker")))
            .count(),
        6
    );
    for (dash, _, _) in looks.iter().filter(|l| l.0 != "solid") {
        assert!(legend.iter().any(|e| matches!(e, Event::Start { attrs, .. }
            if attr(attrs, "stroke-dasharray") == Some(dash.as_str()))));
    }
}

#[test]
fn bar_series_differ_in_fill_pattern() {
    let mut chart = BarChart::new("fills", "Fills", "Six series.").categories(["a"]);
    for i in 0..6 {
        chart = chart.series(format!("S{i}"), [f64::from(i) + 1.0]);
    }
    let chart = chart.render();
    let events = check_chart(&chart);
    assert_eq!(count_elements(&events, "pattern"), 5);
    let fills: Vec<String> = (0..6)
        .map(|i| {
            inside(&events, &format!("series-{i}"))
                .iter()
                .find_map(|e| match e {
                    Event::Start { name, attrs, .. } if name == "rect" => {
                        attr(attrs, "fill").map(str::to_string)
                    }
                    _ => None,
                })
                .unwrap()
        })
        .collect();
    for (i, a) in fills.iter().enumerate() {
        assert!(!fills[i + 1..].contains(a), "{fills:?}");
    }
    // The legend's keys use the same fills.
    let legend = inside(&events, "legend");
    for fill in &fills {
        assert!(legend.iter().any(|e| matches!(e, Event::Start { attrs, .. }
            if attr(attrs, "fill") == Some(fill.as_str()))));
    }
}

#[test]
fn the_table_holds_exactly_the_values_drawn() {
    // Bars: value labels, series by series, match the table's cells.
    let chart = fidelity_bars().render();
    let events = check_chart(&chart);
    let drawn = texts_of_class(&events, "value");
    let table = &chart.table;
    let mut expected = Vec::new();
    for j in 0..2 {
        for (_, cells) in &table.rows {
            expected.push(cells[j].clone());
        }
    }
    assert_eq!(drawn, expected);
    assert_eq!(
        table.column_headers,
        ["Checklist item", "North CMHT", "South CMHT"]
    );
    assert_eq!(table.rows[0].1, ["1.50", "1.00"]);
    assert_eq!(table.rows[1].1, ["2.00", MISSING]);
    assert_eq!(table.rows[2].1, ["0.00", "1.75"]);
    // Each bar's tooltip names its series, category and the same value.
    let bar_titles = titles(&inside(&events, "series-0"));
    assert_eq!(
        bar_titles[0],
        format!("North CMHT, {}: 1.50", table.rows[0].0)
    );

    // Lines: each marker's tooltip matches the table.
    let chart = fidelity_line().render();
    let events = check_chart(&chart);
    let table = &chart.table;
    for (j, name) in table.column_headers[1..].iter().enumerate() {
        let drawn = titles(&inside(&events, &format!("series-{j}")));
        let expected: Vec<String> = table
            .rows
            .iter()
            .filter(|(_, cells)| cells[j] != MISSING)
            .map(|(category, cells)| format!("{name}, {category}: {}", cells[j]))
            .collect();
        assert_eq!(drawn, expected);
    }
    assert_eq!(table.rows[1].1, ["1.10", MISSING, "1.30"]);
}

#[test]
fn decimals_can_be_set_and_default_to_what_the_data_needs() {
    let counts = BarChart::new("n", "Counts", "Counts.")
        .categories(["a", "b"])
        .series("n", [3.0, 1_234_567.0])
        .render();
    assert_eq!(counts.table.rows[1].1, ["1,234,567"]);
    assert_eq!(
        texts_of_class(&parsed(&counts.svg), "value"),
        ["3", "1,234,567"]
    );
    let one = BarChart::new("n", "Counts", "Counts.")
        .categories(["a"])
        .series("n", [2.0 / 3.0])
        .decimals(1)
        .render();
    assert_eq!(one.table.rows[0].1, ["0.7"]);
    assert_eq!(texts_of_class(&parsed(&one.svg), "value"), ["0.7"]);
    assert_eq!(format_value(2.0 / 3.0, 1), "0.7");
}

#[test]
fn reference_lines_are_dashed_labelled_and_described() {
    for chart in [fidelity_line().render(), fidelity_bars().render()] {
        let events = check_chart(&chart);
        let reference = inside(&events, "reference");
        assert!(reference
            .iter()
            .any(|e| matches!(e, Event::Start { name, attrs, .. }
            if name == "line" && attr(attrs, "stroke-dasharray").is_some())));
        assert!(visible_text(&reference).contains("High fidelity threshold"));
        let desc = events
            .windows(2)
            .find_map(|w| match w {
                [Event::Start { name, .. }, Event::Text(t)] if name == "desc" => Some(t.clone()),
                _ => None,
            })
            .unwrap();
        assert!(
            desc.ends_with("Reference line: High fidelity threshold at 1.50."),
            "{desc}"
        );
    }
    // Outside a fixed domain: described, not drawn.
    let chart = fidelity_line()
        .reference_line(5.0, "Off the scale")
        .render();
    let events = check_chart(&chart);
    assert!(!visible_text(&events).contains("Off the scale"));
    assert!(chart.svg.contains("Reference line: Off the scale at 5.00."));
}

#[test]
fn empty_inputs_say_no_data_yet() {
    let charts = [
        LineChart::new("e", "Empty", "Nothing yet.").render(),
        LineChart::new("e", "Empty", "Nothing yet.")
            .categories(["a", "b"])
            .render(),
        LineChart::new("e", "Empty", "Nothing yet.")
            .series("A", [1.0, 2.0])
            .render(),
        LineChart::new("e", "Empty", "Nothing yet.")
            .categories(["a", "b"])
            .series("A", [f64::NAN, f64::INFINITY])
            .series("B", [None, None])
            .render(),
        BarChart::new("e", "Empty", "Nothing yet.").render(),
        BarChart::new("e", "Empty", "Nothing yet.")
            .categories(["a"])
            .series("A", [None])
            .render(),
    ];
    for chart in &charts {
        let events = check_chart(chart);
        assert_eq!(visible_text(&events).trim(), NO_DATA_YET);
    }
    assert!(charts[0].table.rows.is_empty());
    assert_eq!(charts[0].table.column_headers, ["Time point"]);
    assert_eq!(charts[3].table.rows[0].1, [MISSING, MISSING]);
    assert_eq!(charts[5].table.column_headers, ["Category", "A"]);
}

#[test]
fn a_single_point_is_a_marker_and_a_single_bar_is_a_bar() {
    let line = LineChart::new("one", "One", "One point.")
        .categories(["Baseline"])
        .series("A", [1.5])
        .render();
    let events = check_chart(&line);
    let group = inside(&events, "series-0");
    assert_eq!(count_elements(&group, "circle"), 1);
    assert_eq!(count_elements(&group, "path"), 0);
    assert_eq!(
        line.table.rows,
        [("Baseline".to_string(), vec!["1.5".to_string()])]
    );

    let bars = BarChart::new("one", "One", "One bar.")
        .categories(["Team"])
        .series("A", [7.0])
        .render();
    let events = check_chart(&bars);
    assert_eq!(count_elements(&inside(&events, "series-0"), "rect"), 1);
    assert_eq!(texts_of_class(&events, "value"), ["7"]);
}

#[test]
fn odd_inputs_never_panic_and_stay_well_formed() {
    let long =
        "An extraordinarily long category label that cannot possibly fit on one line or three "
            .repeat(3);
    let many: Vec<String> = (0..120).map(|i| format!("Week {i}")).collect();
    let lines = [
        LineChart::new("", "", "")
            .categories(["a", "b"])
            .series("", [2.0, 2.0]),
        LineChart::new("x", "All equal", "")
            .categories(["a", "b", "c"])
            .series("A", [5.0, 5.0, 5.0])
            .series("B", [5.0, 5.0, 5.0]),
        LineChart::new("x", "Negative", "")
            .categories(["a", "b"])
            .series("A", [-3.5, -0.25]),
        LineChart::new("x", "Huge", "")
            .categories(["a", "b", "c"])
            .series("A", [f64::MAX, -f64::MAX, 1e300]),
        LineChart::new("x", "Bad domain", "")
            .categories(["a", "b"])
            .series("A", [1.0, 2.0])
            .value_domain(f64::NAN, 3.0)
            .reference_line(f64::NAN, "nan")
            .reference_line(f64::INFINITY, "inf"),
        LineChart::new("x", "Reversed domain", "")
            .categories(["a", "b"])
            .series("A", [1.0, 2.0])
            .value_domain(2.0, 0.0),
        LineChart::new("x", "Many", "")
            .categories(many.iter())
            .series("A", (0..120).map(f64::from)),
        LineChart::new("x", "Long", "")
            .categories([long.as_str(), "b"])
            .series(long.as_str(), [1.0, 2.0])
            .reference_line(1.5, long.as_str())
            .decimals(usize::MAX),
        LineChart::new("x", "Ragged", "")
            .categories(["a", "b", "c"])
            .series("Short", [1.0])
            .series("Long", [1.0, 2.0, 3.0, 4.0, 5.0]),
    ];
    for chart in &lines {
        check_chart(&chart.render());
    }
    let mut forty = LineChart::new("x", "Forty series", "").categories(["a", "b"]);
    for i in 0..40 {
        forty = forty.series(format!("Series {i}"), [f64::from(i), 1.0]);
    }
    check_chart(&forty.render());

    let bars = [
        BarChart::new("x", "All zero", "")
            .categories(["a"])
            .series("A", [0.0]),
        BarChart::new("x", "Negative", "")
            .categories(["a", "b"])
            .series("A", [-3.0, -1_000_000.0]),
        BarChart::new("x", "Huge", "")
            .categories(["a", "b"])
            .series("A", [f64::MAX, -f64::MAX]),
        BarChart::new("x", "Outside the domain", "")
            .categories(["a", "b"])
            .series("A", [5.0, -5.0])
            .value_domain(0.0, 2.0),
        BarChart::new("x", "Many", "")
            .categories(many.iter())
            .series("A", (0..120).map(f64::from)),
        BarChart::new("x", "Long", "")
            .categories([long.as_str()])
            .series(long.as_str(), [1.0])
            .reference_line(0.5, long.as_str()),
        BarChart::new("x", "Tiny", "")
            .categories(["a", "b"])
            .series("A", [1e-12, 2e-12]),
    ];
    for chart in &bars {
        let chart = chart.render();
        let events = check_chart(&chart);
        // Every value drawn is in the table.
        let cells: Vec<&String> = chart.table.rows.iter().flat_map(|(_, c)| c).collect();
        for drawn in texts_of_class(&events, "value") {
            assert!(cells.contains(&&drawn), "{drawn}");
        }
    }
    // A cut label keeps its full text in a <title>.
    let chart = bars[5].render();
    let events = check_chart(&chart);
    assert!(titles(&inside(&events, "axis-category")).contains(&long));
    assert!(visible_text(&events).contains('…'));
}

#[test]
fn the_chart_and_table_serialise() {
    fn serialisable<T: Serialize>(_: &T) {}
    let chart = fidelity_bars().render();
    serialisable(&chart);
    serialisable(&chart.table);
}

#[test]
fn dense_lines_thin_their_markers_but_keep_isolated_points() {
    let weeks: Vec<String> = (1..=60).map(|i| format!("Week {i}")).collect();
    let values: Vec<Option<f64>> = (0..60)
        .map(|i| match i {
            30 | 32 => None,
            _ => Some(f64::from(i)),
        })
        .collect();
    let chart = LineChart::new("dense", "Dense", "Sixty weeks.")
        .categories(weeks.iter())
        .series("Reach", values)
        .render();
    let events = check_chart(&chart);
    let group = inside(&events, "series-0");
    let markers = titles(&group);
    assert!(markers.len() < 30, "{} markers", markers.len());
    assert!(
        markers.contains(&"Reach, Week 32: 31".to_string()),
        "isolated point kept"
    );
    assert_eq!(count_elements(&group, "path"), 2);
    // Labels are thinned too, and none is cut.
    let labels = visible_text(&inside(&events, "axis-category"));
    assert!(
        labels.contains("Week 1\n") && !labels.contains("Week 2\n"),
        "{labels}"
    );
    assert!(!labels.contains('…'));
}
