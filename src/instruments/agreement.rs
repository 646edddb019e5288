//! Agreement between raters, for fidelity checklists and questionnaires:
//! Cohen's kappa for two raters (unweighted, linear or quadratic weights),
//! Fleiss' kappa for a fixed number of raters per subject, and
//! Krippendorff's alpha for any number of raters with missing ratings.
//!
//! **Categories are the instrument's declared categories.** A 1–6 item has
//! six categories even when the raters never used 5. R's `irr` (`kappa2`,
//! `kripp.alpha`) builds its tables and weights from the categories it
//! observed; we deliberately weight over the declared categories, so a
//! disagreement costs the same on the same instrument whatever the data.
//! Where this shows: weighted kappa when a declared category that nobody
//! used lies between used ones. `irr` then treats 4 and 6 as neighbours and
//! we count them two steps apart, and the values differ. An unused category
//! at either end of the scale only rescales the weights (`w' = a + b w`),
//! which leaves kappa unchanged though its observed and expected agreement
//! move. Unweighted kappa, Fleiss' kappa and alpha are not changed by a
//! category nobody used.
//!
//! Inputs come from web requests, so every function refuses what it cannot
//! measure with an [`AgreementError`] instead of panicking or answering NaN:
//! too few subjects, raters or categories, too many categories, an index or
//! value outside the declared categories, ragged tables, and the cases where
//! the coefficient is undefined (every rating in one category, nothing
//! pairable). Every number in an [`Agreement`] is finite.
//!
//! The tests reproduce published values: Cohen's kappa against SAS and
//! `irr::kappa2` (as recorded in statsmodels' tests), Fleiss' kappa on
//! Fleiss (1971), and alpha on Krippendorff (2011).

use std::fmt;

/// Fewest subjects Cohen's and Fleiss' kappa accept. With a single subject
/// chance agreement would be estimated from that subject alone, and kappa
/// says nothing about the raters. Alpha needs only one pairable unit.
pub const MIN_SUBJECTS: usize = 2;

/// Most categories any function accepts: far beyond any checklist or
/// questionnaire scale (a 0–100 visual analogue scale has 101 points), and a
/// bound on the work and memory one request can ask for (alpha keeps a
/// categories × categories coincidence matrix).
pub const MAX_CATEGORIES: usize = 1_000;

/// How much credit Cohen's kappa gives a near miss between categories `i`
/// and `j` of the `k` declared categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Only the same category agrees (weight 1); anything else weighs 0.
    Unweighted,
    /// `1 - |i - j| / (k - 1)`.
    Linear,
    /// `1 - (i - j)^2 / (k - 1)^2`.
    Quadratic,
}

impl Weights {
    /// The agreement weight of categories `i` and `j` out of `k`, in [0, 1].
    fn weight(self, i: usize, j: usize, k: usize) -> f64 {
        if i == j {
            return 1.0;
        }
        let distance = i.abs_diff(j) as f64 / k.saturating_sub(1).max(1) as f64;
        match self {
            Weights::Unweighted => 0.0,
            Weights::Linear => 1.0 - distance,
            Weights::Quadratic => 1.0 - distance * distance,
        }
    }
}

/// The level of measurement Krippendorff's alpha assumes, which decides how
/// far apart two values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Categories without order: any two different values disagree fully.
    Nominal,
    /// Ordered categories: the distance between two values grows with how
    /// many ratings fall between them (Krippendorff's ordinal metric, from
    /// the marginals of the declared categories in their numeric order).
    Ordinal,
    /// Numeric scale: squared difference, measured in units of the declared
    /// range (largest minus smallest declared value), so observed and
    /// expected disagreement stay in [0, 1]. Alpha does not depend on this
    /// scaling.
    Interval,
}

/// A coefficient of agreement and what it was computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Kappa or alpha: 1 is perfect agreement, 0 what chance would give,
    /// below 0 systematic disagreement.
    pub value: f64,
    /// Kappa: the observed (weighted) proportion of agreement.
    /// Alpha: the observed disagreement D_o; `value = 1 - observed / expected`.
    pub observed: f64,
    /// Kappa: the agreement expected by chance from the raters' marginals;
    /// `value = (observed - expected) / (1 - expected)`.
    /// Alpha: the disagreement D_e expected by chance.
    pub expected: f64,
    /// Subjects the value rests on; for alpha, the pairable units only.
    pub subjects: usize,
    /// Ratings the value rests on; for alpha, the pairable values only.
    pub ratings: usize,
}

/// Why agreement could not be computed. Every variant is a property of the
/// input; none is a fault of the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AgreementError {
    /// Fewer subjects than [`MIN_SUBJECTS`].
    TooFewSubjects {
        /// Subjects given.
        found: usize,
        /// Subjects needed.
        minimum: usize,
    },
    /// Fewer than two declared categories.
    TooFewCategories {
        /// Categories declared.
        found: usize,
    },
    /// More declared categories than [`MAX_CATEGORIES`].
    TooManyCategories {
        /// Categories declared.
        found: usize,
        /// Categories allowed.
        maximum: usize,
    },
    /// A category index at or beyond the number of declared categories.
    CategoryOutOfRange {
        /// Position of the subject (0-based).
        subject: usize,
        /// Which rater (0 or 1 for Cohen's kappa).
        rater: usize,
        /// The index given.
        index: usize,
        /// Categories declared.
        categories: usize,
    },
    /// A row of a different length from the first row.
    RaggedRow {
        /// Position of the subject (0-based).
        subject: usize,
        /// Length of the first row.
        expected: usize,
        /// Length of this row.
        found: usize,
    },
    /// Fewer than two raters per subject (Fleiss' kappa).
    TooFewRaters {
        /// Raters counted in the first row.
        found: u64,
    },
    /// A subject rated by a different number of raters than the first
    /// (Fleiss' kappa needs the same number for every subject).
    UnequalRaters {
        /// Position of the subject (0-based).
        subject: usize,
        /// Raters counted in the first row.
        expected: u64,
        /// Raters counted in this row.
        found: u64,
    },
    /// A declared value that is not finite, or repeats an earlier one.
    InvalidDeclared {
        /// Its position in the declared values (0-based).
        position: usize,
    },
    /// A rating that is not one of the declared values (including NaN and
    /// infinities).
    UndeclaredValue {
        /// Position of the unit (0-based).
        unit: usize,
        /// Position of the rater within the unit (0-based).
        rater: usize,
        /// The value given.
        value: f64,
    },
    /// No unit has two or more ratings, so there is nothing to compare.
    NoPairableUnits,
    /// Every rating is the same category, so chance alone predicts perfect
    /// agreement and the coefficient is undefined (0 / 0).
    NoVariation,
}

