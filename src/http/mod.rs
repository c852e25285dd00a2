//! HTTP: routes, request logging and error responses. Handlers are thin:
//! they parse, call the service, and map the result.

mod admin;
mod auth;
mod body;
mod error;
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
        .service(get_only("/.well-known/jwks.json").route(web::get().to(well_known::jwks)))
        .service(get_only("/.well-known/jwks/{kid}").route(web::get().to(well_known::jwk_by_kid)))
        .service(get_only("/.well-known/openid-configuration").route(web::get().to(well_known::discovery)))
        .service(get_only("/.well-known/oauth-authorization-server").route(web::get().to(well_known::discovery)))
        .service(
            web::resource("/admin/keys/rotate")
                .route(web::post().to(admin::rotate_keys))
                .default_service(web::to(method_not_allowed)),
        )
        .service(get_only("/admin/keys").route(web::get().to(admin::list_keys)))
        .service(
            web::resource("/admin/keys/{kid}/revoke")
                .route(web::post().to(admin::revoke_key))
                .default_service(web::to(method_not_allowed)),
        )
        .default_service(web::to(not_found));
}

fn get_only(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no resource at this path".into()))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
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
