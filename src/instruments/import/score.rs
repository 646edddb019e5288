//! Calculations recognised as declarative score rules, never evaluated. A
//! calculation's tree is matched against the few shapes a questionnaire's
//! scoring takes (sums, means, prorated sums, a guard on how many items were
//! answered, bands over a score); anything else is refused with the part of
//! the text that was not understood. The missing-answer behaviour of each
//! shape is read from what the form's own language does with a blank.

use std::collections::BTreeMap;

use crate::instruments::definition::{Band, Definition, Method, ScoreRule};
use crate::instruments::scoring::rule_range;

use super::expr::{self, Dialect, Expr, Node, Op};
use super::form::{Named, Names, Notes};
use super::ImportProblem;

/// A calculation as the form holds it, with where it is.
#[derive(Clone, Debug)]
pub struct Calculation {
    /// The score's key: the calculation's name as a key.
    pub key: String,
    /// The score's label: the row's label, else its name in words.
    pub label: String,
    /// The expression as written.
    pub text: String,
    /// The language it is written in.
    pub dialect: Dialect,
    /// The sheet, row and column it is in, for problems and notes.
    pub place: String,
    /// See `place`.
    pub row: usize,
    /// See `place`.
    pub column: String,
}

/// One item in a score.
#[derive(Clone, Debug)]
struct Term {
    item: String,
    reverse: bool,
    /// Written `coalesce(q, 0)` or inside REDCap's `sum()`: a blank is 0.
    blank_as_zero: bool,
    /// Reached through another calculation's name.
    via_calculation: bool,
}

/// What a calculation computes, in the engine's terms.
#[derive(Clone, Debug)]
struct Shape {
    terms: Vec<Term>,
    method: Method,
    max_missing: u32,
    /// Some blank was counted as 0, which the engine never does.
    blank_as_zero: bool,
    rounded: bool,
}

/// A band's label and where it starts; None for the lowest band.
type BandStart = (Option<f64>, String);

#[derive(Clone, Debug)]
enum Outcome {
    Score(Shape),
    Bands {
        target: usize,
        bands: Vec<BandStart>,
    },
    Failed,
}

#[derive(Debug)]
enum Slot {
    Todo,
    Busy,
    Done(Outcome),
}

/// The part of an expression not understood, and why.
#[derive(Debug)]
struct Miss {
    span: (usize, usize),
    why: String,
}