impl fmt::Display for AgreementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooFewSubjects { found, minimum } => {
                write!(f, "{found} subjects given; at least {minimum} are needed")
            }
            Self::TooFewCategories { found } => {
                write!(f, "{found} categories declared; at least 2 are needed")
            }
            Self::TooManyCategories { found, maximum } => {
                write!(
                    f,
                    "{found} categories declared; at most {maximum} are allowed"
                )
            }
            Self::CategoryOutOfRange {
                subject,
                rater,
                index,
                categories,
            } => write!(
                f,
                "subject {subject}, rater {rater}: category {index} is not one of the \
                 {categories} declared (0 to {})",
                categories.saturating_sub(1)
            ),
            Self::RaggedRow {
                subject,
                expected,
                found,
            } => write!(
                f,
                "subject {subject} has {found} columns; the first has {expected}"
            ),
            Self::TooFewRaters { found } => {
                write!(f, "{found} raters per subject; at least 2 are needed")
            }
            Self::UnequalRaters {
                subject,
                expected,
                found,
            } => write!(
                f,
                "subject {subject} has {found} ratings; the first has {expected}, \
                 and every subject needs the same number"
            ),
            Self::InvalidDeclared { position } => write!(
                f,
                "declared value {position} is not a finite number or repeats an earlier one"
            ),
            Self::UndeclaredValue { unit, rater, value } => write!(
                f,
                "unit {unit}, rater {rater}: {value} is not one of the declared values"
            ),
            Self::NoPairableUnits => {
                write!(f, "no unit has two or more ratings to compare")
            }
            Self::NoVariation => write!(
                f,
                "every rating is the same category, so agreement beyond chance is undefined"
            ),
        }
    }
}

impl std::error::Error for AgreementError {}

/// Cohen's kappa for two raters who each rated every subject once.
///
/// Each pair is (first rater's category, second rater's category), as an
/// index `0..categories` into the instrument's declared, ordered categories.
/// Weights are computed over all declared categories (see the module
/// documentation). Needs at least [`MIN_SUBJECTS`] pairs and 2 to
/// [`MAX_CATEGORIES`] categories; when both raters put every subject in the
/// same category, expected agreement is 1 and the answer is
/// [`AgreementError::NoVariation`].
pub fn cohen_kappa(
    pairs: &[(usize, usize)],
    categories: usize,
    weights: Weights,
) -> Result<Agreement, AgreementError> {
    check_categories(categories)?;
    check_subjects(pairs.len())?;
    let mut first = vec![0_usize; categories];
    let mut second = vec![0_usize; categories];
    let mut agreement = 0.0;
    for (subject, &(a, b)) in pairs.iter().enumerate() {
        tally(&mut first, subject, 0, a)?;
        tally(&mut second, subject, 1, b)?;
        agreement += weights.weight(a, b, categories);
    }
    if categories_used(first.iter().zip(&second).map(|(a, b)| a + b > 0)) < 2 {
        return Err(AgreementError::NoVariation);
    }
    let n = pairs.len() as f64;
    let mut expected = 0.0;
    for (i, &r) in first.iter().enumerate().filter(|(_, &r)| r > 0) {
        for (j, &c) in second.iter().enumerate().filter(|(_, &c)| c > 0) {
            expected += weights.weight(i, j, categories) * (r as f64 / n) * (c as f64 / n);
        }
    }
    let observed = agreement / n;
    finite(Agreement {
        value: beyond_chance(observed, expected)?,
        observed,
        expected,
        subjects: pairs.len(),
        ratings: 2 * pairs.len(),
    })
}

