//! Use cases for instruments. Access is checked at the subject's site; every
//! decision a write rests on (is it still a draft? does the participant's
//! consent still cover taking part? is there already a response?) is made
//! inside the write's transaction, and the database's unique index refuses a
//! second response for the same subject, rater and time point whatever the
//! race.

use std::collections::BTreeMap;

use super::definition::{RaterRole, Subject};
use super::model::{InstrumentVersion, Response, Status};
use super::scoring::{self, Answers, Score, ENGINE_VERSION};
use super::store::{self, ResponseFilter};
use crate::app::App;
use crate::audit::action::Key;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Permission, Role};
use crate::auth::policy::{permits, require_site, require_study, site_scope, Scope};
use crate::consent::forms::model::DataUse;
use crate::consent::gate;
use crate::db::list::{Page, PageRequest, SiteScope};
use crate::db::Tx;
use crate::error::{AppError, FieldProblem, Result};
use crate::ids::{InstrumentVersionId, ParticipantId, ResponseId, StudyId};

fn may_rate(actor: &Actor, study: &StudyId) -> bool {
    permits(actor, Permission::RateInstruments, Scope::Study(study))
}

fn may_see_results(actor: &Actor, study: &StudyId) -> bool {
    permits(
        actor,
        Permission::ViewInstrumentResults,
        Scope::Study(study),
    )
}

/// The instruments a study may use, for those who rate or read results.
pub async fn instruments(
    app: &App,
    actor: &Actor,
    study: &StudyId,
) -> Result<Vec<InstrumentVersion>> {
    if !may_rate(actor, study) {
        require_study(actor, Permission::ViewInstrumentResults, study)?;
    }
    Ok(store::versions_for_study(&app.db.pool, study).await?)
}

pub async fn instrument(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &InstrumentVersionId,
) -> Result<InstrumentVersion> {
    if !may_rate(actor, study) {
        require_study(actor, Permission::ViewInstrumentResults, study)?;
    }
    store::version(&app.db.pool, study, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// What beginning a response names.
#[derive(Clone, Debug)]
pub struct Start<'a> {
    pub version: &'a InstrumentVersionId,
    pub subject_id: &'a str,
    pub rater_role: RaterRole,
    /// A researcher entering a paper form names its rater by a code.
    pub rater_code: Option<&'a str>,
    pub time_point: &'a str,
}

/// A rater's code as a team keeps it, e.g. SU-07: capital letters, digits
/// and hyphens, so a name has nowhere to go.
fn parse_rater_code(raw: &str) -> Result<String> {
    let code = raw.trim();
    let ok = (1..=20).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(code.to_owned())
    } else {
        Err(AppError::invalid(
            "rater_code",
            "Use the rater's code, e.g. SU-07: up to 20 capital letters, digits and hyphens (never a name).",
        ))
    }
}

/// Who may rate in which role: a rater as themselves in any role but
/// researcher; a researcher as themselves (researcher) or entering a paper
/// form for a rater named by a code.
fn check_rater(actor: &Actor, study: &StudyId, s: &Start<'_>) -> Result<Option<String>> {
    let role = actor.membership(study).map(|m| m.role);
    match (role, s.rater_code.filter(|c| !c.trim().is_empty())) {
        (Some(Role::Researcher), Some(code)) => parse_rater_code(code).map(Some),
        (Some(Role::Researcher), None) if s.rater_role == RaterRole::Researcher => Ok(None),
        (Some(Role::Researcher), None) => Err(AppError::invalid(
            "rater_code",
            "To enter another rater's form, give their code; you rate as a researcher yourself.",
        )),
        (_, Some(_)) => Err(AppError::invalid(
            "rater_code",
            "Only a researcher enters forms for other raters.",
        )),
        (_, None) if s.rater_role == RaterRole::Researcher => Err(AppError::invalid(
            "rater_role",
            "Only a researcher rates as a researcher.",
        )),
        (_, None) => Ok(None),
    }
}