fn miss<T>(at: &Expr, why: impl Into<String>) -> Result<T, Miss> {
    Err(Miss {
        span: at.span,
        why: why.into(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counting {
    Answered,
    Unanswered,
}

const SHAPES: &str = "fieldkit recognises sums and means of questions, prorated sums (a mean times the number of items), a guard on how many were answered, and bands over a score";
const TERM: &str =
    "expected a question, a reversed question (C - question) or coalesce(question, 0)";
const GUARD: &str =
    "expected a guard on how many items were answered, e.g. if(<answered count> >= 3, <score>, '')";
const INDICATOR: &str =
    "expected an answered-or-not test of a question, e.g. if(${q} != '', 1, 0) or if(isblankormissingcode([q]), 0, 1)";

/// Recognises every calculation and adds its score rule, bands and reverse
/// flags to the definition; refuses what it does not recognise.
pub fn recognise(
    definition: &mut Definition,
    calculations: &[Calculation],
    names: &Names,
    notes: &mut Notes,
) -> Result<(), Vec<ImportProblem>> {
    let mut recogniser = Recogniser {
        definition,
        calculations,
        names,
        slots: calculations.iter().map(|_| Slot::Todo).collect(),
        depth: 0,
        problems: Vec::new(),
    };
    for i in 0..calculations.len() {
        recogniser.resolve(i);
    }
    let Recogniser {
        slots, problems, ..
    } = recogniser;
    if !problems.is_empty() {
        return Err(problems);
    }
    let outcomes: Vec<Outcome> = slots
        .into_iter()
        .map(|s| match s {
            Slot::Done(o) => o,
            Slot::Todo | Slot::Busy => Outcome::Failed,
        })
        .collect();
    apply(definition, calculations, &outcomes, notes)
}

struct Recogniser<'a> {
    definition: &'a Definition,
    calculations: &'a [Calculation],
    names: &'a Names,
    slots: Vec<Slot>,
    /// How many references to calculations are being followed.
    depth: usize,
    problems: Vec<ImportProblem>,
}

/// Calculations that refer to calculations deeper than this are refused,
/// so a long chain cannot exhaust the stack.
const MAX_REFERENCE_DEPTH: usize = 16;

impl Recogniser<'_> {
    /// The outcome of calculation `i`, recognising it the first time.
    fn resolve(&mut self, i: usize) -> Outcome {
        match self.slots.get(i) {
            Some(Slot::Done(o)) => return o.clone(),
            Some(Slot::Busy) | None => return Outcome::Failed,
            Some(Slot::Todo) => {}
        }
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Slot::Busy;
        }
        let outcome = self.recognise_one(i);
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Slot::Done(outcome.clone());
        }
        outcome
    }

    fn recognise_one(&mut self, i: usize) -> Outcome {
        let Some(calc) = self.calculations.get(i) else {
            return Outcome::Failed;
        };
        let text = calc.text.as_str();
        let result = match expr::parse(text, calc.dialect) {
            Err(e) => Err(Miss {
                span: e.span,
                why: e.message,
            }),
            Ok(e) if is_bands(&e) => self.bands(&e),
            Ok(e) => self.score(&e, calc.dialect).map(Outcome::Score),
        };
        match result {
            Ok(outcome) => outcome,
            Err(m) => {
                let part = text.get(m.span.0..m.span.1).unwrap_or(text);
                let part = if part.is_empty() { text } else { part };
                let shown: String = part.chars().take(200).collect();
                self.problems.push(ImportProblem::at(
                    &calc.place,
                    calc.row,
                    &calc.column,
                    format!("not understood: `{shown}`: {}", m.why),
                ));
                Outcome::Failed
            }
        }
    }

    fn calculation_name(&self, j: usize) -> &str {
        self.calculations.get(j).map_or("", |c| c.key.as_str())
    }

    /// Another calculation's outcome, for a reference to it.
    fn referred(&mut self, j: usize, at: &Expr) -> Result<Outcome, Miss> {
        if matches!(self.slots.get(j), Some(Slot::Busy)) {
            return miss(
                at,
                format!(
                    "\"{}\" refers back to this calculation",
                    self.calculation_name(j)
                ),
            );
        }
        if self.depth >= MAX_REFERENCE_DEPTH {
            return miss(
                at,
                format!(
                    "calculations refer to calculations more than {MAX_REFERENCE_DEPTH} deep here"
                ),
            );
        }
        self.depth += 1;
        let outcome = self.resolve(j);
        self.depth -= 1;
        match outcome {
            Outcome::Failed => miss(
                at,
                format!(
                    "\"{}\" is a calculation that could not be read (see its row)",
                    self.calculation_name(j)
                ),
            ),
            outcome => Ok(outcome),
        }
    }

    fn item_key(&self, name: &str, at: &Expr) -> Result<String, Miss> {
        match self.names.get(name) {
            Some(Named::Item(key)) => Ok(key.clone()),
            Some(Named::Calculation(_)) => {
                miss(at, format!("\"{name}\" is a calculation, not a question"))
            }
            Some(Named::Other(what)) => miss(at, format!("\"{name}\" is {what}, not a question")),
            None => miss(at, format!("there is no question named \"{name}\"")),
        }
    }

    /// The lowest and highest value of a scorable item.
    fn range(&self, key: &str, at: &Expr) -> Result<(f64, f64), Miss> {
        let item = self.definition.item(key);
        match item.and_then(|i| i.scored_range(&self.definition.scales)) {
            Some(r) => Ok((r.lo, r.hi)),
            None => miss(
                at,
                format!("\"{key}\" cannot be scored: a text or multiple-choice question, or a number without a minimum and maximum"),
            ),
        }
    }

    fn score(&mut self, e: &Expr, d: Dialect) -> Result<Shape, Miss> {
        match &e.node {
            Node::Call(f, args) if f == "round" => match args.as_slice() {
                [inner]
                | [inner, Expr {
                    node: Node::Num(_), ..
                }] => {
                    let mut shape = self.score(inner, d)?;
                    shape.rounded = true;
                    Ok(shape)
                }
                _ => miss(e, "round() takes a value and a number of decimal places"),
            },
            Node::Call(f, args) if f == "if" => match args.as_slice() {
                [guard, body, other] if is_blank(other) => self.guarded(guard, body, false, d),
                [guard, other, body] if is_blank(other) => self.guarded(guard, body, true, d),
                _ => miss(e, GUARD),
            },
            _ => self.body(e, d),
        }
    }

    fn body(&mut self, e: &Expr, d: Dialect) -> Result<Shape, Miss> {
        match &e.node {
            Node::Bin(Op::Div, sum, divisor) => self.mean_by_division(sum, divisor, d),
            Node::Bin(Op::Mul, a, b) => self.prorated(e, a, b, d),
            Node::Call(f, args) if f == "mean" => self.mean_call(e, args, d),
            Node::Ref(_) | Node::Bin(Op::Add | Op::Sub, _, _) => self.sum(e, d),
            Node::Call(f, _) if f == "sum" || f == "coalesce" => self.sum(e, d),
            _ => miss(e, SHAPES),
        }
    }

    fn sum(&mut self, e: &Expr, d: Dialect) -> Result<Shape, Miss> {
        let mut terms = Vec::new();
        match &e.node {
            Node::Call(f, args) if f == "sum" => {
                if d == Dialect::XlsForm {
                    return miss(
                        e,
                        "in an XLSForm, sum() adds a repeat's answers; add the questions with +",
                    );
                }
                for arg in args {
                    self.term(arg, &mut terms)?;
                }
                // REDCap's sum() leaves blanks out: they count as 0.
                for t in &mut terms {
                    t.blank_as_zero = true;
                }
            }
            _ => {
                for leaf in flatten(e, Op::Add) {
                    self.term(leaf, &mut terms)?;
                }
            }
        }
        let blank_as_zero = terms.iter().any(|t| t.blank_as_zero);
        Ok(Shape {
            terms,
            method: Method::Sum,
            max_missing: 0,
            blank_as_zero,
            rounded: false,
        })
    }

    fn term(&mut self, e: &Expr, out: &mut Vec<Term>) -> Result<(), Miss> {
        let found = match &e.node {
            Node::Ref(name) => match self.names.get(name).cloned() {
                Some(Named::Calculation(j)) => return self.calculation_terms(j, e, out),
                _ => {
                    let item = self.item_key(name, e)?;
                    self.range(&item, e)?;
                    Term {
                        item,
                        reverse: false,
                        blank_as_zero: false,
                        via_calculation: false,
                    }
                }
            },
            Node::Bin(Op::Sub, constant, inner) => {
                let (Node::Num(c), Node::Ref(name)) = (&constant.node, &inner.node) else {
                    if matches!(&inner.node, Node::Call(f, _) if f == "coalesce") {
                        return miss(e, "here a blank answer counts as the constant itself; fieldkit cannot keep that: reverse the question (C - question) and leave blanks unanswered");
                    }
                    return miss(e, TERM);
                };
                let item = self.item_key(name, inner)?;
                let (lo, hi) = self.range(&item, inner)?;
                if *c != lo + hi {
                    return miss(
                        e,
                        format!(
                            "\"{item}\" runs from {lo} to {hi}, so reversed it is {} - {name}; this subtracts from {c}",
                            lo + hi
                        ),
                    );
                }
                Term {
                    item,
                    reverse: true,
                    blank_as_zero: false,
                    via_calculation: false,
                }
            }
            Node::Call(f, args) if f == "coalesce" => match args.as_slice() {
                [inner @ Expr {
                    node: Node::Ref(name),
                    ..
                }, Expr {
                    node: Node::Num(zero),
                    ..
                }] if *zero == 0.0 => {
                    let item = self.item_key(name, inner)?;
                    self.range(&item, inner)?;
                    Term {
                        item,
                        reverse: false,
                        blank_as_zero: true,
                        via_calculation: false,
                    }
                }
                _ => return miss(e, "coalesce() is read only as coalesce(question, 0)"),
            },
            _ => return miss(e, TERM),
        };
        if out.iter().any(|t| t.item == found.item) {
            return miss(e, format!("\"{}\" is counted twice", found.item));
        }
        out.push(found);
        Ok(())
    }

    /// The items of another calculation that is a plain sum.
    fn calculation_terms(&mut self, j: usize, at: &Expr, out: &mut Vec<Term>) -> Result<(), Miss> {
        let name = self.calculation_name(j).to_owned();
        match self.referred(j, at)? {
            Outcome::Score(s) if s.method == Method::Sum && s.max_missing == 0 && !s.rounded => {
                for mut t in s.terms {
                    if out.iter().any(|o| o.item == t.item) {
                        return miss(at, format!("\"{}\" is counted twice", t.item));
                    }
                    t.via_calculation = true;
                    out.push(t);
                }
                Ok(())
            }
            _ => miss(
                at,
                format!("\"{name}\" is not a plain sum of items; only plain sums can be added to other items"),
            ),
        }
    }

    fn mean_by_division(&mut self, sum: &Expr, divisor: &Expr, d: Dialect) -> Result<Shape, Miss> {
        let shape = self.sum(sum, d)?;
        no_calculations(&shape, sum)?;
        let n = shape.terms.len();
        if let Node::Num(k) = divisor.node {
            if k != n as f64 {
                return miss(divisor, format!("divides by {k} but adds {n} items"));
            }
            return Ok(Shape {
                method: Method::Mean,
                ..shape
            });
        }
        let (counted, counting) = self.count(divisor)?;
        if counting != Counting::Answered {
            return miss(divisor, "divides by the number of unanswered items");
        }
        same_items(&counted, &shape, divisor)?;
        if !shape.terms.iter().all(|t| t.blank_as_zero) {
            return miss(
                sum,
                "a blank answer makes this sum blank, so dividing by the number answered changes nothing; write coalesce(question, 0) for each question",
            );
        }
        // The sum of the answered items over their number: the engine's
        // mean, blank only when nothing was answered.
        Ok(Shape {
            method: Method::Mean,
            max_missing: n.saturating_sub(1) as u32,
            blank_as_zero: false,
            ..shape
        })
    }

    fn mean_call(&mut self, e: &Expr, args: &[Expr], d: Dialect) -> Result<Shape, Miss> {
        if d == Dialect::XlsForm {
            return miss(
                e,
                "an XLSForm has no mean(); divide the sum by the number of items",
            );
        }
        let mut terms = Vec::new();
        for arg in args {
            self.term(arg, &mut terms)?;
        }
        let shape = Shape {
            max_missing: terms.len().saturating_sub(1) as u32,
            terms,
            method: Method::Mean,
            blank_as_zero: false,
            rounded: false,
        };
        no_calculations(&shape, e)?;
        // REDCap's mean() leaves blanks out and is blank only when every
        // item is: the engine's mean with all but one item missing allowed.
        Ok(shape)
    }

    fn prorated(&mut self, e: &Expr, a: &Expr, b: &Expr, d: Dialect) -> Result<Shape, Miss> {
        let (n, mean) =
            match (&a.node, &b.node) {
                (_, Node::Num(n)) => (*n, a),
                (Node::Num(n), _) => (*n, b),
                _ => return miss(
                    e,
                    "a product is read only as a mean times its number of items (a prorated sum)",
                ),
            };
        let shape = self.body(mean, d)?;
        if shape.method != Method::Mean {
            return miss(
                mean,
                "expected a mean here (a prorated sum is a mean times its number of items)",
            );
        }
        if n != shape.terms.len() as f64 {
            return miss(
                e,
                format!("multiplies a mean of {} items by {n}; a prorated sum multiplies by the number of items", shape.terms.len()),
            );
        }
        Ok(Shape {
            method: Method::Sum,
            ..shape
        })
    }

    fn guarded(
        &mut self,
        guard: &Expr,
        body: &Expr,
        negated: bool,
        d: Dialect,
    ) -> Result<Shape, Miss> {
        let mut shape = self.score(body, d)?;
        no_calculations(&shape, body)?;
        let allowed = self.allowance(guard, negated, &shape)?;
        shape.max_missing = shape.max_missing.min(allowed);
        Ok(shape)
    }

    /// How many unanswered items a guard lets through.
    fn allowance(&mut self, guard: &Expr, negated: bool, shape: &Shape) -> Result<u32, Miss> {
        let Node::Bin(op, l, r) = &guard.node else {
            return miss(guard, GUARD);
        };
        let (count, op, k) = match (&l.node, &r.node) {
            (_, Node::Num(k)) => (l.as_ref(), *op, *k),
            (Node::Num(k), _) => (r.as_ref(), op.mirrored(), *k),
            _ => return miss(guard, GUARD),
        };
        let op = if negated {
            match op {
                Op::Ge => Op::Lt,
                Op::Lt => Op::Ge,
                Op::Gt => Op::Le,
                Op::Le => Op::Gt,
                Op::Eq => Op::Ne,
                Op::Ne => Op::Eq,
                _ => return miss(guard, GUARD),
            }
        } else {
            op
        };
        let (counted, counting) = self.count(count)?;
        same_items(&counted, shape, count)?;
        if k.fract() != 0.0 || !k.is_finite() {
            return miss(guard, "a count is compared with a whole number");
        }
        let n = counted.len() as i64;
        let k = k as i64;
        let allowed = match (counting, op) {
            (Counting::Answered, Op::Ge) => n.saturating_sub(k),
            (Counting::Answered, Op::Gt) => n.saturating_sub(k).saturating_sub(1),
            (Counting::Answered, Op::Eq) if k == n => 0,
            (Counting::Unanswered, Op::Le) => k,
            (Counting::Unanswered, Op::Lt) => k.saturating_sub(1),
            (Counting::Unanswered, Op::Eq) if k == 0 => 0,
            _ => return miss(guard, GUARD),
        };
        if allowed < 0 {
            return miss(guard, "this guard never lets a score through");
        }
        Ok(allowed.min(n - 1).max(0) as u32)
    }

    /// A sum of answered-or-not tests: the items it counts and what.
    fn count(&mut self, e: &Expr) -> Result<(Vec<String>, Counting), Miss> {
        let mut items: Vec<String> = Vec::new();
        let mut kind = None;
        for leaf in flatten(e, Op::Add) {
            let (item, counting) = self.indicator(leaf)?;
            if kind.is_some_and(|k| k != counting) {
                return miss(
                    leaf,
                    "a count adds up either answered or unanswered items, not both",
                );
            }
            kind = Some(counting);
            if items.contains(&item) {
                return miss(leaf, format!("\"{item}\" is counted twice"));
            }
            items.push(item);
        }
        match kind {
            Some(k) => Ok((items, k)),
            None => miss(e, INDICATOR),
        }
    }

    fn indicator(&mut self, e: &Expr) -> Result<(String, Counting), Miss> {
        let counting = |blank_test: bool| {
            if blank_test {
                Counting::Unanswered
            } else {
                Counting::Answered
            }
        };
        match &e.node {
            Node::Call(f, args) if f == "if" => match args.as_slice() {
                [test, Expr {
                    node: Node::Num(a), ..
                }, Expr {
                    node: Node::Num(b), ..
                }] => {
                    let (item, blank) = self.blank_test(test)?;
                    match (*a, *b) {
                        (x, y) if x == 1.0 && y == 0.0 => Ok((item, counting(blank))),
                        (x, y) if x == 0.0 && y == 1.0 => Ok((item, counting(!blank))),
                        _ => miss(e, INDICATOR),
                    }
                }
                _ => miss(e, INDICATOR),
            },
            _ => {
                let (item, blank) = self.blank_test(e)?;
                Ok((item, counting(blank)))
            }
        }
    }

    /// A test of whether a question is blank: the question and whether the
    /// test is true for a blank.
    fn blank_test(&mut self, e: &Expr) -> Result<(String, bool), Miss> {
        let (name, blank) = match &e.node {
            Node::Bin(op @ (Op::Eq | Op::Ne | Op::Gt), l, r) => match (&l.node, &r.node) {
                (Node::Ref(name), Node::Str(s)) | (Node::Str(s), Node::Ref(name))
                    if s.is_empty() && *op != Op::Gt =>
                {
                    (name, *op == Op::Eq)
                }
                (Node::Call(f, args), Node::Num(zero))
                    if f == "string-length" && *zero == 0.0 && *op != Op::Ne =>
                {
                    (
                        only_reference(args).ok_or_else(|| indicator_miss(e))?,
                        *op == Op::Eq,
                    )
                }
                _ => return miss(e, INDICATOR),
            },
            Node::Call(f, args) if f == "isblankormissingcode" => {
                (only_reference(args).ok_or_else(|| indicator_miss(e))?, true)
            }
            _ => return miss(e, INDICATOR),
        };
        Ok((self.item_key(name, e)?, blank))
    }

    fn bands(&mut self, e: &Expr) -> Result<Outcome, Miss> {
        let mut steps: Vec<(&Expr, f64, String)> = Vec::new();
        let mut ops = Vec::new();
        let mut target: Option<(&str, &Expr)> = None;
        let mut rest = e;
        let last = loop {
            let Node::Call(f, args) = &rest.node else {
                break band_label(rest)?;
            };
            let [test, label, otherwise] = args.as_slice() else {
                break band_label(rest)?;
            };
            if f != "if" {
                break band_label(rest)?;
            }
            let label = band_label(label)?;
            let (name, op, k) = threshold(test)?;
            match target {
                Some((first, _)) if first != name => {
                    return miss(
                        test,
                        format!(
                            "bands compare one score; this compares \"{name}\", not \"{first}\""
                        ),
                    )
                }
                None => target = Some((name, test)),
                _ => {}
            }
            steps.push((test, k, label));
            ops.push(op);
            rest = otherwise;
        };
        let Some((name, first_test)) = target else {
            return miss(e, SHAPES);
        };
        let bands = ordered_bands(&steps, &ops, last)?;
        let j = match self.names.get(name) {
            Some(Named::Calculation(j)) => *j,
            Some(Named::Item(_)) => {
                return miss(first_test, format!("\"{name}\" is a question; fieldkit puts bands on scores, so make a score of it first"))
            }
            Some(Named::Other(what)) => return miss(first_test, format!("\"{name}\" is {what}, not a score")),
            None => return miss(first_test, format!("there is no calculation named \"{name}\"")),
        };
        match self.referred(j, first_test)? {
            Outcome::Score(_) => Ok(Outcome::Bands { target: j, bands }),
            _ => miss(first_test, format!("\"{name}\" is not a score")),
        }
    }
}

