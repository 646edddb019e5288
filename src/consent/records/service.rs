//! Taking consent (online by the participant, or by a researcher in person,
//! by phone or on paper), inviting to online consent, a researcher recording
//! a withdrawal, and reading records and their copies. Every consent and
//! withdrawal goes through the kernel, inside a transaction that locks the
//! participant first.

use std::collections::BTreeMap;

use crate::app::App;
use crate::audit::action::Key;
use crate::audit::{self, Action, Entity, NewEntry};
use crate::auth::model::{Actor, Permission};
use crate::auth::policy::{require_site, require_study};
use crate::auth::service::{new_secret, secret_hash};
use crate::clock::{DAY, HOUR};
use crate::consent::forms::model::ConsentFormVersion;
use crate::consent::kernel::model::{ConsentMethod, EffectiveConsent, Submitted, WithdrawalScope};
use crate::consent::kernel::{self, Consent, Withdrawal, Withdrawn};
use crate::error::{AppError, Result};
use crate::ids::{ConsentRecordId, FormVersionId, ParticipantId, StudyId};
use crate::mail::Template;
use crate::media;
use crate::media::kind::MediaKind;
use crate::media::store::Purpose;
use crate::participants::model::Participant;

use super::store::{self, RecordSummary};

/// The participant, if the actor may take consent at their site: checked
/// before any input is read.
pub async fn participant_for_consent(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
) -> Result<Participant> {
    let p = crate::participants::service::get(app, actor, study, participant).await?;
    require_site(actor, Permission::TakeConsent, study, &p.site_id)?;
    Ok(p)
}

/// Consent taken by a researcher in person or by phone.
pub struct Taken<'a> {
    pub form_version_id: &'a FormVersionId,
    /// The language read, when not the form's own.
    pub language: Option<&'a str>,
    pub method: ConsentMethod,
    pub answers: BTreeMap<String, Submitted>,
    /// The participant's typed name (in person).
    pub signature: Option<&'a str>,
    /// Where the verbal consent recording is kept (verbal).
    pub verbal_record: Option<&'a str>,
    /// The scanned paper form (paper).
    pub scan: Option<bytes::Bytes>,
    /// Email the participant a copy of the form with the PDF attached.
    pub send_copy: bool,
}

/// What each method of taking consent keeps as its evidence.
type Evidence<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a bytes::Bytes>);

fn evidence<'a>(t: &'a Taken<'_>) -> Result<Evidence<'a>> {
    match t.method {
        ConsentMethod::Online => Err(AppError::invalid(
            "method",
            "Online consent is given by the participant through their invitation link.",
        )),
        ConsentMethod::ConsulteeAdvice => Err(AppError::invalid(
            "method",
            "Record a consultee's advice as such (consultee-advice).",
        )),
        ConsentMethod::InPersonWitnessed => Ok((Some(t.signature.unwrap_or_default()), None, None)),
        ConsentMethod::VerbalRecorded => {
            match t.verbal_record.map(str::trim).filter(|v| !v.is_empty()) {
                Some(v) => Ok((None, Some(v), None)),
                None => Err(AppError::invalid(
                    "verbal_record",
                    "Say where the recording of the verbal consent is kept.",
                )),
            }
        }
        ConsentMethod::PaperScanned => match t.scan.as_ref().filter(|s| !s.is_empty()) {
            Some(s) => Ok((None, None, Some(s))),
            None => Err(AppError::invalid(
                "scan",
                "Attach the scan of the signed paper form.",
            )),
        },
    }
}