/// Begins a response as a draft. Refused, with nothing stored, for a rater
/// role the instrument does not allow, a time point it does not have, a
/// subject outside the study, a participant whose consent does not cover
/// taking part, or a response that already exists.
pub async fn start(app: &App, actor: &Actor, study: &StudyId, s: Start<'_>) -> Result<Response> {
    require_study(actor, Permission::RateInstruments, study)?;
    let version = store::version(&app.db.pool, study, s.version)
        .await?
        .ok_or_else(|| AppError::invalid("instrument_version_id", "Choose an instrument."))?;
    let d = &version.definition;
    let mut problems = Vec::new();
    if !d.rater_roles.contains(&s.rater_role) {
        let allowed: Vec<&str> = d.rater_roles.iter().map(|r| r.label()).collect();
        problems.push(FieldProblem {
            field: "rater_role".into(),
            detail: format!("This instrument is completed by: {}.", allowed.join(", ")),
        });
    }
    if d.time_point(s.time_point).is_none() {
        problems.push(FieldProblem {
            field: "time_point".into(),
            detail: "Choose one of the instrument's time points.".into(),
        });
    }
    let rater_code = match check_rater(actor, study, &s) {
        Ok(code) => code,
        Err(AppError::Invalid(p)) => {
            problems.extend(p);
            None
        }
        Err(e) => return Err(e),
    };
    let subject_wrong = || {
        AppError::invalid(
            "subject_id",
            format!("Choose a {} of this study.", d.subject.as_str()),
        )
    };
    let site = store::subject_site(&app.db.pool, study, d.subject, s.subject_id)
        .await?
        .ok_or_else(subject_wrong);
    let site = match site {
        Ok(site) => Some(site),
        Err(AppError::Invalid(p)) => {
            problems.extend(p);
            None
        }
        Err(e) => return Err(e),
    };
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems));
    }
    let site = site.ok_or_else(subject_wrong)?;
    require_site(actor, Permission::RateInstruments, study, &site)?;
    let id = ResponseId::new();
    let now = app.now();
    let mut tx = app.db.begin().await?;
    // The definition checked above is the one the response is given under:
    // a file that changes an unused version waits for this lock, or went
    // first and is seen here.
    if store::lock_version(&mut tx, &version.id).await?.as_deref() != Some(&version.content_hash) {
        return Err(AppError::Conflict(
            "The instrument's definition changed a moment ago: please begin again.".into(),
        ));
    }
    let study_code = participant_permit(&mut tx, d.subject, s.subject_id)
        .await?
        .map(|(code, _)| code);
    let new = store::NewResponse {
        id: &id,
        study,
        version: &version,
        subject_kind: d.subject,
        subject_id: s.subject_id,
        site: &site,
        entered_by: &actor.account_id,
        rater_role: s.rater_role,
        rater_code: rater_code.as_deref(),
        time_point: s.time_point,
    };
    store::insert_response(&mut tx, &new, now)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => AppError::Conflict(
                "This rater already has a response for this subject at this time point: continue that one."
                    .into(),
            ),
            _ => e.into(),
        })?;
    let action = Action::ResponseStart {
        instrument_id: Key::published(&d.id),
        version: d.version,
        subject_kind: d.subject.as_str(),
        study_code,
        rater_role: s.rater_role.as_str(),
        on_behalf: rater_code.is_some(),
        time_point: Key::published(s.time_point),
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Response(id.clone()));
    audit::append(&mut tx, now, entry).await?;
    let response = store::response(tx.conn(), study, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(response)
}

/// For a participant subject: the gate's permission to use their data for
/// taking part, in this transaction (the participant is locked until it
/// ends), with their study code for the audit trail.
async fn participant_permit(
    tx: &mut Tx,
    kind: Subject,
    subject_id: &str,
) -> Result<Option<(crate::ids::StudyCode, gate::Permit)>> {
    if kind != Subject::Participant {
        return Ok(None);
    }
    let id = ParticipantId::parse(subject_id).ok_or(AppError::NotFound)?;
    let permit = gate::may(tx, &id, DataUse::TakePart).await?;
    let code = crate::participants::store::lock(tx, &id).await?.study_code;
    Ok(Some((code, permit)))
}

