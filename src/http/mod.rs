//! The HTTP surface: health checks, the JSON API under /api/v1 with its
//! OpenAPI document and docs, and the HTML pages. Routes are assembled here
//! and nowhere else; `PAGE_ROUTES` lists every page for the route-by-role test.

pub mod api;
pub mod docs;
pub mod middleware;
pub mod page;
pub mod routes;
pub mod viewer;

use poem::endpoint::make_sync;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::middleware::CookieJarManager;

use poem::{get, handler, EndpointExt, IntoResponse, Response, Route};
use poem_openapi::OpenApiService;

use crate::app::App;
use crate::{audit, auth, consent, instruments, participants, recordings, studies};

macro_rules! pages {
    ($($path:literal => { $($method:ident $handler:path),+ $(,)? }),* $(,)?) => {
        /// Every page route as (method, path pattern).
        pub const PAGE_ROUTES: &[(&str, &str)] = &[$($((stringify!($method), $path)),+),*];

        fn page_router() -> Route {
            Route::new()$(.at($path, poem::RouteMethod::new()$(.method(poem::http::Method::$method, $handler))+))*
        }
    };
}

pages! {
    "/" => { GET studies::pages::dashboard },
    "/login" => { GET auth::pages::login_form, POST auth::pages::login },
    "/login/second-factor" => { GET auth::pages::second_step_form, POST auth::pages::second_step },
    "/logout" => { POST auth::pages::logout },
    "/setup" => { GET auth::pages::setup_form, POST auth::pages::setup },
    "/password-reset/request" => { GET auth::pages::reset_request_form, POST auth::pages::reset_request },
    "/password-reset" => { GET auth::pages::reset_form, POST auth::pages::reset },
    "/invitation" => { GET auth::pages::invitation_form, POST auth::pages::invitation },
    "/account" => { GET auth::pages::account },
    "/account/password" => { POST auth::pages::change_password },
    "/account/second-factor" => { GET auth::pages::second_factor, POST auth::pages::start_enrolment },
    "/account/second-factor/confirmation" => { POST auth::pages::confirm_enrolment },
    "/account/second-factor/recovery-codes" => { POST auth::pages::renew_recovery_codes },
    "/account/second-factor/removal" => { POST auth::pages::turn_off_second_factor },
    "/account/tokens" => { POST auth::pages::create_token },
    "/account/tokens/:token_id/revoke" => { POST auth::pages::revoke_token },
    "/admin/accounts" => { GET auth::pages::admin_accounts, POST auth::pages::admin_invite },
    "/admin/accounts/:account_id/:change" => { POST auth::pages::admin_change },
    "/admin/studies/new" => { GET studies::pages::new_study_form, POST studies::pages::create_study },
    "/studies/:study_id" => { GET studies::pages::study },
    "/studies/:study_id/edit" => { GET studies::pages::edit_study_form, POST studies::pages::edit_study },
    "/studies/:study_id/sites" => { POST studies::pages::add_site },
    "/studies/:study_id/teams" => { POST studies::pages::add_team },
    "/studies/:study_id/instruments" => { GET instruments::pages::list },
    "/studies/:study_id/instruments/:version_id/fidelity" => { GET instruments::pages::fidelity },
    "/studies/:study_id/responses" => { POST instruments::pages::start },
    "/studies/:study_id/responses/:response_id" => { GET instruments::pages::show, POST instruments::pages::save },
    "/studies/:study_id/fieldwork" => { GET recordings::pages::fieldwork_list },
    "/studies/:study_id/encounters" => { POST recordings::pages::log_encounter },
    "/studies/:study_id/encounters/:encounter_id" => { GET recordings::pages::show_encounter },
    "/studies/:study_id/encounters/:encounter_id/media" => { POST recordings::pages::upload_item },
    "/studies/:study_id/encounters/:encounter_id/media-references" => { POST recordings::pages::add_reference },
    "/studies/:study_id/media/:item_id" => { GET recordings::pages::show_item },
    "/studies/:study_id/media/:item_id/content" => { GET recordings::pages::play_item },
    "/studies/:study_id/media/:item_id/publication" => { POST recordings::pages::move_item },
    "/studies/:study_id/media/:item_id/transcript" => { POST recordings::pages::import_transcript },
    "/studies/:study_id/transcripts/:transcript_id/speakers" => { POST recordings::pages::map_speakers_form },
    "/studies/:study_id/transcripts/:transcript_id/redactions" => { POST recordings::pages::mark_redaction },
    "/studies/:study_id/transcripts/:transcript_id/redactions/:redaction_id" => { POST recordings::pages::decide_redaction },
    "/studies/:study_id/transcripts/:transcript_id/status" => { POST recordings::pages::save_status },
    "/studies/:study_id/transcripts/:transcript_id/quotes" => { POST recordings::pages::mark_quote },
    "/studies/:study_id/quotes" => { GET recordings::pages::list_quotes },
    "/studies/:study_id/quotes.csv" => { GET recordings::pages::quotes_csv },
    "/studies/:study_id/members" => { POST studies::pages::add_member },
    "/studies/:study_id/members/:membership_id/remove" => { POST studies::pages::remove_member },
    "/studies/:study_id/participants" => { GET participants::pages::list, POST participants::pages::enrol },
    "/studies/:study_id/participants/:participant_id" => { GET participants::pages::participant },
    "/studies/:study_id/participants/:participant_id/identity" => { POST participants::pages::reveal },
    "/consent" => { GET consent::records::pages::consent_form, POST consent::records::pages::consent_submit },
    "/consent/copy" => { POST consent::records::pages::consent_copy },
    "/studies/:study_id/participants/:participant_id/consents/new" => { GET consent::records::pages::take_form, POST consent::records::pages::take },
    "/studies/:study_id/participants/:participant_id/consent-invitations" => { POST consent::records::pages::invite },
    "/studies/:study_id/participants/:participant_id/withdrawals" => { POST consent::records::pages::withdraw },
    "/studies/:study_id/consent-records/:record_id/pdf" => { GET consent::records::pages::pdf },
    "/studies/:study_id/participants/:participant_id/capacity-assessments" => { POST consent::capacity::pages::assess },
    "/studies/:study_id/participants/:participant_id/capacity-changed" => { POST consent::capacity::pages::changed },
    "/studies/:study_id/participants/:participant_id/consultee-advice" => { POST consent::capacity::pages::advise },
    "/studies/:study_id/participants/:participant_id/objections" => { POST consent::capacity::pages::objection },
    "/studies/:study_id/consent-register" => { GET consent::register::pages::register },
    "/studies/:study_id/consent-register.csv" => { GET consent::register::pages::register_csv },
    "/studies/:study_id/consent-records/:record_id" => { GET consent::register::pages::record },
    "/studies/:study_id/reconsent" => { GET consent::choices::pages::due },
    "/studies/:study_id/reconsent-invitations" => { POST consent::choices::pages::invite_due },
    "/my/studies/:study_id" => { GET consent::choices::pages::own_study },
    "/my/studies/:study_id/choices" => { POST consent::choices::pages::change_choices },
    "/my/studies/:study_id/withdrawals" => { POST consent::choices::pages::withdraw },
    "/my/studies/:study_id/consent-records/:record_id/pdf" => { GET consent::choices::pages::pdf },
    "/my/studies/:study_id/withdrawals/:withdrawal_id/pdf" => { GET consent::choices::pages::withdrawal_pdf },
}