/// Fleiss' kappa for any number of raters, the same number for every
/// subject.
///
/// Each row is a subject; column `j` counts the raters who put it in
/// declared category `j`, so every row has one column per declared category
/// and sums to the number of raters. Needs at least [`MIN_SUBJECTS`] rows,
/// 2 to [`MAX_CATEGORIES`] columns and 2 raters; rows of another length or
/// another sum are refused. All ratings in one category is
/// [`AgreementError::NoVariation`].
pub fn fleiss_kappa(counts: &[Vec<u32>]) -> Result<Agreement, AgreementError> {
    check_subjects(counts.len())?;
    let categories = counts.first().map_or(0, Vec::len);
    check_categories(categories)?;
    let raters = counts.first().map_or(0, |row| row_sum(row));
    if raters < 2 {
        return Err(AgreementError::TooFewRaters { found: raters });
    }
    let m = raters as f64;
    let mut totals = vec![0_u64; categories];
    let mut agreement = 0.0;
    for (subject, row) in counts.iter().enumerate() {
        if row.len() != categories {
            return Err(AgreementError::RaggedRow {
                subject,
                expected: categories,
                found: row.len(),
            });
        }
        let found = row_sum(row);
        if found != raters {
            return Err(AgreementError::UnequalRaters {
                subject,
                expected: raters,
                found,
            });
        }
        let mut squares = 0.0;
        for (total, &count) in totals.iter_mut().zip(row) {
            *total = total.saturating_add(u64::from(count));
            squares += f64::from(count) * f64::from(count);
        }
        agreement += (squares - m) / (m * (m - 1.0));
    }
    if categories_used(totals.iter().map(|&t| t > 0)) < 2 {
        return Err(AgreementError::NoVariation);
    }
    let subjects = counts.len() as f64;
    let all = subjects * m;
    let expected = totals
        .iter()
        .map(|&t| {
            let p = t as f64 / all;
            p * p
        })
        .sum();
    let observed = agreement / subjects;
    finite(Agreement {
        value: beyond_chance(observed, expected)?,
        observed,
        expected,
        subjects: counts.len(),
        ratings: counts
            .len()
            .saturating_mul(usize::try_from(raters).unwrap_or(usize::MAX)),
    })
}

/// Krippendorff's alpha, allowing missing ratings.
///
/// Each unit (subject) has one slot per rater, `None` where that rater gave
/// no rating; every unit has as many slots as the first. Every rating must
/// be one of the `declared` values (2 to [`MAX_CATEGORIES`] of them, finite,
/// no repeats); a rating that is not, NaN and infinities included, is
/// refused with [`AgreementError::UndeclaredValue`] rather than dropped, even
/// in a unit that cannot be paired. For [`Level::Ordinal`] the declared
/// values are ranked by their numeric value.
///
/// Computed from the coincidence matrix (Krippendorff 2011): units with
/// fewer than two ratings are not pairable and are left out (they are not
/// counted in `subjects` or `ratings`). No pairable unit is
/// [`AgreementError::NoPairableUnits`]; all pairable values equal is
/// [`AgreementError::NoVariation`].
pub fn krippendorff_alpha(
    units: &[Vec<Option<f64>>],
    level: Level,
    declared: &[f64],
) -> Result<Agreement, AgreementError> {
    let scale = Scale::new(declared)?;
    let k = scale.values.len();
    let raters = units.first().map_or(0, Vec::len);
    let mut coincidences = vec![0.0_f64; k * k];
    let mut subjects = 0_usize;
    let mut ratings = 0_usize;
    let mut values = Vec::with_capacity(raters);
    for (unit, slots) in units.iter().enumerate() {
        if slots.len() != raters {
            return Err(AgreementError::RaggedRow {
                subject: unit,
                expected: raters,
                found: slots.len(),
            });
        }
        values.clear();
        for (rater, slot) in slots.iter().enumerate() {
            if let Some(value) = *slot {
                let index = scale.index(value).ok_or(AgreementError::UndeclaredValue {
                    unit,
                    rater,
                    value,
                })?;
                values.push(index);
            }
        }
        if values.len() < 2 {
            continue;
        }
        subjects += 1;
        ratings += values.len();
        values.sort_unstable();
        let runs = runs(&values);
        let share = 1.0 / (values.len() - 1) as f64;
        for &(c, nc) in &runs {
            for &(d, nd) in &runs {
                let pairs = if c == d { nc * (nc - 1.0) } else { nc * nd };
                if let Some(cell) = coincidences.get_mut(c * k + d) {
                    *cell += pairs * share;
                }
            }
        }
    }
    if subjects == 0 {
        return Err(AgreementError::NoPairableUnits);
    }
    let marginals: Vec<f64> = coincidences.chunks(k).map(|row| row.iter().sum()).collect();
    if marginals.iter().filter(|&&n| n > 0.0).count() < 2 {
        return Err(AgreementError::NoVariation);
    }
    let below = cumulative(&marginals);
    let n: f64 = marginals.iter().sum();
    let distance = |c: usize, d: usize| -> f64 {
        if c == d {
            return 0.0;
        }
        match level {
            Level::Nominal => 1.0,
            Level::Ordinal => {
                let (lo, hi) = (c.min(d), c.max(d));
                let between = at(&below, hi + 1) - at(&below, lo);
                let x = between - (at(&marginals, lo) + at(&marginals, hi)) / 2.0;
                x * x
            }
            Level::Interval => {
                let x = scale.spread(c, d);
                x * x
            }
        }
    };
    let mut observed = 0.0;
    let mut expected = 0.0;
    for c in 0..k {
        for d in 0..k {
            let delta = distance(c, d);
            observed += at(&coincidences, c * k + d) * delta;
            expected += at(&marginals, c) * at(&marginals, d) * delta;
        }
    }
    observed /= n;
    expected /= n * (n - 1.0);
    if expected > 0.0 {
        finite(Agreement {
            value: 1.0 - observed / expected,
            observed,
            expected,
            subjects,
            ratings,
        })
    } else {
        Err(AgreementError::NoVariation)
    }
}

/// The declared values of an alpha computation, sorted, without duplicates.
struct Scale {
    values: Vec<f64>,
}

impl Scale {
    /// Checks the declared values: 2 to [`MAX_CATEGORIES`], finite, distinct
    /// (0.0 and -0.0 are the same value).
    fn new(declared: &[f64]) -> Result<Self, AgreementError> {
        check_categories(declared.len())?;
        for (position, &value) in declared.iter().enumerate() {
            if !value.is_finite() || declared.iter().take(position).any(|&d| d == value) {
                return Err(AgreementError::InvalidDeclared { position });
            }
        }
        // Adding 0.0 turns -0.0 into 0.0, so `total_cmp` orders like `==`.
        let mut values: Vec<f64> = declared.iter().map(|&v| v + 0.0).collect();
        values.sort_by(f64::total_cmp);
        Ok(Self { values })
    }

