//! An instrument definition: a fidelity checklist or questionnaire as data.
//! One TOML file per version under `instruments/` (or a deployment's own
//! folder), or the same structure converted from an XLSForm or a REDCap
//! data dictionary. Every problem in a file is collected with its line
//! before the file is refused; nothing here runs code from a file.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Who or what an instrument is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Subject {
    Participant,
    Team,
    Site,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Participant => "participant",
            Subject::Team => "team",
            Subject::Site => "site",
        }
    }

    pub fn parse(s: &str) -> Option<Subject> {
        [Subject::Participant, Subject::Team, Subject::Site]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The part a rater plays when completing an instrument. Connecting People
/// fidelity is rated by practitioners about themselves, by the people they
/// support and by researchers who observe.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, poem_openapi::Enum,
)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum RaterRole {
    Practitioner,
    TeamManager,
    ServiceUser,
    Researcher,
    Participant,
    PeerTrainer,
}

impl RaterRole {
    pub const ALL: [RaterRole; 6] = [
        RaterRole::Practitioner,
        RaterRole::TeamManager,
        RaterRole::ServiceUser,
        RaterRole::Researcher,
        RaterRole::Participant,
        RaterRole::PeerTrainer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RaterRole::Practitioner => "practitioner",
            RaterRole::TeamManager => "team_manager",
            RaterRole::ServiceUser => "service_user",
            RaterRole::Researcher => "researcher",
            RaterRole::Participant => "participant",
            RaterRole::PeerTrainer => "peer_trainer",
        }
    }

    /// In words, for pages: "practitioner (self-report)".
    pub fn label(self) -> &'static str {
        match self {
            RaterRole::Practitioner => "Practitioner",
            RaterRole::TeamManager => "Team manager",
            RaterRole::ServiceUser => "Service user",
            RaterRole::Researcher => "Researcher",
            RaterRole::Participant => "Participant",
            RaterRole::PeerTrainer => "Peer trainer",
        }
    }

    pub fn parse(s: &str) -> Option<RaterRole> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimePoint {
    pub key: String,
    pub label: String,
}

/// A named answer option: the stored value and what the rater reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub value: i64,
    pub label: String,
}

/// A rating scale shared by items, e.g. 0 "Not at all" to 2 "Fully".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub key: String,
    pub anchors: Vec<Anchor>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// One anchor of a named scale.
    Scale,
    /// Yes (1) or no (0).
    YesNo,
    /// A number, within `min`..=`max` when given; whole when `integer`.
    Number,
    SingleChoice,
    MultipleChoice,
    Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub key: String,
    pub text: String,
    #[serde(rename = "type")]
    pub kind: ItemKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The scale's key, for `type = "scale"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<String>,
    /// The options, for single and multiple choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Anchor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub integer: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Scored as `min + max - value`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reverse: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub key: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Sum,
    Mean,
    /// Percent of the possible range: 100 (sum - lowest) / (highest - lowest).
    ProportionOfMaximum,
}

/// A band of a score: values from `from` (inclusive) up to the next band.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub from: f64,
    pub label: String,
}

/// A score the engine computes from items. Never code: a method over named
/// items, with the missing-item policy, an optional conversion table, bands
/// and the minimal important change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRule {
    pub key: String,
    pub label: String,
    /// Item keys; with `sections`, every item of those sections too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<String>,
    pub method: Method,
    /// Prorated when at most this many items are unanswered; with more,
    /// there is no score. A blank is never counted as 0. Prorating places
    /// the answered items' sum at the same point of the whole range as it
    /// sits in the answered items' range (for items of one range: the mean
    /// of those answered times the number of items).
    #[serde(default)]
    pub max_missing: u32,
    /// A conversion table's key: the (rounded) raw sum is looked up in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_important_change: Option<f64>,
}

/// Raw score to metric score, one row for every possible raw score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    pub key: String,
    pub table: Vec<[f64; 2]>,
}

/// One version of an instrument.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub id: String,
    pub version: u32,
    pub title: String,
    /// The licence and attribution notice, shown wherever the instrument is.
    pub licence: String,
    /// Set for a draft (e.g. "Drafted from the model's public components;
    /// replace with the study team's validated version"): shown wherever
    /// the instrument is, beside the licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<String>,
    pub subject: Subject,
    pub rater_roles: Vec<RaterRole>,
    pub time_points: Vec<TimePoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<Scale>,
    pub sections: Vec<Section>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<ScoreRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversions: Vec<Conversion>,
}

/// Something wrong with a definition, where it is and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file as the team knows it, e.g. instruments/cp-fidelity.v1.toml.
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// A step into a TOML document, to find the line a problem is on.
#[derive(Clone, Debug)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