/// Every API, in the order the documentation lists them.
type Apis = (
    auth::api::AccountApi,
    auth::api::AdminApi,
    studies::api::StudiesApi,
    participants::api::ParticipantsApi,
    instruments::api::InstrumentsApi,
    recordings::api::RecordingsApi,
    consent::records::api::ConsentApi,
    consent::capacity::api::CapacityApi,
    consent::choices::api::ChoicesApi,
    consent::register::api::RegisterApi,
    audit::api::AuditApi,
);

pub fn api_service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::api::AccountApi,
            auth::api::AdminApi,
            studies::api::StudiesApi,
            participants::api::ParticipantsApi,
            instruments::api::InstrumentsApi,
            recordings::api::RecordingsApi,
            consent::records::api::ConsentApi,
            consent::capacity::api::CapacityApi,
            consent::choices::api::ChoicesApi,
            consent::register::api::RegisterApi,
            audit::api::AuditApi,
        ),
        "fieldkit",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Research fieldwork records for community mental health studies. Errors are application/problem+json (RFC 9457) with stable `type` values of the form urn:fieldkit:problem:<slug>.")
    .server("/api/v1")
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(req: &poem::Request) -> Response {
    if viewer::app_of(req).db.ping().await {
        "ready".into_response()
    } else {
        Response::builder()
            .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
            .body("database unreachable")
    }
}