    /// The rank of `value` among the declared values, if it is one.
    fn index(&self, value: f64) -> Option<usize> {
        let value = value + 0.0;
        if !value.is_finite() {
            return None;
        }
        self.values.binary_search_by(|d| d.total_cmp(&value)).ok()
    }

    /// The difference between the values ranked `c` and `d`, as a fraction
    /// of the declared range, computed without overflow.
    fn spread(&self, c: usize, d: usize) -> f64 {
        let (a, b) = (at(&self.values, c), at(&self.values, d));
        let lo = self.values.first().copied().unwrap_or(0.0);
        let hi = self.values.last().copied().unwrap_or(0.0);
        let range = hi - lo;
        if range.is_finite() {
            (a - b) / range
        } else {
            (a / 2.0 - b / 2.0) / (hi / 2.0 - lo / 2.0)
        }
    }
}

/// Refuses fewer than 2 or more than [`MAX_CATEGORIES`] categories.
fn check_categories(found: usize) -> Result<(), AgreementError> {
    if found < 2 {
        Err(AgreementError::TooFewCategories { found })
    } else if found > MAX_CATEGORIES {
        Err(AgreementError::TooManyCategories {
            found,
            maximum: MAX_CATEGORIES,
        })
    } else {
        Ok(())
    }
}

/// Refuses fewer than [`MIN_SUBJECTS`] subjects.
fn check_subjects(found: usize) -> Result<(), AgreementError> {
    if found < MIN_SUBJECTS {
        Err(AgreementError::TooFewSubjects {
            found,
            minimum: MIN_SUBJECTS,
        })
    } else {
        Ok(())
    }
}

/// Counts one rating of category `index`, refusing an undeclared category.
fn tally(
    counts: &mut [usize],
    subject: usize,
    rater: usize,
    index: usize,
) -> Result<(), AgreementError> {
    let categories = counts.len();
    let count = counts
        .get_mut(index)
        .ok_or(AgreementError::CategoryOutOfRange {
            subject,
            rater,
            index,
            categories,
        })?;
    *count += 1;
    Ok(())
}

/// How many categories have any ratings, given whether each has.
fn categories_used(rated: impl Iterator<Item = bool>) -> usize {
    rated.filter(|&r| r).count()
}

/// The raters counted in one Fleiss row.
fn row_sum(row: &[u32]) -> u64 {
    row.iter().map(|&c| u64::from(c)).sum()
}

/// Kappa from observed and chance agreement; undefined when chance agreement
/// is complete.
fn beyond_chance(observed: f64, expected: f64) -> Result<f64, AgreementError> {
    let room = 1.0 - expected;
    if room > 0.0 {
        Ok((observed - expected) / room)
    } else {
        Err(AgreementError::NoVariation)
    }
}

/// The last guard: an answer with a non-finite number is refused as
/// undefined rather than sent on.
fn finite(agreement: Agreement) -> Result<Agreement, AgreementError> {
    let Agreement {
        value,
        observed,
        expected,
        ..
    } = agreement;
    if value.is_finite() && observed.is_finite() && expected.is_finite() {
        Ok(agreement)
    } else {
        Err(AgreementError::NoVariation)
    }
}

/// Sorted category indices as (category, how many times) runs.
fn runs(sorted: &[usize]) -> Vec<(usize, f64)> {
    let mut runs: Vec<(usize, f64)> = Vec::new();
    for &c in sorted {
        match runs.last_mut() {
            Some((last, count)) if *last == c => *count += 1.0,
            _ => runs.push((c, 1.0)),
        }
    }
    runs
}

/// `below[i]` is the sum of `values[..i]`; one longer than `values`.
fn cumulative(values: &[f64]) -> Vec<f64> {
    let mut below = Vec::with_capacity(values.len() + 1);
    let mut sum = 0.0;
    below.push(sum);
    for v in values {
        sum += v;
        below.push(sum);
    }
    below
}