/// The inclusive range an item's scored value can take, after reversing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Item {
    /// A text item with nothing else set: what an importer starts from
    /// before it reads the item's type.
    pub fn new(key: String, text: &str, hint: &str, required: bool) -> Item {
        Item {
            key,
            text: text.to_owned(),
            kind: ItemKind::Text,
            hint: (!hint.is_empty()).then(|| hint.to_owned()),
            scale: None,
            choices: Vec::new(),
            min: None,
            max: None,
            integer: false,
            required,
            reverse: false,
        }
    }

    /// The lowest and highest value the item can be scored, if it is scorable.
    pub fn scored_range(&self, scales: &[Scale]) -> Option<Range> {
        let anchors = |a: &[Anchor]| {
            let lo = a.iter().map(|x| x.value).min()?;
            let hi = a.iter().map(|x| x.value).max()?;
            Some(Range {
                lo: lo as f64,
                hi: hi as f64,
            })
        };
        match self.kind {
            ItemKind::Scale => {
                let key = self.scale.as_deref()?;
                anchors(&scales.iter().find(|s| s.key == key)?.anchors)
            }
            ItemKind::YesNo => Some(Range { lo: 0.0, hi: 1.0 }),
            ItemKind::Number => Some(Range {
                lo: self.min?,
                hi: self.max?,
            }),
            ItemKind::SingleChoice => anchors(&self.choices),
            ItemKind::MultipleChoice | ItemKind::Text => None,
        }
    }

    /// The answer options, for a scale or a choice item.
    pub fn options<'a>(&'a self, scales: &'a [Scale]) -> &'a [Anchor] {
        match self.kind {
            ItemKind::Scale => self
                .scale
                .as_deref()
                .and_then(|k| scales.iter().find(|s| s.key == k))
                .map_or(&[], |s| s.anchors.as_slice()),
            ItemKind::SingleChoice | ItemKind::MultipleChoice => &self.choices,
            _ => &[],
        }
    }
}

impl Definition {
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    pub fn item(&self, key: &str) -> Option<&Item> {
        self.items().find(|i| i.key == key)
    }

    pub fn time_point(&self, key: &str) -> Option<&TimePoint> {
        self.time_points.iter().find(|t| t.key == key)
    }

    /// The items a score rule covers, in the definition's order, once each.
    pub fn rule_items<'a>(&'a self, rule: &ScoreRule) -> Vec<&'a Item> {
        self.sections
            .iter()
            .flat_map(|s| {
                let whole = rule.sections.contains(&s.key);
                s.items
                    .iter()
                    .filter(move |i| whole || rule.items.contains(&i.key))
            })
            .collect()
    }

    /// The definition as the TOML text a team would keep in `instruments/`.
    pub fn to_toml(&self) -> String {
        // Serialising plain structs, strings, numbers and arrays cannot fail.
        toml::to_string(self).unwrap_or_default()
    }
}