/// The files under /static, compiled in: (path, content type, body). Pages
/// work without the scripts; each only adds a convenience (the player's
/// seek, a copy button).
const STATIC: [(&str, &str, &str); 3] = [
    (
        "/static/app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "/static/player.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/player.js"),
    ),
    (
        "/static/copy.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/copy.js"),
    ),
];

/// One static file, cached for an hour.
fn asset(content_type: &'static str, body: &'static str) -> impl poem::Endpoint {
    make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .header("cache-control", "public, max-age=3600")
            .body(body)
    })
}

/// The whole application as one endpoint.
pub fn routes(app: App) -> impl poem::Endpoint {
    let api = api_service();
    let spec: serde_json::Value =
        serde_json::from_str(&api.spec()).expect("poem-openapi writes JSON");
    routes::init(&spec);
    let spec = api::document(spec);
    let docs = docs::Docs::new(&api);
    let around_app = app.clone();
    let statics = STATIC.iter().fold(Route::new(), |r, (path, kind, body)| {
        r.at(*path, get(asset(kind, body)))
    });
    Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .nest_no_strip("/static", statics)
        .at(
            "/api/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(spec.clone())
            })),
        )
        .nest("/api/docs", docs.routes())
        .nest("/api/v1", api)
        .nest("/", page_router())
        .with(CookieJarManager::new())
        .data(app)
        .around(move |ep, req| middleware::around(around_app.clone(), ep, req))
}

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    app: App,
    acceptor: TcpAcceptor,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    poem::Server::new_with_acceptor(NoDelay(acceptor))
        .run_with_graceful_shutdown(
            routes(app),
            shutdown,
            Some(std::time::Duration::from_secs(10)),
        )
        .await
}

/// Accepts connections with Nagle's algorithm off. A reply's last partial
/// segment otherwise waits for the client's delayed acknowledgement: about
/// 40 ms on a quarter of the Range requests a player makes to seek
/// (`cargo bench --bench media`).
struct NoDelay(TcpAcceptor);

impl Acceptor for NoDelay {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(
        Self::Io,
        poem::web::LocalAddr,
        poem::web::RemoteAddr,
        poem::http::uri::Scheme,
    )> {
        let accepted = self.0.accept().await?;
        // A socket that refuses the option still serves, only less promptly.
        let _ = accepted.0.set_nodelay(true);
        Ok(accepted)
    }
}

/// The address a bound acceptor listens on.
pub fn local_addr(acceptor: &TcpAcceptor) -> Option<std::net::SocketAddr> {
    acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
}

#[cfg(test)]
mod tests {
    /// Every rule of the stylesheet is closed: one missing brace once hid
    /// every rule after it without a sound (browsers skip what they cannot
    /// parse). Only an @-rule (@media) holds other rules.
    #[test]
    fn the_stylesheet_closes_every_block() {
        let mut css = String::new();
        let mut rest = super::STATIC[0].2;
        while let Some(i) = rest.find("/*") {
            css.push_str(&rest[..i]);
            let end = rest[i..].find("*/").expect("a closed comment");
            rest = &rest[i + end + 2..];
        }
        css.push_str(rest);
        let mut open: Vec<bool> = Vec::new();
        let mut since = 0;
        for (i, c) in css.char_indices() {
            match c {
                '{' => {
                    let selector = css[since..i].trim();
                    assert!(
                        open.last().is_none_or(|at_rule| *at_rule),
                        "{selector:?} opens inside a rule that was never closed"
                    );
                    open.push(selector.starts_with('@'));
                    since = i + 1;
                }
                '}' => {
                    assert!(open.pop().is_some(), "a block is closed twice");
                    since = i + 1;
                }
                ';' => since = i + 1,
                _ => {}
            }
        }
        assert!(open.is_empty(), "a block is never closed");
    }
}