/// Records consent taken by a researcher at the participant's site.
pub async fn take(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
    t: Taken<'_>,
) -> Result<ConsentRecordId> {
    participant_for_consent(app, actor, study, participant).await?;
    let form = crate::consent::forms::service::version_of(&app.db, study, t.form_version_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound => {
                AppError::invalid("form_version_id", "Choose a published form of this study.")
            }
            e => e,
        })?;
    let form = crate::consent::forms::service::in_language(&app.db, form, t.language).await?;
    let (signature, verbal_record, scan) = evidence(&t).map_err(|e| match e {
        // The answers' problems too, so the page names every one at once.
        AppError::Invalid(mut problems) => {
            if let Err(answers) = kernel::model::check_answers(&form.form.clauses, &t.answers) {
                problems.extend(answers.field_problems().iter().cloned());
            }
            AppError::Invalid(problems)
        }
        other => other,
    })?;
    // A scan goes to the media store as a photo or a document (PDF), by its
    // bytes; anything else is refused before any lock is taken.
    let staged = match scan {
        Some(bytes) => {
            let kind = match media::kind::sniff(bytes.as_ref()).kind {
                Some(MediaKind::Photo) => MediaKind::Photo,
                _ => MediaKind::Document,
            };
            Some(media::service::receive_bytes(app, kind, bytes.clone(), "scan").await?)
        }
        None => None,
    };
    let prepared = kernel::prepare(
        app,
        Consent {
            form: &form,
            method: t.method,
            answers: &t.answers,
            signature,
            verbal_record,
            scan: staged.as_ref().map(|s| kernel::Scan {
                object: s.id.clone(),
                sha256: s.sha256.clone(),
            }),
            witness: Some(actor),
            by_consultee: false,
            send_copy: t.send_copy,
        },
    )?;
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant).await?;
    let placed = match staged {
        Some(s) => Some(
            s.record(
                &mut tx,
                app,
                study,
                Purpose::ConsentScan,
                None,
                &actor.account_id,
            )
            .await?,
        ),
        None => None,
    };
    let id = kernel::record(&mut tx, app, &locked, prepared).await?.id;
    tx.commit().await?;
    if let Some(p) = placed {
        p.keep();
    }
    app.mailer.wake();
    Ok(id)
}

/// A consent invitation as made: the link to hand over, and whether it was
/// also emailed to the participant.
pub struct SentInvitation {
    pub link: String,
    pub emailed: bool,
}

/// Sends (or hands over) a one-time link to the current version of a form.
/// Whether the participant may still be invited, and which version is
/// current, are read after locking them.
pub async fn invite(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
    form_id: &str,
) -> Result<SentInvitation> {
    participant_for_consent(app, actor, study, participant).await?;
    let secret = new_secret("fkc_");
    let now = app.now();
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant).await?;
    let p = &locked.participant;
    if locked.stopped_collection() || locked.withdrawn.no_contact {
        return Err(AppError::Conflict(format!(
            "{} has withdrawn; they cannot be invited.",
            p.study_code
        )));
    }
    let form = crate::consent::forms::store::current(tx.conn(), study, form_id)
        .await?
        .ok_or_else(|| {
            AppError::invalid("form_id", "This study has no published form with that id.")
        })?;
    store::insert_invitation(
        &mut tx,
        &secret_hash(&secret),
        &p.id,
        &form.id,
        &actor.account_id,
        now,
        now + 14 * DAY,
    )
    .await?;
    let link = app.server.link(&format!("/consent?token={secret}"));
    let study_title = crate::studies::store::get_study(tx.conn(), study)
        .await?
        .title;
    let invitation = serde_json::json!({ "study_title": study_title, "form_title": form.form.title,
                                         "link": link, "researcher": actor.display_name, "days": 14 });
    let emailed = kernel::email_participant(
        &mut tx,
        app,
        p,
        Template::ConsentInvitation,
        "Your invitation to a research consent form",
        invitation,
        None,
    )
    .await?;
    let action = Action::ConsentInvite {
        study_code: p.study_code.clone(),
        form_id: Key::published(&form.form.form_id),
        form_version: form.form.version,
        emailed,
    };
    let entry = NewEntry::by_in_study(actor, study, action, Entity::Participant(p.id.clone()));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(SentInvitation { link, emailed })
}

/// What the consent page shows for a usable link.
pub struct Invitation {
    pub participant: Participant,
    /// In the presentation and language asked for.
    pub form: ConsentFormVersion,
    /// Every language the form can be read in.
    pub languages: Vec<String>,
    /// Whether the form has another presentation to offer: Some(true) when
    /// an easy-read version can be chosen, Some(false) when the standard one.
    pub other_presentation: Option<bool>,
    pub study_title: String,
}

/// Why a link cannot be used any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    /// Answered at this time; `copy` while the copy can still be downloaded through it.
    Used {
        at: i64,
        copy: bool,
    },
    Expired {
        at: i64,
    },
    /// Cancelled when the participant withdrew.
    Cancelled,
    /// Still open, but their consent cannot be recorded online now (they
    /// withdrew, or were assessed as lacking capacity): the research team
    /// must speak with them first.
    Refused,
}

/// What a link leads to.
pub enum Link {
    Open(Box<Invitation>),
    /// The form it was for (to word the page and name whom to contact).
    Closed {
        why: Closure,
        form: Box<ConsentFormVersion>,
        study_title: String,
    },
    /// No such link: mistyped, cut short, or never made.
    Unknown,
}

/// How long after signing the participant can download their copy through
/// the link they signed with (then it is theirs from the research team).
pub const COPY_WINDOW: i64 = HOUR;

