//! The Connecting People fidelity view, for any instrument about teams:
//! per team and time point, the score by rater type, a combined score (the
//! mean of the rater types' means, so one type with many raters does not
//! outweigh the others) and its band; how far the rater types agree; and
//! intervention and control teams side by side by site (trust).

use std::collections::BTreeMap;

use serde::Serialize;

use super::agreement::{self, Level, Weights};
use super::definition::{Definition, RaterRole, ScoreRule};
use super::model::Response;
use super::scoring::{self, Answer};
use crate::studies::model::{Arm, Site};

/// One team's result at one time point.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct TeamPoint {
    pub time_point: String,
    /// Mean score by rater type, with how many responses each rests on.
    pub by_rater: Vec<RaterScore>,
    /// The mean of the rater types' means.
    pub combined: Option<f64>,
    pub band: Option<String>,
    /// Krippendorff's alpha (ordinal) between rater types over the items;
    /// None when fewer than two types rated or the items do not vary.
    pub agreement: Option<f64>,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct RaterScore {
    pub rater_role: RaterRole,
    pub mean: f64,
    pub responses: u32,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct TeamFidelity {
    pub team_id: String,
    pub team: String,
    pub site: String,
    pub arm: Option<Arm>,
    pub points: Vec<TeamPoint>,
}

/// Agreement between two rater types over every team, item and time point
/// both rated: weighted kappa over the declared categories.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct PairAgreement {
    pub first: RaterRole,
    pub second: RaterRole,
    pub weights: String,
    pub kappa: Option<f64>,
    pub ratings: u32,
    /// Why there is no figure, when there is none.
    pub note: Option<String>,
}

/// The mean rating of one item by one rater type, over teams, at a time point.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct ItemProfile {
    pub item: String,
    pub text: String,
    pub by_rater: Vec<RaterScore>,
}

#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Fidelity {
    pub score_key: String,
    pub score_label: String,
    /// The lowest value of the highest band, e.g. "High fidelity" from 1.5.
    pub threshold: Option<f64>,
    pub threshold_label: Option<String>,
    pub time_points: Vec<String>,
    pub teams: Vec<TeamFidelity>,
    pub pairs: Vec<PairAgreement>,
    /// Per item, at the last time point with responses.
    pub profile_time_point: Option<String>,
    pub profile: Vec<ItemProfile>,
}

