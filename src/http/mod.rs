//! HTTP: routes, request logging and error responses. Handlers are thin:
//! they parse, call the service, and map the result.

mod admin;
mod admin_clients;
mod admin_json;
mod admin_users;
mod auth;
mod body;
mod error;
mod introspection;
mod token;
mod well_known;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use tracing::Instrument;
use uuid::Uuid;

pub use auth::AdminPrincipal;
pub use error::ApiError;
pub use well_known::Discovery;

use crate::oauth::OAuthError;

/// Registers every route.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/oauth2/token")
                .route(web::post().to(token::token))
                .default_service(web::to(oauth_method_not_allowed)),
        )
        .service(post_only("/oauth2/introspect").route(web::post().to(introspection::introspect)))
        .service(post_only("/oauth2/revoke").route(web::post().to(introspection::revoke)))
        .service(
            web::resource("/oauth2/userinfo")
                .route(web::get().to(introspection::userinfo))
                .route(web::post().to(introspection::userinfo))
                .default_service(web::to(|| method_not_allowed("GET, POST"))),
        )
        .service(readable("/.well-known/jwks.json", well_known::jwks))
        .service(readable("/.well-known/jwks/{kid}", well_known::jwk_by_kid))
        .service(readable("/.well-known/openid-configuration", well_known::discovery))
        .service(readable("/.well-known/oauth-authorization-server", well_known::discovery))
        .service(post_only("/admin/keys/rotate").route(web::post().to(admin::rotate_keys)))
        .service(readable("/admin/keys", admin::list_keys))
        .service(post_only("/admin/keys/{kid}/revoke").route(web::post().to(admin::revoke_key)))
        .service(
            web::resource("/admin/users")
                .route(web::get().to(admin_users::list))
                .route(web::post().to(admin_users::create))
                .default_service(web::to(|| method_not_allowed("GET, POST"))),
        )
        .service(
            web::resource("/admin/users/{id}")
                .route(web::get().to(admin_users::read))
                .route(web::patch().to(admin_users::update))
                .route(web::delete().to(admin_users::delete))
                .default_service(web::to(|| method_not_allowed("GET, PATCH, DELETE"))),
        )
        .service(
            web::resource("/admin/clients")
                .route(web::get().to(admin_clients::list))
                .route(web::post().to(admin_clients::create))
                .default_service(web::to(|| method_not_allowed("GET, POST"))),
        )
        .service(
            web::resource("/admin/clients/{id}")
                .route(web::get().to(admin_clients::read))
                .route(web::patch().to(admin_clients::update))
                .route(web::delete().to(admin_clients::delete))
                .default_service(web::to(|| method_not_allowed("GET, PATCH, DELETE"))),
        )
        .service(post_only("/admin/clients/{id}/secret").route(web::post().to(admin_clients::rotate_secret)))
        .service(readable("/admin/audit", admin::audit_events))
        .default_service(web::to(not_found));
}

/// A resource served by GET and HEAD with one handler; actix-web sends a
/// HEAD response without its body. Other methods get 405.
fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(|| method_not_allowed("GET, HEAD")))
}

fn post_only(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| method_not_allowed("POST")))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no resource at this path".into()))
}

/// 405 with the Allow header RFC 9110 §15.5.6 requires.
async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// RFC 6749 §3.2: the token endpoint takes POST only.
async fn oauth_method_not_allowed() -> HttpResponse {
    let mut response = actix_web::ResponseError::error_response(&OAuthError::invalid_request(
        "the token endpoint accepts only POST",
    ));
    *response.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// Logs one line per request (method, route, status, duration, request
/// id), runs the request inside a span carrying the id, and returns the id
/// in `X-Request-Id`.
pub async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = Uuid::new_v4();
    let method = request.method().clone();
    let route = request.match_pattern().unwrap_or_else(|| "(unmatched)".to_owned());
    let span = tracing::info_span!("request", request.id = %request_id);

    let mut response = next.call(request).instrument(span.clone()).await?;

    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    span.in_scope(|| {
        tracing::info!(
            http.method = %method,
            http.route = %route,
            http.status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    Ok(response)
}
