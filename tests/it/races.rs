//! Rules that hold for one request must hold for many at once: requests sent
//! together at the same participant, on both engines. Each test fails when a
//! read that decides a write is made outside the write transaction.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Row;

use crate::consent::{answers, setup, take, withdraw, Setup};
use crate::support::{spawn, Engine, TestApp};

const PARALLEL: usize = 20;

/// (id, supersedes) of every record of the participant.
pub async fn chain(t: &TestApp, participant: &str) -> Vec<(String, Option<String>)> {
    sqlx::query("SELECT id, supersedes_id FROM consent_records WHERE participant_id = $1")
        .bind(participant)
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The records form one line: one first, one current, each superseded at most once.
#[track_caller]
pub fn assert_linear(records: &[(String, Option<String>)]) {
    let firsts = records.iter().filter(|(_, s)| s.is_none()).count();
    assert_eq!(firsts, 1, "records superseding nothing: {records:?}");
    let superseded: Vec<&String> = records.iter().filter_map(|(_, s)| s.as_ref()).collect();
    let distinct: BTreeSet<&&String> = superseded.iter().collect();
    assert_eq!(
        distinct.len(),
        superseded.len(),
        "a record superseded twice: {records:?}"
    );
    let current = records
        .iter()
        .filter(|(id, _)| !superseded.contains(&id))
        .count();
    assert_eq!(current, 1, "current records: {records:?}");
}

async fn current(t: &TestApp, s: &Setup) -> Value {
    t.get_json(
        &s.researcher,
        &format!(
            "/studies/{}/participants/{}/consent",
            s.study, s.participant
        ),
    )
    .await
}

/// The numbers of the audit entries with this action, in order.
pub async fn seqs(t: &TestApp, action: &str) -> Vec<i64> {
    sqlx::query("SELECT seq FROM audit_log WHERE action = $1 ORDER BY seq")
        .bind(action)
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn concurrent_consents_for_one_participant_make_one_line(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let all_yes: BTreeMap<String, String> = answers(&s, &[], "yes");
    let responses = join_all((0..PARALLEL).map(|_| take(&t, &s, &all_yes))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "each consent is recorded in turn: {statuses:?}"
    );
    let records = chain(&t, &s.participant).await;
    assert_eq!(records.len(), PARALLEL);
    assert_linear(&records);
    let report = t.verify_chain().await;
    assert!(report.valid, "{report:?}");
}

async fn a_consent_racing_a_withdrawal_never_lands_after_it(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let yes = answers(&s, &[], "yes");
    assert_eq!(take(&t, &s, &yes).await.status(), 200);
    // Consents and one withdrawal from further collection, all at once.
    let consents = join_all((0..PARALLEL).map(|_| take(&t, &s, &yes)));
    let withdrawal = withdraw(&t, &s, json!({ "no_collection": true }));
    let (consents, withdrawal) = tokio::join!(consents, withdrawal);
    assert_eq!(withdrawal.status(), 200);
    let refused = consents.iter().filter(|r| r.status() == 409).count();
    let recorded = consents.iter().filter(|r| r.status() == 200).count();
    assert_eq!(refused + recorded, PARALLEL, "only 200 or 409");

    // Every consent recorded came before the withdrawal in the trail.
    let withdrawn_at = seqs(&t, "consent.withdraw").await;
    assert_eq!(withdrawn_at.len(), 1);
    let recorded_at = seqs(&t, "consent.record").await;
    assert_eq!(recorded_at.len(), recorded + 1);
    assert!(
        recorded_at.iter().all(|seq| *seq < withdrawn_at[0]),
        "a consent landed after the withdrawal: records {recorded_at:?}, withdrawal {withdrawn_at:?}"
    );
    assert_linear(&chain(&t, &s.participant).await);

    // The acknowledged withdrawal is in force: status, consent, gate, new consent.
    let p: Value = t
        .get_json(
            &s.researcher,
            &format!("/studies/{}/participants/{}", s.study, s.participant),
        )
        .await;
    assert_eq!(p["status"], "withdrawn");
    let c = current(&t, &s).await;
    assert_eq!(c["withdrawn"]["no_collection"], true);
    assert!(
        !c["agreed"]
            .as_array()
            .unwrap()
            .contains(&json!("take_part")),
        "{c}"
    );
    assert!(t
        .may(
            &s.participant,
            fieldkit::consent::forms::model::DataUse::TakePart
        )
        .await
        .is_err());
    assert_eq!(take(&t, &s, &yes).await.status(), 409);
}

async fn consents_racing_a_withdrawal_from_contact_keep_it_in_force(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    assert_eq!(take(&t, &s, &answers(&s, &[], "no")).await.status(), 200);
    // A researcher's consent and a withdrawal from contact at once, repeatedly:
    // the chain stays linear and the withdrawal holds.
    let yes = answers(&s, &[], "yes");
    let (consents, withdrawal) = tokio::join!(
        join_all((0..PARALLEL / 2).map(|_| take(&t, &s, &yes))),
        withdraw(&t, &s, json!({ "no_contact": true }))
    );
    assert_eq!(withdrawal.status(), 200);
    assert!(consents.iter().all(|r| r.status() == 200));
    assert_linear(&chain(&t, &s.participant).await);
    let c = current(&t, &s).await;
    assert_eq!(c["withdrawn"]["no_contact"], true);
    assert!(
        !c["agreed"]
            .as_array()
            .unwrap()
            .contains(&json!("future_contact")),
        "contact stays stopped: {c}"
    );
}

async fn invitations_racing_a_withdrawal_leave_no_usable_link(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let invite = || {
        t.api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{}/consent-invitations",
                s.study, s.participant
            ),
            Some(&s.researcher),
        )
        .json(&json!({ "form_id": "participation" }))
        .send()
    };
    let (invitations, withdrawal) = tokio::join!(
        join_all((0..PARALLEL).map(|_| invite())),
        withdraw(&t, &s, json!({ "no_contact": true, "no_collection": true }))
    );
    assert_eq!(withdrawal.status(), 200);
    for r in invitations {
        let r = r.unwrap();
        assert!([200, 409].contains(&r.status().as_u16()), "{}", r.status());
    }
    let usable: i64 = sqlx::query(
        "SELECT COUNT(*) FROM consent_invitations WHERE participant_id = $1 AND used_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(&s.participant)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(usable, 0, "a link made after the withdrawal still works");
}

async fn enrolments_at_once_get_distinct_codes(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let sites: Value = t
        .get_json(&s.researcher, &format!("/studies/{}/sites", s.study))
        .await;
    let site = sites[0]["id"].as_str().unwrap().to_owned();
    let enrol = || {
        t.api(
            Method::POST,
            &format!("/studies/{}/participants", s.study),
            Some(&s.researcher),
        )
        .json(&json!({ "site_id": site, "stakeholder_group": "student", "name": "Someone Else" }))
        .send()
    };
    let responses = join_all((0..PARALLEL).map(|_| enrol())).await;
    let mut codes = BTreeSet::new();
    for r in responses {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        codes.insert(
            r.json::<Value>().await.unwrap()["study_code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(codes.len(), PARALLEL, "{codes:?}");
}

/// The account id behind a session.
async fn account_of(t: &TestApp, token: &str) -> String {
    t.get_json(token, "/me").await["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Two administrators removing each other at the same moment: one succeeds,
/// the other is no longer an administrator (or, once disabled, no longer
/// signed in) when its turn comes, and the instance is never left without one.
async fn administrators_removing_each_other_at_once_leave_one(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    for change in ["revoke_admin", "disable"] {
        let (a, b) = (t.admin().await, t.admin().await);
        let (a_id, b_id) = (account_of(&t, &a).await, account_of(&t, &b).await);
        let remove = |by: &str, whom: &str| {
            t.api(Method::POST, &format!("/accounts/{whom}/changes"), Some(by))
                .json(&json!({ "change": change }))
                .send()
        };
        let (ab, ba) = tokio::join!(remove(&a, &b_id), remove(&b, &a_id));
        let mut statuses = [ab.unwrap().status().as_u16(), ba.unwrap().status().as_u16()];
        statuses.sort_unstable();
        // The loser is refused inside its transaction (403), or, once the
        // winner has disabled it, its session no longer signs it in (401).
        let refused: &[u16] = if change == "disable" {
            &[401, 403]
        } else {
            &[403]
        };
        assert!(
            statuses[0] == 204 && refused.contains(&statuses[1]),
            "{change}: {statuses:?}"
        );
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) FROM accounts WHERE id IN ($1, $2) AND is_admin = 1 AND disabled_at IS NULL",
        )
        .bind(&a_id)
        .bind(&b_id)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
        assert_eq!(
            left, 1,
            "{change}: one of the two is still an administrator"
        );
    }
}

/// Changes to one person's role and sites at once leave exactly one of the
/// requested states, never a mixture; a removal among them leaves no half.
async fn membership_changes_at_once_leave_one_of_them(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    let study = t.study(&admin, "members-race").await;
    let north = t.site(&admin, &study, "North").await;
    let south = t.site(&admin, &study, "South").await;
    let (person, _) = t.person(&admin, "Moving Researcher").await;
    let lists: Vec<Vec<&str>> = vec![vec![&north], vec![&south], vec![&north, &south]];
    let set = |sites: Vec<&str>| {
        t.api(
            Method::PUT,
            &format!("/studies/{study}/members"),
            Some(&admin),
        )
        .json(&json!({ "account_id": person, "role": "researcher", "site_ids": sites }))
        .send()
    };
    for _round in 0..3 {
        let answers = join_all(lists.iter().cycle().take(9).map(|l| set(l.clone()))).await;
        assert!(answers.into_iter().all(|r| r.unwrap().status() == 200));
        let members = t
            .get_json(&admin, &format!("/studies/{study}/members"))
            .await;
        let mut sites: Vec<String> = members[0]["site_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        sites.sort();
        let requested: Vec<Vec<String>> = lists
            .iter()
            .map(|l| {
                let mut l: Vec<String> = l.iter().map(|s| s.to_string()).collect();
                l.sort();
                l
            })
            .collect();
        assert!(requested.contains(&sites), "a mixture: {sites:?}");
    }
    // A removal racing changes: every answer a clear one, no 500.
    let id = t
        .get_json(&admin, &format!("/studies/{study}/members"))
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let remove = t
        .api(
            Method::DELETE,
            &format!("/studies/{study}/members/{id}"),
            Some(&admin),
        )
        .send();
    let (removed, changes) = tokio::join!(remove, join_all((0..5).map(|_| set(vec![&north]))));
    assert_eq!(removed.unwrap().status(), 204);
    assert!(changes.into_iter().all(|r| r.unwrap().status() == 200));
}

/// Reveals of an identity racing its erasure: none answers with the identity
/// after the erasure was recorded, and afterwards there is nothing to show.
async fn reveals_racing_an_erasure_never_show_it_after(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let reveal = || {
        t.api(
            Method::POST,
            &format!(
                "/studies/{}/participants/{}/identity",
                s.study, s.participant
            ),
            Some(&s.researcher),
        )
        .json(&json!({ "reason": "to post their copy" }))
        .send()
    };
    let (reveals, withdrawal) = tokio::join!(
        join_all((0..PARALLEL).map(|_| reveal())),
        withdraw(
            &t,
            &s,
            json!({ "no_collection": true, "remove_identifiable": true })
        )
    );
    assert_eq!(withdrawal.status(), 200);
    let shown = reveals
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .inspect(|status| assert!([200, 409].contains(status), "{status}"))
        .filter(|status| *status == 200)
        .count();
    let revealed_at = seqs(&t, "identity.reveal").await;
    let withdrawn_at = seqs(&t, "consent.withdraw").await;
    assert_eq!(revealed_at.len(), shown);
    assert!(
        revealed_at.iter().all(|seq| *seq < withdrawn_at[0]),
        "shown after the erasure: {revealed_at:?} {withdrawn_at:?}"
    );
    assert_eq!(reveal().await.unwrap().status(), 409);
}

/// Enrolments racing a change of the study's code prefix: each participant's
/// code has the prefix in force when they were enrolled, in the trail's order.
async fn enrolments_racing_a_prefix_change_take_the_prefix_in_force(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let s = setup(&t).await;
    let admin = t.admin().await;
    let site = crate::consent::site(&t, &s.researcher, &s.study).await;
    let study = t.get_json(&admin, &format!("/studies/{}", s.study)).await;
    let mut changed = json!({});
    for field in ["title", "slug", "lawful_basis", "retention_years", "status"] {
        changed[field] = study[field].clone();
    }
    changed["code_prefix"] = json!("NEW");
    let update = t
        .api(Method::PUT, &format!("/studies/{}", s.study), Some(&admin))
        .json(&changed)
        .send();
    let (enrolled, updated) = tokio::join!(
        join_all((0..PARALLEL).map(|_| crate::consent::enrol(&t, &s, &site, None))),
        update
    );
    assert_eq!(updated.unwrap().status(), 200);
    let updated_at = seqs(&t, "study.update").await[0];
    for id in enrolled {
        let row = sqlx::query(
            "SELECT p.study_code, a.seq FROM participants p JOIN audit_log a
               ON a.entity_id = p.id AND a.action = 'participant.enrol' WHERE p.id = $1",
        )
        .bind(&id)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
        let (code, seq): (String, i64) = (row.get(0), row.get(1));
        let expected = if seq < updated_at { "RC-" } else { "NEW-" };
        assert!(
            code.starts_with(expected),
            "{code} at {seq}, update at {updated_at}"
        );
    }
}

/// Signing in with a password while it is being changed: a sign-in checked
/// against the old password never leaves a session alive after the change
/// (which ends every session), whichever commits first.
async fn a_sign_in_racing_a_password_change_leaves_no_session_behind(engine: Engine) {
    let Some(t) = spawn(engine).await else { return };
    let admin = t.admin().await;
    for round in 0..12u64 {
        let (id, email) = t.person(&admin, &format!("Changing Person {round}")).await;
        let session = t.sign_in(&email, crate::support::PASSWORD).await;
        let change = t
            .api(Method::POST, "/me/password", Some(&session))
            .json(&json!({ "current_password": crate::support::PASSWORD, "new_password": "a brand new passphrase 42" }))
            .send();
        // Sign-ins started a little later each round, so some check the old
        // password before the change commits and write after it.
        let sign_ins = async {
            tokio::time::sleep(std::time::Duration::from_millis(round * 8)).await;
            join_all((0..2).map(|_| {
                t.api(Method::POST, "/sessions", None)
                    .json(&json!({ "email": email, "password": crate::support::PASSWORD }))
                    .send()
            }))
            .await
        };
        let (changed, signed_in) = tokio::join!(change, sign_ins);
        assert_eq!(changed.unwrap().status(), 204);
        for r in signed_in {
            let status = r.unwrap().status().as_u16();
            assert!([200, 201, 401].contains(&status), "{status}");
        }
        let alive: i64 = sqlx::query(
            "SELECT COUNT(*) FROM sessions WHERE account_id = $1 AND revoked_at IS NULL",
        )
        .bind(&id)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
        .get(0);
        assert_eq!(
            alive, 0,
            "round {round}: a session from the old password outlived the change"
        );
    }
}

on_both_engines!(
    a_sign_in_racing_a_password_change_leaves_no_session_behind,
    concurrent_consents_for_one_participant_make_one_line,
    a_consent_racing_a_withdrawal_never_lands_after_it,
    consents_racing_a_withdrawal_from_contact_keep_it_in_force,
    invitations_racing_a_withdrawal_leave_no_usable_link,
    enrolments_at_once_get_distinct_codes,
    administrators_removing_each_other_at_once_leave_one,
    membership_changes_at_once_leave_one_of_them,
    reveals_racing_an_erasure_never_show_it_after,
    enrolments_racing_a_prefix_change_take_the_prefix_in_force,
);