/// A response, for the account that entered it or a reader of results at
/// the subject's site.
pub async fn response(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &ResponseId,
) -> Result<Response> {
    if !may_rate(actor, study) {
        require_study(actor, Permission::ViewInstrumentResults, study)?;
    }
    let found = store::response(&app.db.pool, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let own = found.entered_by == actor.account_id;
    let reader = may_see_results(actor, study)
        && match site_scope(actor, Permission::ViewInstrumentResults, study) {
            SiteScope::All => true,
            SiteScope::Only(sites) => sites.contains(&found.site_id),
        };
    if own || reader {
        Ok(found)
    } else {
        Err(AppError::Forbidden(
            "You can read only the responses you entered.".into(),
        ))
    }
}

/// Responses: every one at the reader's sites for a reader of results,
/// otherwise those the account entered itself.
pub async fn responses(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    mut filter: ResponseFilter<'_>,
    page: &PageRequest<ResponseId>,
) -> Result<Page<Response, ResponseId>> {
    let sites = if may_see_results(actor, study) {
        site_scope(actor, Permission::ViewInstrumentResults, study)
    } else {
        require_study(actor, Permission::RateInstruments, study)?;
        filter.entered_by = Some(&actor.account_id);
        site_scope(actor, Permission::RateInstruments, study)
    };
    Ok(store::list_responses(&app.db.pool, study, &sites, &filter, page).await?)
}

fn answer_problems(problems: Vec<scoring::AnswerProblem>) -> AppError {
    AppError::Invalid(
        problems
            .into_iter()
            .map(|p| FieldProblem {
                field: format!("answers.{}", p.item),
                detail: p.message,
            })
            .collect(),
    )
}

/// Saves a draft's answers, or submits them: on submit every required item
/// must be answered, the scores are computed, and for a participant the
/// consent gate is asked again. Only the account that began a response
/// changes it, and only while it is a draft.
pub async fn save(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    id: &ResponseId,
    answers: Answers,
    submit: bool,
) -> Result<Response> {
    require_study(actor, Permission::RateInstruments, study)?;
    let current = store::response(&app.db.pool, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if current.entered_by != actor.account_id {
        return Err(AppError::Forbidden(
            "Only the person who began a response changes it.".into(),
        ));
    }
    let version = store::version(&app.db.pool, study, &current.instrument_version_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let d = &version.definition;
    let problems = scoring::check_answers(d, &answers, submit);
    if !problems.is_empty() {
        return Err(answer_problems(problems));
    }
    let answers_json = serde_json::to_string(&answers).map_err(anyhow::Error::from)?;
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let locked = store::lock_response(&mut tx, study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if locked.status != Status::Draft {
        return Err(AppError::Conflict(
            "This response was submitted; it can no longer change.".into(),
        ));
    }
    if !submit {
        store::save_answers(&mut tx, id, &answers_json, now).await?;
    } else {
        let permit = participant_permit(&mut tx, d.subject, &locked.subject_id).await?;
        let scores = scoring::score(d, &answers);
        let scores_json = serde_json::to_string(&scores).map_err(anyhow::Error::from)?;
        let changed = store::submit(
            &mut tx,
            id,
            &answers_json,
            &scores_json,
            ENGINE_VERSION,
            now,
        )
        .await?;
        if changed == 0 {
            return Err(AppError::Conflict(
                "This response was submitted; it can no longer change.".into(),
            ));
        }
        let action = Action::ResponseSubmit {
            answered: answers.len(),
            scores: scores.iter().filter(|s| s.value.is_some()).count(),
            engine_version: ENGINE_VERSION,
            consent_record_id: permit.map(|(_, p)| p.record_id().clone()),
        };
        let entry = NewEntry::by_in_study(actor, study, action, Entity::Response(id.clone()));
        audit::append(&mut tx, now, entry).await?;
    }
    let saved = store::response(tx.conn(), study, id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(saved)
}

/// A response whose stored scores differ from what the engine computes now.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct ScoreDifference {
    pub response_id: ResponseId,
    pub score_key: String,
    pub stored: Option<f64>,
    pub computed: Option<f64>,
}

/// What a rescore found, and whether it replaced anything.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct RescoreReport {
    pub responses: u32,
    pub engine_version: u32,
    pub differences: Vec<ScoreDifference>,
    /// True when the differing scores were replaced (and audited).
    pub applied: bool,
}

fn differences(response: &Response, computed: &[Score]) -> Vec<ScoreDifference> {
    let stored: BTreeMap<&str, Option<f64>> = response
        .scores
        .iter()
        .map(|s| (s.key.as_str(), s.value))
        .collect();
    let mut out = Vec::new();
    for c in computed {
        let before = stored.get(c.key.as_str()).copied().flatten();
        let same = match (before, c.value) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (None, None) => true,
            _ => false,
        };
        if !same || !stored.contains_key(c.key.as_str()) {
            out.push(ScoreDifference {
                response_id: response.id.clone(),
                score_key: c.key.clone(),
                stored: before,
                computed: c.value,
            });
        }
    }
    for key in stored.keys() {
        if !computed.iter().any(|c| c.key == *key) {
            out.push(ScoreDifference {
                response_id: response.id.clone(),
                score_key: (*key).to_owned(),
                stored: stored.get(key).copied().flatten(),
                computed: None,
            });
        }
    }
    out
}

/// Recomputes every submitted response's scores with this engine and
/// reports each difference; with `apply`, replaces the differing scores in
/// one audited transaction. Never silent: a difference is always listed.
pub async fn rescore(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    version: &InstrumentVersionId,
    apply: bool,
) -> Result<RescoreReport> {
    require_study(actor, Permission::ManageInstruments, study)?;
    let v = store::version(&app.db.pool, study, version)
        .await?
        .ok_or(AppError::NotFound)?;
    let scope = site_scope(actor, Permission::ManageInstruments, study);
    let responses = store::submitted(&app.db.pool, study, &scope, version).await?;
    let mut diffs = Vec::new();
    let mut changed = Vec::new();
    for r in &responses {
        let computed = scoring::score(&v.definition, &r.answers);
        let d = differences(r, &computed);
        if !d.is_empty() || r.engine_version != Some(ENGINE_VERSION) {
            changed.push((r.id.clone(), computed));
        }
        diffs.extend(d);
    }
    if apply && !changed.is_empty() {
        let mut tx = app.db.begin().await?;
        for (id, scores) in &changed {
            let json = serde_json::to_string(scores).map_err(anyhow::Error::from)?;
            store::replace_scores(&mut tx, id, &json, ENGINE_VERSION).await?;
        }
        let action = Action::Rescore {
            instrument_id: Key::published(&v.definition.id),
            version: v.definition.version,
            responses: responses.len(),
            changed: changed.len(),
            engine_version: ENGINE_VERSION,
        };
        let entry = NewEntry::by_in_study(actor, study, action, Entity::InstrumentVersion(v.id));
        audit::append(&mut tx, app.now(), entry).await?;
        tx.commit().await?;
    }
    Ok(RescoreReport {
        responses: responses.len() as u32,
        engine_version: ENGINE_VERSION,
        differences: diffs,
        applied: apply && !changed.is_empty(),
    })
}

/// One participant's change in a score between two time points, as one
/// kind of rater saw it.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct ScoreOutcome {
    pub subject_id: String,
    /// The participant's study code (or the team's or site's name).
    pub subject: String,
    pub rater_role: RaterRole,
    pub change: scoring::Change,
}

fn rule_or_refuse<'a>(
    d: &'a super::definition::Definition,
    key: Option<&str>,
) -> Result<&'a super::definition::ScoreRule> {
    super::fidelity::chosen_rule(d, key)
        .ok_or_else(|| AppError::invalid("score", "Choose one of the instrument's scores."))
}

