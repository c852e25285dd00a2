//! Bearer-token authentication for the admin API (RFC 6750 §2.1).
//!
//! A handler that takes `AdminPrincipal` runs only for a valid access token
//! from this issuer, addressed to it (`aud` is the issuer), carrying the
//! `admin` scope, whose user still exists, is enabled and is an admin.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::Utc;
use uuid::Uuid;

use super::error::ApiError;
use crate::keys::jwt;
use crate::oauth::ADMIN_SCOPE;
use crate::service::Issuer;

/// The administrator on whose behalf an admin request runs.
#[derive(Debug, Clone)]
pub struct AdminPrincipal {
    pub user_id: Uuid,
    pub client_id: String,
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
fn bearer_token(request: &HttpRequest) -> Result<String, ApiError> {
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
    let claims = jwt::verify_access_token(token, &issuer.ring, &settings.issuer, &settings.issuer, Utc::now().timestamp())
        .inspect_err(|error| tracing::info!(reason = %error, "admin request rejected: invalid token"))?;

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

    // Tokens are stateless, but admin calls are rare and powerful: check
    // that the user is still an enabled administrator.
    let user = issuer.find_user(user_id).await?;
    if !user.is_some_and(|user| user.is_admin && !user.disabled) {
        tracing::info!(user.id = %user_id, "admin request rejected: user is disabled or not an admin");
        return Err(ApiError::InvalidToken("the token's user is disabled or no longer an administrator".into()));
    }
    Ok(AdminPrincipal { user_id, client_id })
}