/// Bands from an if() chain: `>=` from the highest band down, or `<` from
/// the lowest band up. A band includes its lower bound, as the engine's do.
fn ordered_bands(
    steps: &[(&Expr, f64, String)],
    ops: &[Op],
    last: String,
) -> Result<Vec<BandStart>, Miss> {
    for ((test, _, _), op) in steps.iter().zip(ops) {
        if !matches!(op, Op::Ge | Op::Lt) {
            return miss(test, "a band includes its lower bound: write >= (highest band first) or < (lowest band first)");
        }
        if Some(op) != ops.first() {
            return miss(test, "write every band's test with >= (highest first) or every one with < (lowest first)");
        }
    }
    for pair in steps.windows(2) {
        let [(_, a, _), (test, b, _)] = pair else {
            continue;
        };
        let in_order = if ops.first() == Some(&Op::Ge) {
            b < a
        } else {
            b > a
        };
        if !in_order {
            return miss(test, "the bands' thresholds are out of order");
        }
    }
    let mut bands = Vec::new();
    if ops.first() == Some(&Op::Ge) {
        bands.push((None, last));
        for (_, k, label) in steps.iter().rev() {
            bands.push((Some(*k), label.clone()));
        }
    } else {
        let mut from = None;
        for (_, k, label) in steps {
            bands.push((from, label.clone()));
            from = Some(*k);
        }
        bands.push((from, last));
    }
    Ok(bands)
}