/// The form behind a link, as the participant asked to read it: in
/// `language` (its own when None or not published in it), and in its
/// easy-read or standard presentation when `easy_read` asks for one the
/// study has.
pub async fn open_link(
    app: &App,
    secret: &str,
    language: Option<&str>,
    easy_read: Option<bool>,
) -> Result<Link> {
    let Some(row) = store::invitation(&app.db.pool, &secret_hash(secret)).await? else {
        return Ok(Link::Unknown);
    };
    let forms = &app.db;
    let sent = crate::consent::forms::store::get(&forms.pool, &row.form_version_id).await?;
    let other = crate::consent::forms::service::other_presentation(forms, &sent).await?;
    // The presentation not shown is the one offered.
    let (chosen, other_presentation) = match other {
        Some(o) if easy_read == Some(o.form.easy_read) => {
            let offered = Some(sent.form.easy_read);
            (o, offered)
        }
        Some(o) => (sent, Some(o.form.easy_read)),
        None => (sent, None),
    };
    let languages = crate::consent::forms::service::languages(forms, &chosen).await?;
    let language = language.filter(|l| languages.iter().any(|have| have == l));
    let form = crate::consent::forms::service::in_language(forms, chosen, language).await?;
    let study_title = crate::studies::store::get_study(&app.db.pool, &form.study_id)
        .await?
        .title;
    let now = app.now();
    let why = match (row.used_at, row.cancelled_at) {
        (Some(at), _) => Some(Closure::Used {
            at,
            copy: row.record_id.is_some() && now < at + COPY_WINDOW,
        }),
        (None, Some(_)) => Some(Closure::Cancelled),
        (None, None) if row.expires_at <= now => Some(Closure::Expired { at: row.expires_at }),
        (None, None) => None,
    };
    if let Some(why) = why {
        return Ok(Link::Closed {
            why,
            form: Box::new(form),
            study_title,
        });
    }
    let participant =
        crate::participants::store::get(&app.db.pool, &form.study_id, &row.participant_id).await?;
    Ok(Link::Open(Box::new(Invitation {
        participant,
        form,
        languages,
        other_presentation,
        study_title,
    })))
}

fn link_refused() -> AppError {
    AppError::Gone("This consent link has expired, has been used, or was cancelled.".into())
}

/// The participant's copy of what they have just signed, through the link
/// they signed with, for `COPY_WINDOW` after: (PDF, file name).
pub async fn copy_after_signing(app: &App, secret: &str) -> Result<(Vec<u8>, String)> {
    let row = store::invitation(&app.db.pool, &secret_hash(secret))
        .await?
        .ok_or(AppError::NotFound)?;
    let (Some(used_at), Some(record)) = (row.used_at, row.record_id) else {
        return Err(AppError::NotFound);
    };
    if app.now() >= used_at + COPY_WINDOW {
        return Err(AppError::Gone(
            "Your copy can no longer be downloaded through this link. Ask the research team for it: they can email it to you or give you a printed copy.".into(),
        ));
    }
    let form = crate::consent::forms::store::get(&app.db.pool, &row.form_version_id).await?;
    let copy = store::pdf(&app.db.pool, &form.study_id, &record).await?;
    Ok((copy.pdf, copy.file_name))
}

/// What online consent recorded.
pub struct Signed {
    pub record: ConsentRecordId,
    pub at: i64,
    /// A copy was emailed (they asked, and the team has their address).
    pub copy_emailed: bool,
}

/// Online consent by the participant through their link. The participant is
/// locked before the link is used up, the order every writer takes.
/// `inv` is the invitation as the page opened it; the link is used up (and
/// so checked again) inside the transaction.
pub async fn consent_online(
    app: &App,
    secret: &str,
    inv: &Invitation,
    answers: &BTreeMap<String, Submitted>,
    typed_name: &str,
    send_copy: bool,
) -> Result<Signed> {
    let prepared = kernel::prepare(
        app,
        Consent {
            form: &inv.form,
            method: ConsentMethod::Online,
            answers,
            signature: Some(typed_name),
            verbal_record: None,
            scan: None,
            witness: None,
            by_consultee: false,
            send_copy,
        },
    )?;
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, &inv.participant.id).await?;
    let at = app.now();
    let hash = secret_hash(secret);
    if !store::use_invitation(&mut tx, &hash, at).await? {
        return Err(link_refused());
    }
    let recorded = kernel::record(&mut tx, app, &locked, prepared).await?;
    store::note_record(&mut tx, &hash, &recorded.id).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(Signed {
        record: recorded.id,
        at,
        copy_emailed: recorded.copy_emailed,
    })
}