/// `values[i]`, or 0 past the end (never reached: every index is checked
/// against the declared categories first).
fn at(values: &[f64], i: usize) -> f64 {
    values.get(i).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within half a unit of the last published decimal.
    fn close(found: f64, published: f64, decimals: i32) {
        let tolerance = 0.5 * 10_f64.powi(-decimals);
        assert!(
            (found - published).abs() < tolerance,
            "{found} is not {published} to {decimals} decimals"
        );
    }

    /// Pairs from a contingency table: rows the first rater's category,
    /// columns the second's.
    fn pairs_from_table(table: &[&[usize]]) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, row) in table.iter().enumerate() {
            for (j, &n) in row.iter().enumerate() {
                pairs.extend(std::iter::repeat_n((i, j), n));
            }
        }
        pairs
    }

    /// Per-subject category counts from raw ratings coded 1..=k.
    fn counts_from_ratings(ratings: &[[usize; 6]], k: usize) -> Vec<Vec<u32>> {
        ratings
            .iter()
            .map(|row| {
                let mut counts = vec![0; k];
                for &r in row {
                    counts[r - 1] += 1;
                }
                counts
            })
            .collect()
    }

    /// Units from one line per observer, "." for a missing value.
    fn units_from_observers(observers: &[&str]) -> Vec<Vec<Option<f64>>> {
        let rows: Vec<Vec<Option<f64>>> = observers
            .iter()
            .map(|line| line.split_whitespace().map(|v| v.parse().ok()).collect())
            .collect();
        let width = rows[0].len();
        (0..width)
            .map(|u| rows.iter().map(|row| row[u]).collect())
            .collect()
    }

    /// A fixed shuffle of subjects, for the invariance tests.
    fn shuffled<T: Clone>(items: &[T]) -> Vec<T> {
        let mut items = items.to_vec();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for i in (1..items.len()).rev() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            items.swap(i, (state >> 33) as usize % (i + 1));
        }
        items
    }

    // --- Cohen's kappa ---------------------------------------------------

    #[test]
    fn cohen_two_by_two_is_0_40() {
        // 20 both yes, 5 yes/no, 10 no/yes, 15 both no: the worked example
        // of Wikipedia's "Cohen's kappa" (p_o 0.7, p_e 0.5, kappa 0.4).
        let pairs = pairs_from_table(&[&[20, 5], &[10, 15]]);
        let k = cohen_kappa(&pairs, 2, Weights::Unweighted).unwrap();
        close(k.value, 0.40, 2);
        close(k.observed, 0.7, 12);
        close(k.expected, 0.5, 12);
        assert_eq!((k.subjects, k.ratings), (50, 100));
    }

    // SAS output for the 3x3 table [[0,4,1],[0,8,0],[0,1,5]], recorded in
    // statsmodels/stats/tests/test_inter_rater.py (TestUnweightedCohens,
    // TestWeightedCohens): simple kappa 0.4842, weighted kappa 0.4701 with
    // SAS's default Cicchetti-Allison (linear) weights. Every declared
    // category is used in this table, so declared and observed agree.
    const SAS_TABLE: [&[usize]; 3] = [&[0, 4, 1], &[0, 8, 0], &[0, 1, 5]];

    #[test]
    fn cohen_matches_sas_unweighted_and_linear() {
        let pairs = pairs_from_table(&SAS_TABLE);
        close(
            cohen_kappa(&pairs, 3, Weights::Unweighted).unwrap().value,
            0.4842,
            4,
        );
        close(
            cohen_kappa(&pairs, 3, Weights::Linear).unwrap().value,
            0.4701,
            4,
        );
    }

    // R's irr `anxiety` data, raters 2 and 3 (20 subjects, scores 1 to 6),
    // as held in statsmodels/stats/tests/test_inter_rater.py.
    const ANXIETY_RATER2: [usize; 20] =
        [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4];
    const ANXIETY_RATER3: [usize; 20] =
        [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2];

    /// Anxiety pairs as indices into the declared scale 1..=6.
    fn anxiety_declared() -> Vec<(usize, usize)> {
        ANXIETY_RATER2
            .iter()
            .zip(&ANXIETY_RATER3)
            .map(|(&a, &b)| (a - 1, b - 1))
            .collect()
    }

    /// Anxiety pairs as indices into the scores observed (1, 2, 3, 4, 6;
    /// nobody scored 5), which is how irr builds its table.
    fn anxiety_observed() -> Vec<(usize, usize)> {
        let rank = |v: usize| [1, 2, 3, 4, 6].iter().position(|&o| o == v).unwrap();
        ANXIETY_RATER2
            .iter()
            .zip(&ANXIETY_RATER3)
            .map(|(&a, &b)| (rank(a), rank(b)))
            .collect()
    }

    #[test]
    fn weighted_kappa_matches_irr_over_observed_categories() {
        // irr::kappa2(anxiety[,2:3]) with weights "unweighted", "equal"
        // (linear) and "squared" (quadratic): -0.006289308, 0.1459075,
        // 0.2520325 (statsmodels test_cohens_kappa_irr). irr weights over the
        // five scores observed, so we reproduce it by declaring only those.
        let pairs = anxiety_observed();
        close(
            cohen_kappa(&pairs, 5, Weights::Unweighted).unwrap().value,
            -0.006289308,
            9,
        );
        close(
            cohen_kappa(&pairs, 5, Weights::Linear).unwrap().value,
            0.1459075,
            7,
        );
        close(
            cohen_kappa(&pairs, 5, Weights::Quadratic).unwrap().value,
            0.2520325,
            7,
        );
    }

    #[test]
    fn weighted_kappa_uses_declared_categories() {
        // The same ratings on the declared 1..=6 scale: the empty category 5
        // leaves unweighted kappa alone but changes both weighted kappas,
        // because 4 against 6 is now two steps apart, not one.
        let (declared, observed) = (anxiety_declared(), anxiety_observed());
        let unweighted = cohen_kappa(&declared, 6, Weights::Unweighted).unwrap();
        close(unweighted.value, -0.006289308, 9);
        for weights in [Weights::Linear, Weights::Quadratic] {
            let ours = cohen_kappa(&declared, 6, weights).unwrap().value;
            let irr = cohen_kappa(&observed, 5, weights).unwrap().value;
            assert!((ours - irr).abs() > 1e-3, "{weights:?}: {ours} vs {irr}");
        }
        // A 0-3 item whose raters never used 2: declared, 1 against 3 is
        // two steps of three; observed only, it would be one step of two.
        let declared = [
            (0, 0),
            (1, 1),
            (3, 3),
            (0, 1),
            (1, 3),
            (3, 3),
            (0, 0),
            (1, 0),
        ];
        let observed: Vec<(usize, usize)> = declared
            .iter()
            .map(|&(a, b)| (a.min(2), b.min(2)))
            .collect();
        for weights in [Weights::Linear, Weights::Quadratic] {
            let ours = cohen_kappa(&declared, 4, weights).unwrap().value;
            let irr = cohen_kappa(&observed, 3, weights).unwrap().value;
            assert!((ours - irr).abs() > 1e-3, "{weights:?}: {ours} vs {irr}");
        }
    }

    #[test]
    fn unused_end_categories_only_rescale_the_weights() {
        // A 0-2 item whose raters never used 2: the near miss 0/1 earns half
        // credit over the declared three categories and none over the two
        // observed, but the weights differ by an affine map, which kappa
        // does not see.
        let pairs = [(0, 0), (1, 1), (0, 1), (1, 1), (0, 0)];
        let declared = cohen_kappa(&pairs, 3, Weights::Linear).unwrap();
        let observed = cohen_kappa(&pairs, 2, Weights::Linear).unwrap();
        close(declared.observed, 0.9, 12);
        close(observed.observed, 0.8, 12);
        close(declared.value, observed.value, 12);
    }

    #[test]
    fn linear_and_quadratic_weights_follow_the_formulas() {
        close(Weights::Linear.weight(0, 2, 5), 0.5, 12);
        close(Weights::Quadratic.weight(0, 2, 5), 0.75, 12);
        close(Weights::Quadratic.weight(0, 4, 5), 0.0, 12);
        close(Weights::Unweighted.weight(1, 2, 5), 0.0, 12);
        close(Weights::Linear.weight(3, 3, 5), 1.0, 12);
    }

    // --- Fleiss' kappa ---------------------------------------------------

    // Fleiss (1971), psychiatric diagnoses: 30 subjects, 6 raters, 5
    // categories (1 depression, 2 personality disorder, 3 schizophrenia,
    // 4 neurosis, 5 other). The raw ratings as in R irr's `diagnoses` and
    // statsmodels/stats/tests/test_inter_rater.py.
    const DIAGNOSES: [[usize; 6]; 30] = [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ];

    #[test]
    fn fleiss_1971_diagnoses_is_0_4302() {
        let counts = counts_from_ratings(&DIAGNOSES, 5);
        // Column totals as checked in statsmodels' test_aggregate_raters.
        let totals: Vec<u32> = (0..5).map(|j| counts.iter().map(|r| r[j]).sum()).collect();
        assert_eq!(totals, [26, 26, 30, 55, 43]);
        let k = fleiss_kappa(&counts).unwrap();
        // Quoted as 0.4302; irr::kappam.fleiss gives 0.4302445 (recorded in
        // statsmodels' test_fleiss_kappa_irr).
        close(k.value, 0.4302, 4);
        close(k.value, 0.4302445, 7);
        assert_eq!((k.subjects, k.ratings), (30, 180));
    }

    #[test]
    fn fleiss_wikipedia_example_is_0_210() {
        // Wikipedia's "Fleiss' kappa" worked example (14 raters, 10
        // subjects, 5 categories), also statsmodels' test_fleiss_kappa.
        let counts = vec![
            vec![0, 0, 0, 0, 14],
            vec![0, 2, 6, 4, 2],
            vec![0, 0, 3, 5, 6],
            vec![0, 3, 9, 2, 0],
            vec![2, 2, 8, 1, 1],
            vec![7, 7, 0, 0, 0],
            vec![3, 2, 6, 3, 0],
            vec![2, 5, 3, 2, 2],
            vec![6, 5, 2, 1, 0],
            vec![0, 2, 2, 3, 7],
        ];
        let k = fleiss_kappa(&counts).unwrap();
        close(k.value, 0.210, 3);
        close(k.observed, 0.378, 3);
        close(k.expected, 0.213, 3);
    }

    // --- Krippendorff's alpha --------------------------------------------

    // Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability",
    // its reliability data with missing values: 4 observers, 12 units,
    // values 1 to 5, "." missing. Unit 12 has one value only and is not
    // pairable. Published: nominal 0.743, ordinal 0.815, interval 0.849 (the
    // krippendorff Python package's tests use the same data for 0.815).
    const KRIPPENDORFF_2011: [&str; 4] = [
        "1 2 3 3 2 1 4 1 2 . . .",
        "1 2 3 3 2 2 4 1 2 5 . 3",
        ". 3 3 3 2 3 4 2 2 5 1 .",
        "1 2 3 3 2 4 4 1 2 5 1 .",
    ];
    const ONE_TO_FIVE: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];

    #[test]
    fn krippendorff_2011_all_three_levels() {
        let units = units_from_observers(&KRIPPENDORFF_2011);
        let alpha = |level| krippendorff_alpha(&units, level, &ONE_TO_FIVE).unwrap();
        let nominal = alpha(Level::Nominal);
        close(nominal.value, 0.743, 3);
        close(alpha(Level::Ordinal).value, 0.815, 3);
        close(alpha(Level::Interval).value, 0.849, 3);
        // 41 values, 40 pairable in 11 units; 8 of the 40 pairings disagree.
        assert_eq!((nominal.subjects, nominal.ratings), (11, 40));
        close(nominal.observed, 0.2, 12);
    }

    #[test]
    fn krippendorff_wikipedia_example() {
        // Wikipedia's "Krippendorff's alpha" computational example (3
        // coders, 15 units, values 1 to 4): nominal 0.691358, interval
        // 0.810845 (as asserted in the krippendorff package's tests).
        let units = units_from_observers(&[
            ". . . . . 3 4 1 2 1 1 3 3 . 3",
            "1 . 2 1 3 3 4 3 . . . . . . .",
            ". . 2 1 3 4 4 . 2 1 1 3 3 . 4",
        ]);
        let declared = [1.0, 2.0, 3.0, 4.0];
        let nominal = krippendorff_alpha(&units, Level::Nominal, &declared).unwrap();
        close(nominal.value, 0.691358, 6);
        let interval = krippendorff_alpha(&units, Level::Interval, &declared).unwrap();
        close(interval.value, 0.810845, 6);
    }

    #[test]
    fn alpha_does_not_depend_on_declared_order_or_unused_values() {
        let units = units_from_observers(&KRIPPENDORFF_2011);
        let shuffled_scale = [5.0, 3.0, 1.0, 4.0, 2.0];
        let wider = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        for level in [Level::Nominal, Level::Ordinal] {
            let base = krippendorff_alpha(&units, level, &ONE_TO_FIVE).unwrap();
            for declared in [&shuffled_scale[..], &wider[..]] {
                let other = krippendorff_alpha(&units, level, declared).unwrap();
                close(other.value, base.value, 12);
            }
        }
        // Interval alpha ignores the range; its D_o and D_e are in its units.
        let base = krippendorff_alpha(&units, Level::Interval, &ONE_TO_FIVE).unwrap();
        let wide = krippendorff_alpha(&units, Level::Interval, &wider).unwrap();
        close(wide.value, base.value, 12);
        close(wide.observed * 36.0, base.observed * 16.0, 12);
    }

    #[test]
    fn interval_alpha_stays_finite_at_the_ends_of_f64() {
        let units = vec![
            vec![Some(f64::MAX), Some(f64::MAX)],
            vec![Some(-f64::MAX), Some(0.0)],
            vec![Some(0.0), Some(-0.0)],
        ];
        let a = krippendorff_alpha(&units, Level::Interval, &[-f64::MAX, 0.0, f64::MAX]).unwrap();
        assert!(a.value.is_finite() && a.observed.is_finite() && a.expected.is_finite());
    }

    // --- Shared properties -----------------------------------------------

    #[test]
    fn permuting_subjects_changes_nothing() {
        let pairs = anxiety_declared();
        for weights in [Weights::Unweighted, Weights::Linear, Weights::Quadratic] {
            let a = cohen_kappa(&pairs, 6, weights).unwrap();
            let b = cohen_kappa(&shuffled(&pairs), 6, weights).unwrap();
            close(a.value, b.value, 12);
            assert_eq!(a.subjects, b.subjects);
        }
        let counts = counts_from_ratings(&DIAGNOSES, 5);
        let shuffled_counts = shuffled(&counts);
        assert_ne!(counts, shuffled_counts);
        close(
            fleiss_kappa(&counts).unwrap().value,
            fleiss_kappa(&shuffled_counts).unwrap().value,
            12,
        );
        let units = units_from_observers(&KRIPPENDORFF_2011);
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            let a = krippendorff_alpha(&units, level, &ONE_TO_FIVE).unwrap();
            let b = krippendorff_alpha(&shuffled(&units), level, &ONE_TO_FIVE).unwrap();
            close(a.value, b.value, 12);
            assert_eq!((a.subjects, a.ratings), (b.subjects, b.ratings));
        }
    }

    #[test]
    fn perfect_agreement_is_one() {
        let pairs = [(0, 0), (1, 1), (2, 2), (1, 1)];
        for weights in [Weights::Unweighted, Weights::Linear, Weights::Quadratic] {
            assert_eq!(cohen_kappa(&pairs, 3, weights).unwrap().value, 1.0);
        }
        let counts = vec![vec![4, 0, 0], vec![0, 4, 0], vec![0, 0, 4]];
        assert_eq!(fleiss_kappa(&counts).unwrap().value, 1.0);
        let units = vec![
            vec![Some(1.0), Some(1.0), None],
            vec![Some(2.0), Some(2.0), Some(2.0)],
            vec![None, Some(0.0), Some(0.0)],
        ];
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            let a = krippendorff_alpha(&units, level, &[0.0, 1.0, 2.0]).unwrap();
            assert_eq!(a.value, 1.0);
        }
    }

    // --- Refusals --------------------------------------------------------

    #[test]
    fn cohen_refusals() {
        use AgreementError::*;
        let few = TooFewSubjects {
            found: 1,
            minimum: MIN_SUBJECTS,
        };
        assert_eq!(cohen_kappa(&[(0, 1)], 2, Weights::Linear), Err(few));
        assert_eq!(
            cohen_kappa(&[], 2, Weights::Linear),
            Err(TooFewSubjects {
                found: 0,
                minimum: MIN_SUBJECTS
            })
        );
        let pairs = [(0, 1), (1, 0)];
        assert_eq!(
            cohen_kappa(&pairs, 1, Weights::Unweighted),
            Err(TooFewCategories { found: 1 })
        );
        assert_eq!(
            cohen_kappa(&pairs, 0, Weights::Unweighted),
            Err(TooFewCategories { found: 0 })
        );
        assert_eq!(
            cohen_kappa(&pairs, MAX_CATEGORIES + 1, Weights::Unweighted),
            Err(TooManyCategories {
                found: MAX_CATEGORIES + 1,
                maximum: MAX_CATEGORIES
            })
        );
        assert_eq!(
            cohen_kappa(&[(0, 1), (1, 3)], 3, Weights::Quadratic),
            Err(CategoryOutOfRange {
                subject: 1,
                rater: 1,
                index: 3,
                categories: 3
            })
        );
        assert_eq!(
            cohen_kappa(&[(usize::MAX, 0), (1, 1)], 3, Weights::Linear),
            Err(CategoryOutOfRange {
                subject: 0,
                rater: 0,
                index: usize::MAX,
                categories: 3
            })
        );
        // Every rating the same category: expected agreement is 1.
        assert_eq!(
            cohen_kappa(&[(2, 2), (2, 2), (2, 2)], 3, Weights::Linear),
            Err(NoVariation)
        );
        // Each rater constant but different: defined (kappa 0 unweighted).
        let k = cohen_kappa(&[(0, 1), (0, 1)], 2, Weights::Unweighted).unwrap();
        assert_eq!(k.value, 0.0);
    }

    #[test]
    fn fleiss_refusals() {
        use AgreementError::*;
        assert_eq!(
            fleiss_kappa(&[vec![1, 1]]),
            Err(TooFewSubjects {
                found: 1,
                minimum: MIN_SUBJECTS
            })
        );
        assert_eq!(
            fleiss_kappa(&[vec![2], vec![2]]),
            Err(TooFewCategories { found: 1 })
        );
        assert_eq!(
            fleiss_kappa(&[vec![], vec![]]),
            Err(TooFewCategories { found: 0 })
        );
        let wide = vec![vec![1; MAX_CATEGORIES + 1]; 2];
        assert_eq!(
            fleiss_kappa(&wide),
            Err(TooManyCategories {
                found: MAX_CATEGORIES + 1,
                maximum: MAX_CATEGORIES
            })
        );
        assert_eq!(
            fleiss_kappa(&[vec![1, 0], vec![0, 1]]),
            Err(TooFewRaters { found: 1 })
        );
        assert_eq!(
            fleiss_kappa(&[vec![1, 1], vec![1, 1, 0]]),
            Err(RaggedRow {
                subject: 1,
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            fleiss_kappa(&[vec![1, 1], vec![2, 0], vec![2, 1]]),
            Err(UnequalRaters {
                subject: 2,
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            fleiss_kappa(&[vec![u32::MAX, u32::MAX], vec![u32::MAX, 1]]),
            Err(UnequalRaters {
                subject: 1,
                expected: 2 * u64::from(u32::MAX),
                found: u64::from(u32::MAX) + 1
            })
        );
        assert_eq!(
            fleiss_kappa(&[vec![0, 3, 0], vec![0, 3, 0]]),
            Err(NoVariation)
        );
    }

    #[test]
    fn alpha_refusals() {
        use AgreementError::*;
        let units = vec![vec![Some(1.0), Some(2.0)], vec![Some(2.0), Some(2.0)]];
        let alpha = |units: &[Vec<Option<f64>>], declared: &[f64]| {
            krippendorff_alpha(units, Level::Ordinal, declared)
        };
        assert_eq!(alpha(&units, &[1.0]), Err(TooFewCategories { found: 1 }));
        let many: Vec<f64> = (0..=MAX_CATEGORIES).map(|v| v as f64).collect();
        assert_eq!(
            alpha(&units, &many),
            Err(TooManyCategories {
                found: MAX_CATEGORIES + 1,
                maximum: MAX_CATEGORIES
            })
        );
        assert_eq!(
            alpha(&units, &[1.0, f64::NAN]),
            Err(InvalidDeclared { position: 1 })
        );
        assert_eq!(
            alpha(&units, &[f64::INFINITY, 1.0, 2.0]),
            Err(InvalidDeclared { position: 0 })
        );
        assert_eq!(
            alpha(&units, &[1.0, 2.0, 1.0]),
            Err(InvalidDeclared { position: 2 })
        );
        assert_eq!(
            alpha(&units, &[0.0, -0.0, 1.0]),
            Err(InvalidDeclared { position: 1 })
        );
        for value in [2.5, f64::NAN, f64::INFINITY, -1.0] {
            // Refused even in a unit that could not be paired.
            let units = vec![units[0].clone(), vec![None, Some(value)]];
            match alpha(&units, &[0.0, 1.0, 2.0]) {
                Err(UndeclaredValue {
                    unit: 1,
                    rater: 1,
                    value: v,
                }) => assert!(v == value || (v.is_nan() && value.is_nan())),
                other => panic!("{value}: {other:?}"),
            }
        }
        assert_eq!(
            alpha(&[vec![Some(1.0), None], vec![Some(1.0)]], &[1.0, 2.0]),
            Err(RaggedRow {
                subject: 1,
                expected: 2,
                found: 1
            })
        );
        assert_eq!(alpha(&[], &[1.0, 2.0]), Err(NoPairableUnits));
        assert_eq!(
            alpha(&[vec![Some(1.0), None], vec![None, Some(2.0)]], &[1.0, 2.0]),
            Err(NoPairableUnits)
        );
        assert_eq!(
            alpha(&[vec![Some(1.0)], vec![Some(2.0)]], &[1.0, 2.0]),
            Err(NoPairableUnits)
        );
        // Variation only in an unpairable unit does not count.
        assert_eq!(
            alpha(
                &[vec![Some(2.0), Some(2.0)], vec![Some(1.0), None]],
                &[1.0, 2.0]
            ),
            Err(NoVariation)
        );
    }

    #[test]
    fn errors_explain_themselves() {
        let errors = [
            AgreementError::TooFewSubjects {
                found: 1,
                minimum: 2,
            },
            AgreementError::TooFewCategories { found: 1 },
            AgreementError::TooManyCategories {
                found: 1001,
                maximum: 1000,
            },
            AgreementError::CategoryOutOfRange {
                subject: 0,
                rater: 1,
                index: 7,
                categories: 3,
            },
            AgreementError::RaggedRow {
                subject: 2,
                expected: 3,
                found: 4,
            },
            AgreementError::TooFewRaters { found: 1 },
            AgreementError::UnequalRaters {
                subject: 1,
                expected: 3,
                found: 2,
            },
            AgreementError::InvalidDeclared { position: 1 },
            AgreementError::UndeclaredValue {
                unit: 0,
                rater: 0,
                value: 9.0,
            },
            AgreementError::NoPairableUnits,
            AgreementError::NoVariation,
        ];
        for e in errors {
            let shown = e.to_string();
            assert!(shown.len() > 20, "{shown}");
            let boxed: Box<dyn std::error::Error> = Box::new(e);
            assert_eq!(boxed.to_string(), shown);
        }
    }
}