/// The score the view shows: the one asked for, or the first with bands,
/// or the first.
pub fn chosen_rule<'a>(d: &'a Definition, key: Option<&str>) -> Option<&'a ScoreRule> {
    match key {
        Some(k) => d.scores.iter().find(|r| r.key == k),
        None => d
            .scores
            .iter()
            .find(|r| !r.bands.is_empty())
            .or_else(|| d.scores.first()),
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The lower median of whole-number ratings: always one of the values given.
fn lower_median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

fn rating(r: &Response, item: &str) -> Option<i64> {
    match r.answers.get(item) {
        Some(Answer::Number(v)) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

/// Builds the view from submitted responses about teams.
pub fn fidelity(
    d: &Definition,
    rule: &ScoreRule,
    sites: &[Site],
    responses: &[Response],
) -> Fidelity {
    let items = d.rule_items(rule);
    // The declared categories of the rule's items, when they share them.
    let declared: Vec<i64> = {
        let mut v: Vec<i64> = items
            .iter()
            .flat_map(|i| i.options(&d.scales).iter().map(|o| o.value))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let categorical = items.iter().all(|i| !i.options(&d.scales).is_empty());
    let score_of = |r: &Response| {
        r.scores
            .iter()
            .find(|s| s.key == rule.key)
            .and_then(|s| s.value)
    };
    let top = rule.bands.last();
    let mut teams = Vec::new();
    for site in sites {
        for team in &site.teams {
            let of_team: Vec<&Response> = responses
                .iter()
                .filter(|r| r.subject_id == team.id.as_str())
                .collect();
            let mut points = Vec::new();
            for tp in &d.time_points {
                let here: Vec<&Response> = of_team
                    .iter()
                    .copied()
                    .filter(|r| r.time_point == tp.key)
                    .collect();
                if here.is_empty() {
                    continue;
                }
                let mut by_role: BTreeMap<RaterRole, Vec<&Response>> = BTreeMap::new();
                for r in &here {
                    by_role.entry(r.rater_role).or_default().push(r);
                }
                let by_rater: Vec<RaterScore> = by_role
                    .iter()
                    .filter_map(|(role, rs)| {
                        let values: Vec<f64> = rs.iter().filter_map(|r| score_of(r)).collect();
                        Some(RaterScore {
                            rater_role: *role,
                            mean: mean(&values)?,
                            responses: values.len() as u32,
                        })
                    })
                    .collect();
                let combined = mean(&by_rater.iter().map(|r| r.mean).collect::<Vec<_>>());
                let agreement = if categorical && by_role.len() >= 2 {
                    let units: Vec<Vec<Option<f64>>> = items
                        .iter()
                        .map(|item| {
                            by_role
                                .values()
                                .map(|rs| {
                                    lower_median(
                                        rs.iter().filter_map(|r| rating(r, &item.key)).collect(),
                                    )
                                    .map(|v| v as f64)
                                })
                                .collect()
                        })
                        .collect();
                    let declared: Vec<f64> = declared.iter().map(|v| *v as f64).collect();
                    agreement::krippendorff_alpha(&units, Level::Ordinal, &declared)
                        .ok()
                        .map(|a| a.value)
                } else {
                    None
                };
                points.push(TeamPoint {
                    time_point: tp.key.clone(),
                    by_rater,
                    combined,
                    band: combined.and_then(|c| scoring::band(rule, c)),
                    agreement,
                });
            }
            teams.push(TeamFidelity {
                team_id: team.id.to_string(),
                team: team.name.clone(),
                site: site.name.clone(),
                arm: team.arm,
                points,
            });
        }
    }
    let roles: Vec<RaterRole> = {
        let mut v: Vec<RaterRole> = responses.iter().map(|r| r.rater_role).collect();
        v.sort();
        v.dedup();
        v
    };
    let mut pairs = Vec::new();
    for (i, first) in roles.iter().enumerate() {
        for second in &roles[i + 1..] {
            pairs.push(pair_agreement(
                &items,
                &declared,
                categorical,
                responses,
                *first,
                *second,
            ));
        }
    }
    let profile_time_point = d
        .time_points
        .iter()
        .rev()
        .find(|tp| responses.iter().any(|r| r.time_point == tp.key))
        .map(|tp| tp.key.clone());
    let profile = items
        .iter()
        .map(|item| ItemProfile {
            item: item.key.clone(),
            text: item.text.clone(),
            by_rater: roles
                .iter()
                .filter_map(|role| {
                    let values: Vec<f64> = responses
                        .iter()
                        .filter(|r| {
                            r.rater_role == *role
                                && Some(&r.time_point) == profile_time_point.as_ref()
                        })
                        .filter_map(|r| match r.answers.get(&item.key) {
                            Some(Answer::Number(v)) => Some(*v),
                            _ => None,
                        })
                        .collect();
                    Some(RaterScore {
                        rater_role: *role,
                        mean: mean(&values)?,
                        responses: values.len() as u32,
                    })
                })
                .collect(),
        })
        .collect();
    Fidelity {
        score_key: rule.key.clone(),
        score_label: rule.label.clone(),
        threshold: top.map(|b| b.from),
        threshold_label: top.map(|b| b.label.clone()),
        time_points: d.time_points.iter().map(|t| t.key.clone()).collect(),
        teams,
        pairs,
        profile_time_point,
        profile,
    }
}

fn pair_agreement(
    items: &[&super::definition::Item],
    declared: &[i64],
    categorical: bool,
    responses: &[Response],
    first: RaterRole,
    second: RaterRole,
) -> PairAgreement {
    let mut out = PairAgreement {
        first,
        second,
        weights: "quadratic".into(),
        kappa: None,
        ratings: 0,
        note: None,
    };
    if !categorical {
        out.note = Some("the items are not rated on declared categories".into());
        return out;
    }
    // One rating per team, time point, item and rater type (the lower
    // median of that type's raters), paired across the two types.
    let mut cells: BTreeMap<(&str, &str, &str), [Vec<i64>; 2]> = BTreeMap::new();
    for r in responses {
        let side = if r.rater_role == first {
            0
        } else if r.rater_role == second {
            1
        } else {
            continue;
        };
        for item in items {
            if let Some(v) = rating(r, &item.key) {
                cells
                    .entry((
                        r.subject_id.as_str(),
                        r.time_point.as_str(),
                        item.key.as_str(),
                    ))
                    .or_default()[side]
                    .push(v);
            }
        }
    }
    let index = |v: i64| declared.iter().position(|c| *c == v);
    let pairs: Vec<(usize, usize)> = cells
        .into_values()
        .filter_map(|[a, b]| Some((index(lower_median(a)?)?, index(lower_median(b)?)?)))
        .collect();
    out.ratings = pairs.len() as u32;
    match agreement::cohen_kappa(&pairs, declared.len(), Weights::Quadratic) {
        Ok(a) => out.kappa = Some(a.value),
        Err(e) => out.note = Some(e.to_string()),
    }
    out
}