/// Records a withdrawal taken by a researcher at the participant's site.
pub async fn withdraw(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
    w: Withdrawal<'_>,
) -> Result<Withdrawn> {
    participant_for_consent(app, actor, study, participant).await?;
    w.check()?;
    let mut tx = app.db.begin().await?;
    let locked = kernel::lock(&mut tx, participant).await?;
    let done = kernel::withdraw(&mut tx, app, &locked, actor, &w).await?;
    tx.commit().await?;
    app.mailer.wake();
    Ok(done)
}

/// The participant's consent as it stands, for researchers at their site.
pub async fn current(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
) -> Result<(Option<EffectiveConsent>, WithdrawalScope)> {
    let p = participant_for_consent(app, actor, study, participant).await?;
    let mut conn = app.db.pool.acquire().await?;
    let standing = kernel::standing(&mut conn, &p.id).await?;
    Ok((standing.effective, standing.withdrawn))
}

/// What the participant page shows about consent.
pub struct ConsentSummary {
    /// Their records, newest first.
    pub records: Vec<RecordSummary>,
    /// The answers of the newest record, in its form's order.
    pub current: Vec<store::ShownAnswer>,
    pub withdrawn: WithdrawalScope,
    /// The current version of each of the study's forms, to invite to or take consent on.
    pub forms: Vec<ConsentFormVersion>,
}

/// For the participant page, which has loaded the participant already.
pub async fn summary(app: &App, actor: &Actor, p: &Participant) -> Result<ConsentSummary> {
    require_site(actor, Permission::TakeConsent, &p.study_id, &p.site_id)?;
    let standing = kernel::standing(&mut *app.db.pool.acquire().await?, &p.id).await?;
    let records = store::records_of(&app.db.pool, &p.id).await?;
    let current = match records.first() {
        Some(r) => store::shown_answers(&app.db.pool, &r.id).await?,
        None => Vec::new(),
    };
    Ok(ConsentSummary {
        records,
        current,
        withdrawn: standing.withdrawn,
        forms: crate::consent::forms::service::current_of_each(&app.db, &p.study_id).await?,
    })
}

/// The study's published consent forms, for those who take or review consent.
/// Each with the languages it can be read in.
pub async fn published_forms(
    app: &App,
    actor: &Actor,
    study: &StudyId,
) -> Result<Vec<(ConsentFormVersion, Vec<String>)>> {
    require_study(actor, Permission::ViewConsentRegister, study)?;
    let mut forms = Vec::new();
    for v in crate::consent::forms::service::list_for_study(&app.db, study).await? {
        let languages = crate::consent::forms::service::languages(&app.db, &v).await?;
        forms.push((v, languages));
    }
    Ok(forms)
}

/// A published form of the study, for a researcher taking consent on it.
pub struct FormToTake {
    pub participant: Participant,
    /// In the language asked for.
    pub form: ConsentFormVersion,
    /// Every language the form can be read in.
    pub languages: Vec<String>,
    pub study_title: String,
}

/// A published form of the study in `language` (its own when None), for a
/// researcher taking consent on it.
pub async fn form_to_take(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    participant: &ParticipantId,
    version: &FormVersionId,
    language: Option<&str>,
) -> Result<FormToTake> {
    let p = participant_for_consent(app, actor, study, participant).await?;
    let form = crate::consent::forms::service::version_of(&app.db, study, version).await?;
    let languages = crate::consent::forms::service::languages(&app.db, &form).await?;
    let form = crate::consent::forms::service::in_language(&app.db, form, language).await?;
    let study_title = crate::studies::store::get_study(&app.db.pool, study)
        .await?
        .title;
    Ok(FormToTake {
        participant: p,
        form,
        languages,
        study_title,
    })
}

/// A record's PDF, for researchers at the participant's site and reviewers;
/// anyone else, and records elsewhere, are "not found".
pub async fn pdf(
    app: &App,
    actor: &Actor,
    study: &StudyId,
    record: &ConsentRecordId,
) -> Result<store::Copy> {
    require_study(actor, Permission::ViewConsentRegister, study)?;
    let copy = store::pdf(&app.db.pool, study, record).await?;
    let p = crate::participants::store::get(&app.db.pool, study, &copy.participant_id).await?;
    require_site(actor, Permission::ViewConsentRegister, study, &p.site_id)
        .map_err(|_| AppError::NotFound)?;
    Ok(copy)
}
