//! actix-web integration: the `BearerToken` extractor and RFC 6750 error
//! responses.
//!
//! Register the verifier as app data (`web::Data<Verifier>`); a handler
//! that takes `BearerToken` runs only for a valid token. Missing or invalid
//! tokens get 401 with `WWW-Authenticate: Bearer`, a missing scope 403
//! `insufficient_scope`, and unavailable keys 503.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use crate::{AccessToken, Verifier, VerifyError};

/// The realm named in challenges.
const REALM: &str = "api";

/// A verified bearer token from the Authorization header.
#[derive(Debug, Clone)]
pub struct BearerToken(pub AccessToken);

impl BearerToken {
    /// Fails with 403 `insufficient_scope` unless the token has `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        self.0.require_scope(scope).map_err(BearerError::from)
    }
}

impl std::ops::Deref for BearerToken {
    type Target = AccessToken;

    fn deref(&self) -> &AccessToken {
        &self.0
    }
}

/// Why a request was not authorised, as an RFC 6750 §3 response.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("a bearer token is required")]
    Missing,
    #[error("{0}")]
    Invalid(VerifyError),
    #[error("the token lacks the scope {0}")]
    InsufficientScope(String),
    #[error("the token cannot be checked now")]
    Unavailable,
}

impl From<VerifyError> for BearerError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::InsufficientScope(scope) => Self::InsufficientScope(scope),
            VerifyError::KeysUnavailable(reason) => {
                tracing::warn!(reason, "rejected a request: the issuer's keys are unavailable");
                Self::Unavailable
            }
            other => Self::Invalid(other),
        }
    }
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, challenge) = match self {
            Self::Missing => ("unauthorized", Some(format!("Bearer realm=\"{REALM}\""))),
            Self::Invalid(error) => (
                "invalid_token",
                Some(format!("Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{error}\"")),
            ),
            Self::InsufficientScope(scope) => (
                "insufficient_scope",
                Some(format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\"")),
            ),
            Self::Unavailable => ("temporarily_unavailable", None),
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if matches!(self, Self::Unavailable) {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        response.json(serde_json::json!({ "error": code, "error_description": self.to_string() }))
    }
}

impl FromRequest for BearerToken {
    type Error = BearerError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, BearerError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let verifier = request.app_data::<web::Data<Verifier>>().cloned();
        let token = bearer_token(request);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                tracing::error!("BearerToken used without a web::Data<Verifier> in the app");
                return Err(BearerError::Unavailable);
            };
            let token = token?;
            let verified = verifier.verify(&token).await.map_err(BearerError::from)?;
            Ok(BearerToken(verified))
        })
    }
}

/// Reads `Authorization: Bearer <token>` (RFC 6750 §2.1); exactly one
/// header is accepted.
fn bearer_token(request: &HttpRequest) -> Result<String, BearerError> {
    let mut values = request.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else { return Err(BearerError::Missing) };
    if values.next().is_some() {
        return Err(BearerError::Invalid(VerifyError::Malformed));
    }
    let value = value.to_str().map_err(|_| BearerError::Invalid(VerifyError::Malformed))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_owned())
        }
        _ => Err(BearerError::Missing),
    }
}
