//! Pages for re-consent (who is due, a page at a time, and their bulk
//! invitation) and the participant's own "Your part in <study>" page, where
//! they read their records, change optional choices and withdraw.

use std::collections::BTreeMap;

use poem::web::{Path, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::service;
use crate::consent::kernel::model::{Submitted, WithdrawalScope};
use crate::db::list::PageRequest;
use crate::error::AppError;
use crate::http::api::next_link;
use crate::http::page::{pdf_response, see_other, Notice, Page, PageQuery};
use crate::http::viewer::{app_of, CsrfForm, Viewer};
use crate::ids::{ConsentRecordId, ParticipantId, StudyId, WithdrawalId};

type PageResult = poem::Result<Response>;

#[derive(Deserialize)]
pub struct After {
    after: Option<String>,
}

/// Those due for re-consent, a page at a time, with the form that invites them.
#[handler]
pub async fn due(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(q): Query<After>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let page = PageRequest::<ParticipantId>::parse(q.after.as_deref())?;
    let due = service::reconsent_due(app, actor, &study, &page).await?;
    let title = crate::studies::service::get_study(app, actor, &study)
        .await?
        .title;
    let rows: Vec<_> = due
        .items
        .iter()
        .map(|d| json!({ "id": d.participant.id, "study_code": d.participant.study_code, "form_title": d.form_title,
                         "agreed_version": d.agreed_version, "current_version": d.current_version }))
        .collect();
    let ctx = json!({
        "study": { "id": study, "title": title },
        "due": rows,
        "next": due.next.map(|k| next_link(req.original_uri(), k.as_str())),
    });
    Ok(Page::new("reconsent.html", "Due for re-consent", ctx).render(app, &viewer)?)
}

#[handler]
pub async fn invite_due(req: &Request, form: CsrfForm, Path(study): Path<StudyId>) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let chosen: Option<Vec<ParticipantId>> = form
        .all("participant_id")
        .into_iter()
        .map(ParticipantId::parse)
        .collect();
    let result = match chosen {
        Some(ids) => service::invite_due(app, actor, &study, Some(&ids)).await,
        None => Err(AppError::invalid(
            "participant_ids",
            "Choose participants from the list.",
        )),
    };
    let title = crate::studies::service::get_study(app, actor, &study)
        .await?
        .title;
    let (invited, err) = match result {
        Ok(invited) => (invited, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let ctx = json!({
        "study": { "id": study, "title": title },
        "invited": invited.iter().map(|i| match &i.outcome {
            Ok(sent) => json!({ "study_code": i.study_code, "link": sent.link, "emailed": sent.emailed, "refused": null }),
            Err(why) => json!({ "study_code": i.study_code, "link": null, "emailed": false, "refused": why }),
        }).collect::<Vec<_>>(),
    });
    let page = Page::new("reconsent_sent.html", "Re-consent invitations", ctx).problems_of(err)?;
    Ok(page.render(app, &form.viewer)?)
}

/// What was typed into the choices form, to show again after a problem.
struct Typed<'a> {
    chosen: BTreeMap<String, String>,
    signature: &'a str,
}

async fn own_page(
    req: &Request,
    viewer: &Viewer,
    study: &StudyId,
    typed: Option<Typed<'_>>,
    done: Option<&str>,
    err: Option<AppError>,
) -> PageResult {
    let app = app_of(req);
    let actor = viewer.require()?;
    let own = service::own(app, actor, study).await?;
    let agreed: Vec<String> = own
        .effective
        .as_ref()
        .map(|e| e.agreed().iter().cloned().collect())
        .unwrap_or_default();
    let choices: Vec<_> = own
        .choices_form
        .iter()
        .flat_map(|f| &f.form.clauses)
        .map(|c| {
            let current = if agreed.iter().any(|a| a == c.governs.as_str()) {
                "yes"
            } else {
                "no"
            };
            let chosen = typed
                .as_ref()
                .and_then(|t| t.chosen.get(&c.key).cloned())
                .unwrap_or_else(|| current.to_owned());
            json!({ "key": c.key, "text": c.text, "mandatory": c.mandatory, "chosen": chosen })
        })
        .collect();
    let ctx = json!({
        "study": { "id": study, "title": own.study_title },
        "study_code": own.participant.study_code,
        "records": own.records,
        "agreed": agreed.iter().map(|u| u.replace('_', " ")).collect::<Vec<_>>(),
        "withdrawn": own.withdrawn,
        "form": own.choices_form.as_ref().map(|f| json!({ "title": f.form.title, "version": f.form.version, "easy_read": f.form.easy_read })),
        "choices": choices,
        "signature": typed.as_ref().map_or("", |t| t.signature),
        "withdrawals": own.withdrawals.iter().map(|w| json!({
            "id": w.id, "recorded_at": w.recorded_at, "what": w.scope.in_words(),
            "by_you": w.by_participant, "emailed": w.confirmation_emailed,
            "erasure": (w.erasure != "not_asked").then(|| w.erasure_in_words()),
        })).collect::<Vec<_>>(),
    });
    let page = Page::new(
        "my_study.html",
        format!("Your part in {}", own.study_title),
        ctx,
    )
    .notice(done)
    .problems_of(err)?;
    Ok(page.render(app, viewer)?)
}

#[handler]
pub async fn own_study(
    req: &Request,
    viewer: Viewer,
    Path(study): Path<StudyId>,
    Query(q): Query<PageQuery>,
) -> PageResult {
    own_page(req, &viewer, &study, None, q.done(), None).await
}

#[handler]
pub async fn change_choices(
    req: &Request,
    form: CsrfForm,
    Path(study): Path<StudyId>,
) -> PageResult {
    let app = app_of(req);
    let actor = form.viewer.require()?;
    let own = service::own(app, actor, &study).await?;
    let mut chosen = BTreeMap::new();
    let mut answers = BTreeMap::new();
    for c in own.choices_form.iter().flat_map(|f| &f.form.clauses) {
        if !c.mandatory {
            let raw = form.get(&format!("answer.{}", c.key));
            chosen.insert(c.key.clone(), raw.to_owned());
            answers.insert(
                c.key.clone(),
                Submitted::parse(raw).unwrap_or(Submitted::Blank),
            );
        }
    }
    let signature = form.get("signature");
    match service::change_choices(app, actor, &study, &answers, signature).await {
        Ok(_) => Ok(see_other(
            &format!("/my/studies/{study}"),
            Some(Notice::ChoicesChanged),
        )),
        Err(e) => {
            let typed = Typed { chosen, signature };
            own_page(req, &form.viewer, &study, Some(typed), None, Some(e)).await
        }
    }
}

#[handler]
pub async fn withdraw(req: &Request, form: CsrfForm, Path(study): Path<StudyId>) -> PageResult {
    let actor = form.viewer.require()?;
    let scope = WithdrawalScope {
        no_contact: form.checked("no_contact"),
        no_collection: form.checked("no_collection"),
        remove_identifiable: form.checked("remove_identifiable"),
    };
    let reason = Some(form.get("withdrawal_reason"));
    let email_asked = form.checked("email_confirmation");
    match service::withdraw_own(app_of(req), actor, &study, scope, reason, email_asked).await {
        Ok(done) => Ok(see_other(
            &format!("/my/studies/{study}"),
            Some(if done.confirmation_emailed {
                Notice::WithdrawnSelf
            } else {
                Notice::WithdrawnSelfNotEmailed
            }),
        )),
        Err(e) => own_page(req, &form.viewer, &study, None, None, Some(e)).await,
    }
}

#[handler]
pub async fn pdf(
    req: &Request,
    viewer: Viewer,
    Path((study, record)): Path<(StudyId, ConsentRecordId)>,
) -> PageResult {
    let actor = viewer.require()?;
    let copy = service::own_pdf(app_of(req), actor, &study, &record).await?;
    Ok(pdf_response(&copy.file_name, copy.pdf))
}

#[handler]
pub async fn withdrawal_pdf(
    req: &Request,
    viewer: Viewer,
    Path((study, withdrawal)): Path<(StudyId, WithdrawalId)>,
) -> PageResult {
    let actor = viewer.require()?;
    let bytes = service::own_withdrawal_pdf(app_of(req), actor, &study, &withdrawal).await?;
    Ok(pdf_response(&format!("withdrawal-{withdrawal}.pdf"), bytes))
}
