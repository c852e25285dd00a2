//! Bearer-token authentication for the admin API (RFC 6750 §2.1).
//!
//! A handler that takes `AdminPrincipal` runs only for a valid access token
//! from this issuer, addressed to it (`aud` is the issuer), carrying the
//! `admin` scope, signed by a key that is not revoked, whose user still
//! exists, is enabled and is an admin.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use uuid::Uuid;

use super::error::ApiError;
use crate::keys::{KeyState, jwt};
use crate::oauth::ADMIN_SCOPE;
use crate::service::Issuer;

/// The administrator on whose behalf an admin request runs.
#[derive(Debug, Clone)]
pub struct AdminPrincipal {
    pub user_id: Uuid,
    pub client_id: String,
}

impl AdminPrincipal {
    /// Returns the actor recorded for changes this admin makes.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }

    /// Records an admin action in the audit trail with its outcome: the
    /// error code when `result` failed.
    pub fn audit<T>(&self, issuer: &Issuer, action: &str, client_id: Option<&str>, user_id: Option<&str>, result: &Result<T, ApiError>) {
        let outcome = match result {
            Ok(_) => "success",
            Err(error) => error.code(),
        };
        issuer.audit.record(crate::service::audit::Entry {
            actor: &self.actor(),
            action,
            client_id,
            user_id,
            outcome,
            detail: None,
        });
    }
}

impl FromRequest for AdminPrincipal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let issuer = request.app_data::<web::Data<Issuer>>().cloned();
        let token = bearer_token(request);
        Box::pin(async move {
            let issuer = issuer.ok_or(ApiError::Internal)?;
            let token = token?;
            authenticate_admin(&issuer, &token).await
        })
    }
}

/// Extracts the token from `Authorization: Bearer <token>`.
pub(super) fn bearer_token(request: &HttpRequest) -> Result<String, ApiError> {
    let mut values = request.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(ApiError::MissingToken);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest("send exactly one Authorization header".into()));
    }
    let value = value.to_str().map_err(|_| ApiError::InvalidToken("the Authorization header is not ASCII".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::MissingToken),
    }
}

async fn authenticate_admin(issuer: &Issuer, token: &str) -> Result<AdminPrincipal, ApiError> {
    let settings = &issuer.settings;
    let now = issuer.now().and_utc().timestamp();
    let leeway = i64::from(settings.clock_skew);
    let verified = jwt::verify_access_token(token, &issuer.ring, &settings.issuer, Some(&settings.issuer), now, leeway)
        .inspect_err(|error| tracing::info!(reason = %error, "admin request rejected: invalid token"))?;
    let claims = verified.claims;

    let has_admin_scope = claims
        .get("scope")
        .and_then(|scope| scope.as_str())
        .is_some_and(|scope| scope.split(' ').any(|token| token == ADMIN_SCOPE));
    if !has_admin_scope {
        return Err(ApiError::InsufficientScope(ADMIN_SCOPE));
    }
    let user_id = claims
        .get("sub")
        .and_then(|sub| sub.as_str())
        .and_then(|sub| Uuid::parse_str(sub).ok())
        .ok_or_else(|| ApiError::InvalidToken("the token's subject is not a user".into()))?;
    let client_id = claims.get("client_id").and_then(|id| id.as_str()).unwrap_or_default().to_owned();

    // Tokens are stateless, but admin calls are rare and powerful: check in
    // the database that the key is not revoked (another instance may not
    // have reloaded its ring yet) and that the user is still an enabled
    // administrator.
    let (key_state, user) = issuer.admin_check(verified.kid.clone(), user_id).await?;
    // Only an active or retiring key has signed tokens; a pending key never
    // signs, and a revoked or retired one must not be trusted.
    if !matches!(key_state, Some(KeyState::Active | KeyState::Retiring)) {
        tracing::info!(key.kid = %verified.kid, "admin request rejected: the signing key is revoked or withdrawn");
        return Err(ApiError::InvalidToken("the token was signed by an unknown or withdrawn key".into()));
    }
    if !user.is_some_and(|user| user.is_admin && !user.disabled) {
        tracing::info!(user.id = %user_id, "admin request rejected: user is disabled or not an admin");
        return Err(ApiError::InvalidToken("the token's user is disabled or no longer an administrator".into()));
    }
    Ok(AdminPrincipal { user_id, client_id })
}