/// `^[a-z][a-z0-9_]{0,62}$`: item, section, scale, score and time point keys.
pub fn is_key(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `^[a-z][a-z0-9-]{1,62}$`, not ending in a hyphen: instrument ids.
pub fn is_instrument_id(s: &str) -> bool {
    (2..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Reads and checks a definition from TOML text. `file` names it in
/// problems; `expected` is the id and version its file name promises.
pub fn parse(
    file: &str,
    text: &str,
    expected: Option<(&str, u32)>,
) -> Result<Definition, Vec<Problem>> {
    let at = |line: Option<usize>, message: String| Problem {
        file: file.to_owned(),
        line,
        message,
    };
    let definition: Definition = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_owned();
            return Err(vec![at(line, message)]);
        }
    };
    let mut problems: Vec<Problem> = check(&definition)
        .into_iter()
        .map(|(path, message)| at(locate(text, &path), message))
        .collect();
    if let Some((id, version)) = expected {
        if definition.id != id || definition.version != version {
            problems.push(at(
                locate(text, &[Seg::Key("id")]),
                format!(
                    "the file is named for {id} version {version} but holds {} version {}",
                    definition.id, definition.version
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(definition)
    } else {
        Err(problems)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// The line where a path into the document starts, as near as it can be
/// found: the deepest step that exists.
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut table = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    for seg in path {
        let value = match seg {
            Seg::Key(k) => table.and_then(|t| {
                t.iter()
                    .find(|(key, _)| key.get_ref().as_ref() == *k)
                    .map(|(_, v)| v)
            }),
            Seg::Index(i) => array.and_then(|a| a.get(*i)),
        };
        let Some(value) = value else { break };
        span = value.span();
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a.as_ref())),
            _ => (None, None),
        };
    }
    Some(line_of(text, span.start))
}

type Found = Vec<(Vec<Seg>, String)>;

/// Every rule a definition must meet, each failure with where it is.
fn check(d: &Definition) -> Found {
    let mut found: Found = Vec::new();
    let mut say = |path: Vec<Seg>, message: String| found.push((path, message));
    if !is_instrument_id(&d.id) {
        say(
            vec![Seg::Key("id")],
            "id: use 2 to 63 lowercase letters, digits and hyphens, starting with a letter".into(),
        );
    }
    if d.version == 0 {
        say(vec![Seg::Key("version")], "version: start at 1".into());
    }
    for (field, value) in [("title", &d.title), ("licence", &d.licence)] {
        if value.trim().is_empty() {
            let key = if field == "title" { "title" } else { "licence" };
            say(vec![Seg::Key(key)], format!("{field}: must not be empty"));
        }
    }
    if d.rater_roles.is_empty() {
        say(
            vec![Seg::Key("rater_roles")],
            "rater_roles: name at least one role allowed to rate".into(),
        );
    }
    if d.time_points.is_empty() {
        say(
            vec![Seg::Key("time_points")],
            "time_points: name at least one, e.g. { key = \"baseline\", label = \"Baseline\" }"
                .into(),
        );
    }
    let mut keys = BTreeSet::new();
    for (i, t) in d.time_points.iter().enumerate() {
        let at = || vec![Seg::Key("time_points"), Seg::Index(i)];
        if !is_key(&t.key) {
            say(at(), format!("time point key \"{}\": {KEY_RULE}", t.key));
        } else if !keys.insert(&t.key) {
            say(at(), format!("time point \"{}\" is listed twice", t.key));
        }
    }
    let mut scale_keys = BTreeSet::new();
    for (i, s) in d.scales.iter().enumerate() {
        let at = || vec![Seg::Key("scales"), Seg::Index(i)];
        if !is_key(&s.key) {
            say(at(), format!("scale key \"{}\": {KEY_RULE}", s.key));
        } else if !scale_keys.insert(&s.key) {
            say(at(), format!("scale \"{}\" is defined twice", s.key));
        }
        if let Some(m) = anchor_problem(&s.anchors) {
            say(at(), format!("scale \"{}\": {m}", s.key));
        }
    }
    if d.sections.is_empty() {
        say(
            vec![],
            "the instrument has no sections: add [[sections]] with items".into(),
        );
    }
    let mut item_keys = BTreeSet::new();
    let mut section_keys = BTreeSet::new();
    for (si, s) in d.sections.iter().enumerate() {
        let at = || vec![Seg::Key("sections"), Seg::Index(si)];
        if !is_key(&s.key) {
            say(at(), format!("section key \"{}\": {KEY_RULE}", s.key));
        } else if !section_keys.insert(&s.key) {
            say(at(), format!("section \"{}\" is defined twice", s.key));
        }
        if s.items.is_empty() {
            say(at(), format!("section \"{}\" has no items", s.key));
        }
        for (ii, item) in s.items.iter().enumerate() {
            let at = || {
                vec![
                    Seg::Key("sections"),
                    Seg::Index(si),
                    Seg::Key("items"),
                    Seg::Index(ii),
                ]
            };
            if !is_key(&item.key) {
                say(at(), format!("item key \"{}\": {KEY_RULE}", item.key));
            } else if !item_keys.insert(&item.key) {
                say(at(), format!("item \"{}\" is defined twice", item.key));
            }
            if item.text.trim().is_empty() {
                say(at(), format!("item \"{}\" has no text", item.key));
            }
            if let Some(m) = item_problem(item, &d.scales) {
                say(at(), format!("item \"{}\": {m}", item.key));
            }
        }
    }
    let mut conversion_keys = BTreeSet::new();
    for (i, c) in d.conversions.iter().enumerate() {
        let at = || vec![Seg::Key("conversions"), Seg::Index(i)];
        if !conversion_keys.insert(&c.key) {
            say(at(), format!("conversion \"{}\" is defined twice", c.key));
        }
        let raws: Vec<f64> = c.table.iter().map(|r| r[0]).collect();
        if c.table.iter().flatten().any(|v| !v.is_finite()) {
            say(
                at(),
                format!("conversion \"{}\": every value must be a number", c.key),
            );
        } else if raws.iter().any(|r| r.fract() != 0.0)
            || raws.windows(2).any(|w| w[1] != w[0] + 1.0)
        {
            say(
                at(),
                format!(
                    "conversion \"{}\": raw scores must be whole numbers in order, one row each, with no gaps",
                    c.key
                ),
            );
        }
    }
    let mut score_keys = BTreeSet::new();
    for (i, rule) in d.scores.iter().enumerate() {
        let at = || vec![Seg::Key("scores"), Seg::Index(i)];
        if !is_key(&rule.key) {
            say(at(), format!("score key \"{}\": {KEY_RULE}", rule.key));
        } else if !score_keys.insert(&rule.key) {
            say(at(), format!("score \"{}\" is defined twice", rule.key));
        }
        for m in rule_problems(d, rule) {
            say(at(), format!("score \"{}\": {m}", rule.key));
        }
    }
    found
}

const KEY_RULE: &str =
    "use 1 to 63 lowercase letters, digits and underscores, starting with a letter";

fn anchor_problem(anchors: &[Anchor]) -> Option<String> {
    if anchors.len() < 2 {
        return Some("give at least two options".into());
    }
    let values: BTreeSet<i64> = anchors.iter().map(|a| a.value).collect();
    if values.len() != anchors.len() {
        return Some("two options have the same value".into());
    }
    if anchors.iter().any(|a| a.label.trim().is_empty()) {
        return Some("every option needs a label".into());
    }
    None
}

fn item_problem(item: &Item, scales: &[Scale]) -> Option<String> {
    let numeric_fields = item.min.is_some() || item.max.is_some() || item.integer;
    match item.kind {
        ItemKind::Scale => match item.scale.as_deref() {
            None => return Some("a scale item names its scale: scale = \"<key>\"".into()),
            Some(k) if !scales.iter().any(|s| s.key == k) => {
                return Some(format!("scale \"{k}\" is not defined in [[scales]]"))
            }
            _ => {}
        },
        ItemKind::SingleChoice | ItemKind::MultipleChoice => {
            if let Some(m) = anchor_problem(&item.choices) {
                return Some(format!("choices: {m}"));
            }
        }
        ItemKind::Number => {
            if let (Some(lo), Some(hi)) = (item.min, item.max) {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Some("min must be below max".into());
                }
            }
        }
        ItemKind::YesNo | ItemKind::Text => {}
    }
    if item.scale.is_some() && item.kind != ItemKind::Scale {
        return Some("only a scale item names a scale".into());
    }
    if !item.choices.is_empty()
        && !matches!(item.kind, ItemKind::SingleChoice | ItemKind::MultipleChoice)
    {
        return Some("only a choice item lists choices".into());
    }
    if numeric_fields && item.kind != ItemKind::Number {
        return Some("min, max and integer belong to number items".into());
    }
    if item.reverse && item.scored_range(scales).is_none() {
        return Some(
            "reverse scoring needs a scored range: a scale, yes/no, single choice, or a number with min and max"
                .into(),
        );
    }
    None
}

fn rule_problems(d: &Definition, rule: &ScoreRule) -> Vec<String> {
    let mut out = Vec::new();
    for key in &rule.items {
        if d.item(key).is_none() {
            out.push(format!("item \"{key}\" is not defined"));
        }
    }
    for key in &rule.sections {
        if !d.sections.iter().any(|s| &s.key == key) {
            out.push(format!("section \"{key}\" is not defined"));
        }
    }
    let items = d.rule_items(rule);
    if items.is_empty() {
        out.push("name the items or sections it scores".into());
        return out;
    }
    let mut ranges = Vec::new();
    for item in &items {
        match item.scored_range(&d.scales) {
            Some(r) => ranges.push(r),
            None => out.push(format!(
                "item \"{}\" cannot be scored (text, multiple choice, or a number without min and max)",
                item.key
            )),
        }
    }
    if rule.max_missing as usize >= items.len() {
        out.push(format!(
            "max_missing is {} but the score has only {} items: at least one must be answered",
            rule.max_missing,
            items.len()
        ));
    }
    if let Some(key) = &rule.conversion {
        match d.conversions.iter().find(|c| &c.key == key) {
            None => out.push(format!("conversion \"{key}\" is not defined")),
            Some(_) if rule.method != Method::Sum => {
                out.push("a conversion table applies to a sum".into())
            }
            Some(c) if ranges.len() == items.len() => {
                let lo: f64 = ranges.iter().map(|r| r.lo).sum();
                let hi: f64 = ranges.iter().map(|r| r.hi).sum();
                let first = c.table.first().map(|r| r[0]);
                let last = c.table.last().map(|r| r[0]);
                if first != Some(lo.round()) || last != Some(hi.round()) {
                    out.push(format!(
                        "conversion \"{key}\" must cover every raw sum from {lo} to {hi}"
                    ));
                }
            }
            Some(_) => {}
        }
    }
    if rule.bands.windows(2).any(|w| w[0].from >= w[1].from) {
        out.push("bands must rise: each band's from is above the one before".into());
    }
    if rule.bands.iter().any(|b| b.label.trim().is_empty()) {
        out.push("every band needs a label".into());
    }
    if rule
        .minimal_important_change
        .is_some_and(|m| !(m.is_finite() && m > 0.0))
    {
        out.push("minimal_important_change must be above 0".into());
    }
    out
}