fn band_label(e: &Expr) -> Result<String, Miss> {
    match &e.node {
        Node::Str(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Node::Num(_) => miss(e, "bands need text labels in quotes (in REDCap, write the bands in a text field with @CALCTEXT)"),
        _ => miss(e, "expected a band's label in quotes"),
    }
}

/// `score >= k` (or `k <= score`): the score's name, the test and k.
fn threshold(test: &Expr) -> Result<(&str, Op, f64), Miss> {
    match &test.node {
        Node::Bin(op, l, r) => match (&l.node, &r.node) {
            (Node::Ref(name), Node::Num(k)) if k.is_finite() => Ok((name, *op, *k)),
            (Node::Num(k), Node::Ref(name)) if k.is_finite() => Ok((name, op.mirrored(), *k)),
            _ => miss(test, "expected a score compared with a number"),
        },
        _ => miss(test, "expected a score compared with a number"),
    }
}

/// An if() whose first outcome is a label (or a number, to be refused as
/// bands without labels) is read as bands.
fn is_bands(e: &Expr) -> bool {
    match &e.node {
        Node::Call(f, args) if f == "if" => match args.as_slice() {
            [_, label, _] => match &label.node {
                Node::Str(s) => !s.is_empty(),
                Node::Num(_) => true,
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

fn only_reference(args: &[Expr]) -> Option<&String> {
    match args {
        [Expr {
            node: Node::Ref(name),
            ..
        }] => Some(name),
        _ => None,
    }
}

fn indicator_miss(e: &Expr) -> Miss {
    Miss {
        span: e.span,
        why: INDICATOR.into(),
    }
}

fn is_blank(e: &Expr) -> bool {
    matches!(&e.node, Node::Str(s) if s.is_empty())
}

/// The operands of a chain of one operator, left to right, without recursion.
fn flatten(e: &Expr, op: Op) -> Vec<&Expr> {
    let mut right = Vec::new();
    let mut at = e;
    while let Node::Bin(o, l, r) = &at.node {
        if *o != op {
            break;
        }
        right.push(r.as_ref());
        at = l;
    }
    let mut out = vec![at];
    out.extend(right.into_iter().rev());
    out
}

fn no_calculations(shape: &Shape, at: &Expr) -> Result<(), Miss> {
    if shape.terms.iter().any(|t| t.via_calculation) {
        return miss(at, "other calculations can be added up, but means, prorating and guards are read only over questions");
    }
    Ok(())
}

fn same_items(counted: &[String], shape: &Shape, at: &Expr) -> Result<(), Miss> {
    let mut a: Vec<&str> = counted.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = shape.terms.iter().map(|t| t.item.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    if a != b {
        return miss(
            at,
            format!(
                "counts {} but the score is of {}",
                a.join(", "),
                b.join(", ")
            ),
        );
    }
    Ok(())
}

/// Puts the recognised rules, bands and reverse flags into the definition.
fn apply(
    definition: &mut Definition,
    calculations: &[Calculation],
    outcomes: &[Outcome],
    notes: &mut Notes,
) -> Result<(), Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let mut reversed: BTreeMap<String, (bool, usize)> = BTreeMap::new();
    for (calc, outcome) in calculations.iter().zip(outcomes) {
        let Outcome::Score(shape) = outcome else {
            continue;
        };
        for t in &shape.terms {
            let (reverse, row) = *reversed
                .entry(t.item.clone())
                .or_insert((t.reverse, calc.row));
            if reverse != t.reverse {
                problems.push(ImportProblem::at(
                    &calc.place,
                    calc.row,
                    &calc.column,
                    format!(
                        "\"{}\" is scored in reverse on row {row} but not here (or the other way round); fieldkit reverses an item in every score or in none",
                        t.item
                    ),
                ));
            }
        }
        if shape.blank_as_zero {
            notes.add(
                &calc.place,
                Some(calc.row),
                format!(
                    "score \"{}\": the form counted a blank answer as 0 (coalesce or sum()); fieldkit never does, so the score is blank while an item is unanswered (max_missing = 0); see getodk/docs#731",
                    calc.key
                ),
            );
        }
        if shape.rounded {
            notes.add(
                &calc.place,
                Some(calc.row),
                format!(
                    "score \"{}\": rounding dropped; fieldkit keeps the score unrounded",
                    calc.key
                ),
            );
        }
        definition.scores.push(ScoreRule {
            key: calc.key.clone(),
            label: calc.label.clone(),
            items: shape.terms.iter().map(|t| t.item.clone()).collect(),
            sections: Vec::new(),
            method: shape.method,
            max_missing: shape.max_missing,
            conversion: None,
            bands: Vec::new(),
            minimal_important_change: None,
        });
    }
    for item in definition
        .sections
        .iter_mut()
        .flat_map(|s| s.items.iter_mut())
    {
        if let Some((true, _)) = reversed.get(&item.key) {
            item.reverse = true;
        }
    }
    for (calc, outcome) in calculations.iter().zip(outcomes) {
        let Outcome::Bands { target, bands } = outcome else {
            continue;
        };
        let Some(target) = calculations.get(*target) else {
            continue;
        };
        if let Err(message) = add_bands(definition, &target.key, bands) {
            problems.push(ImportProblem::at(
                &calc.place,
                calc.row,
                &calc.column,
                message,
            ));
        } else {
            notes.add(
                &calc.place,
                Some(calc.row),
                format!(
                    "\"{}\" becomes the bands of score \"{}\"",
                    calc.key, target.key
                ),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn add_bands(definition: &mut Definition, score: &str, bands: &[BandStart]) -> Result<(), String> {
    let lowest = definition
        .scores
        .iter()
        .find(|r| r.key == score)
        .and_then(|rule| rule_range(definition, rule))
        .map(|(lo, _)| lo)
        .ok_or_else(|| format!("score \"{score}\" has no range to put bands on"))?;
    let Some(rule) = definition.scores.iter_mut().find(|r| r.key == score) else {
        return Err(format!("score \"{score}\" is not defined"));
    };
    if !rule.bands.is_empty() {
        return Err(format!(
            "score \"{score}\" already has bands from another calculation"
        ));
    }
    let mut out = Vec::new();
    for (from, label) in bands {
        let from = from.unwrap_or(lowest);
        if out.is_empty() {
            out.push(Band {
                from,
                label: label.clone(),
            });
            continue;
        }
        if from <= lowest {
            return Err(format!(
                "the band \"{}\" could never apply: score \"{score}\" is never below {lowest}",
                out.first().map_or("", |b: &Band| b.label.as_str())
            ));
        }
        out.push(Band {
            from,
            label: label.clone(),
        });
    }
    rule.bands = out;
    Ok(())
}