/// Change between two time points for every subject scored at both (the
/// mean where several raters of one kind rated), and whether it reaches the
/// score's minimal important change.
pub async fn outcomes(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    version: &InstrumentVersionId,
    score: Option<&str>,
    from: &str,
    to: &str,
) -> Result<Vec<ScoreOutcome>> {
    require_study(actor, Permission::ViewInstrumentResults, study)?;
    let v = store::version(&app.db.pool, study, version)
        .await?
        .ok_or(AppError::NotFound)?;
    let d = &v.definition;
    let rule = rule_or_refuse(d, score)?;
    for (field, tp) in [("from", from), ("to", to)] {
        if d.time_point(tp).is_none() {
            return Err(AppError::invalid(
                field,
                "Choose one of the instrument's time points.",
            ));
        }
    }
    let scope = site_scope(actor, Permission::ViewInstrumentResults, study);
    let responses = store::submitted(&app.db.pool, study, &scope, version).await?;
    type Cell = (Vec<f64>, Vec<f64>);
    let mut by_subject: BTreeMap<(String, String, RaterRole), Cell> = BTreeMap::new();
    for r in &responses {
        let Some(value) = r
            .scores
            .iter()
            .find(|s| s.key == rule.key)
            .and_then(|s| s.value)
        else {
            continue;
        };
        let cell = by_subject
            .entry((r.subject_id.clone(), r.subject_label.clone(), r.rater_role))
            .or_default();
        if r.time_point == from {
            cell.0.push(value);
        } else if r.time_point == to {
            cell.1.push(value);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(by_subject
        .into_iter()
        .filter(|(_, (a, b))| !a.is_empty() && !b.is_empty())
        .map(|((subject_id, subject, rater_role), (a, b))| ScoreOutcome {
            subject_id,
            subject,
            rater_role,
            change: scoring::change(rule, mean(&a), mean(&b)),
        })
        .collect())
}

/// The fidelity view of an instrument about teams, over the sites the
/// reader works on.
pub async fn fidelity(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    version: &InstrumentVersionId,
    score: Option<&str>,
) -> Result<super::fidelity::Fidelity> {
    require_study(actor, Permission::ViewInstrumentResults, study)?;
    let v = store::version(&app.db.pool, study, version)
        .await?
        .ok_or(AppError::NotFound)?;
    let d = &v.definition;
    if d.subject != Subject::Team {
        return Err(AppError::invalid(
            "version_id",
            "The fidelity view is for instruments about teams.",
        ));
    }
    let rule = rule_or_refuse(d, score)?;
    let scope = site_scope(actor, Permission::ViewInstrumentResults, study);
    let sites = crate::studies::store::sites(&app.db.pool, study, &scope).await?;
    let responses = store::submitted(&app.db.pool, study, &scope, version).await?;
    Ok(super::fidelity::fidelity(d, rule, &sites, &responses))
}

/// An imported instrument: the version now usable in the study, and what
/// the import ignored or read differently, for the researcher to review.
pub struct ImportedVersion {
    pub version: InstrumentVersion,
    pub notes: Vec<String>,
}

/// Imports an XLSForm or a REDCap data dictionary into the study, checked
/// exactly as a definition file is. Refused, with nothing stored, on any
/// problem (each named by sheet, row and column), or when the id and
/// version are taken: the unique index decides, whatever the race.
pub async fn import(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    file_name: &str,
    bytes: &[u8],
    options: &super::import::ImportOptions,
) -> Result<ImportedVersion> {
    require_study(actor, Permission::ManageInstruments, study)?;
    let imported = super::import::import(file_name, bytes, options).map_err(|problems| {
        AppError::Invalid(
            problems
                .iter()
                .map(|p| FieldProblem {
                    field: "file".into(),
                    detail: p.to_string(),
                })
                .collect(),
        )
    })?;
    let d = &imported.definition;
    let text = d.to_toml();
    let hash = super::catalogue::content_hash(&text);
    let source = format!(
        "imported from {}",
        file_name.chars().take(200).collect::<String>()
    );
    let new = store::NewVersion {
        definition: d,
        text: &text,
        source: &source,
        content_hash: &hash,
        study: Some(study),
    };
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let id = store::insert_version(&mut tx, &new, now)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => AppError::Conflict(format!(
                "{} version {} already exists: give the import another id or version.",
                d.id, d.version
            )),
            _ => e.into(),
        })?;
    let action = Action::InstrumentLoad {
        instrument_id: Key::published(&d.id),
        version: d.version,
        origin: "import",
        content_hash: crate::audit::action::Sha256Hex::parse(&hash)
            .ok_or_else(|| anyhow::anyhow!("a content hash is a SHA-256"))?,
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::InstrumentVersion(id.clone()));
    audit::append(&mut tx, now, entry).await?;
    let version = store::version(tx.conn(), study, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(ImportedVersion {
        version,
        notes: imported.notes,
    })
}
