//! Error responses: RFC 6749 §5.2 JSON for the OAuth endpoints, and
//! RFC 6750 §3 bearer-token errors for the admin API. This file is the only
//! place that turns an error into a status and a body.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::keys::jwt::TokenError;
use crate::oauth::OAuthError;
use crate::service::accounts::AccountError;
use crate::service::keys::KeyServiceError;
use crate::store::StoreError;

/// The realm named in authentication challenges.
pub const REALM: &str = "tessera";

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        match self {
            // RFC 6749 §5.2: a client that used the Authorization header
            // gets 401 with a challenge for the scheme it used.
            OAuthError::InvalidClient { basic: true } => {
                response.insert_header((header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\"")));
            }
            OAuthError::TemporarilyUnavailable { retry_after_seconds } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            _ => {}
        }
        response.json(json!({ "error": self.code(), "error_description": self.description() }))
    }
}

/// Errors of the admin API and of bearer-token checks.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token was sent (RFC 6750 §3.1: no error code).
    #[error("missing bearer token")]
    MissingToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("insufficient scope")]
    InsufficientScope(&'static str),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("temporarily unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        Self::InvalidToken(error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "request failed: database unavailable");
                Self::Unavailable
            }
            StoreError::Conflict(cause) => {
                tracing::info!(error = %cause, "request rejected: unique constraint");
                Self::Conflict("the resource already exists".into())
            }
            StoreError::Query(cause) => {
                tracing::error!(error = %cause, "request failed: database error");
                Self::Internal
            }
        }
    }
}

impl From<KeyServiceError> for ApiError {
    fn from(error: KeyServiceError) -> Self {
        match error {
            KeyServiceError::Store(store) => store.into(),
            KeyServiceError::Concurrent(_) | KeyServiceError::AlreadyStaged { .. } => Self::Conflict(error.to_string()),
            KeyServiceError::NotEnabled(_) | KeyServiceError::Invalid(_) => Self::InvalidRequest(error.to_string()),
            KeyServiceError::NotFound(_) => Self::NotFound(error.to_string()),
            other => {
                tracing::error!(error = %other, "key operation failed");
                Self::Internal
            }
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid(text) => Self::InvalidRequest(text),
            AccountError::Duplicate(text) => Self::Conflict(text),
            AccountError::NotFound(text) => Self::NotFound(text),
            AccountError::Store(store) => store.into(),
        }
    }
}

impl ApiError {
    /// Returns the `error` member of the response body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "unauthorized",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::InvalidRequest(_) => "invalid_request",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::Unavailable => "temporarily_unavailable",
            Self::Internal => "server_error",
        }
    }

    fn description(&self) -> String {
        match self {
            Self::MissingToken => "a bearer access token is required".into(),
            Self::InvalidToken(text) | Self::InvalidRequest(text) | Self::NotFound(text) | Self::Conflict(text) => {
                text.clone()
            }
            Self::InsufficientScope(scope) => format!("the token lacks the {scope} scope"),
            Self::MethodNotAllowed => "this method is not allowed on this path".into(),
            Self::Unavailable => "the server is busy; retry later".into(),
            Self::Internal => "the server failed to process the request".into(),
        }
    }

    /// Returns the RFC 6750 §3 challenge for bearer-token failures.
    fn challenge(&self) -> Option<String> {
        match self {
            Self::MissingToken => Some(format!("Bearer realm=\"{REALM}\"")),
            Self::InvalidToken(text) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{text}\""
            )),
            Self::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = self.challenge().and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if matches!(self, Self::Unavailable) {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(json!({ "error": self.code(), "error_description": self.description() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_map_to_statuses() {
        let table = [
            (ApiError::MissingToken, 401),
            (ApiError::InvalidToken("x".into()), 401),
            (ApiError::InsufficientScope("admin"), 403),
            (ApiError::InvalidRequest("x".into()), 400),
            (ApiError::NotFound("x".into()), 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::Conflict("x".into()), 409),
            (ApiError::Unavailable, 503),
            (ApiError::Internal, 500),
        ];
        for (error, status) in table {
            assert_eq!(error.status_code().as_u16(), status, "{error}");
        }
    }
}
