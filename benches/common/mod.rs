//! What the benchmarks share: signing a member of staff in as they would on
//! first sign-in.

use fieldkit::app::App;
use fieldkit::auth;

/// The password every benchmark account has.
pub const PASSWORD: &str = "plum kettle orbit lantern";

/// Signs a member of staff in and sets up the second factor their role
/// needs, as they would on first sign-in; returns the session token.
pub async fn staff_session(app: &App, email: &str) -> String {
    let auth::service::SignIn::Session(session) =
        auth::service::login(app, email, PASSWORD, "127.0.0.1")
            .await
            .unwrap()
    else {
        panic!("{email} has no second factor yet");
    };
    let actor = auth::service::actor_for_session(app, &session.token)
        .await
        .unwrap()
        .unwrap();
    let factor = auth::second_factor::service::start_enrolment(app, &actor)
        .await
        .unwrap();
    let totp = totp_rs::TOTP::from_url(&factor.otpauth_uri).unwrap();
    let code = totp.generate((app.now() / 1000) as u64);
    auth::second_factor::service::confirm_enrolment(app, &actor, &code)
        .await
        .unwrap();
    session.token
}
