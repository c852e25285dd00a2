//! The admin API under `/admin`. Every handler takes `AdminPrincipal`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AdminPrincipal;
use super::error::ApiError;
use crate::keys::{Algorithm, StoredKey};
use crate::service::Issuer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateQuery {
    alg: Option<String>,
}

/// `POST /admin/keys/rotate[?alg=ES256]`: a fresh key signs from now on;
/// the previous one stays published until its tokens expire.
pub async fn rotate_keys(admin: AdminPrincipal, request: HttpRequest, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let query: RotateQuery = serde_urlencoded::from_str(request.query_string())
        .map_err(|_| ApiError::InvalidRequest("the only query parameter accepted is alg".into()))?;
    let alg = match query.alg {
        Some(name) => name
            .parse::<Algorithm>()
            .map_err(|accepted| ApiError::InvalidRequest(format!("invalid alg: {accepted}")))?,
        None => issuer.settings.signing_alg,
    };

    let rotation = issuer.rotate(alg).await?;

    tracing::info!(user.id = %admin.user_id, client.id = %admin.client_id, key.kid = %rotation.kid, "admin rotated a signing key");
    Ok(HttpResponse::Ok().json(rotation))
}

/// One key as the admin API lists it: no private material.
#[derive(Serialize)]
pub struct KeyView {
    kid: String,
    alg: Algorithm,
    state: &'static str,
    created_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
    retire_after: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
}

impl From<&StoredKey> for KeyView {
    fn from(key: &StoredKey) -> Self {
        let utc = |time: Option<NaiveDateTime>| time.map(|t| t.and_utc());
        Self {
            kid: key.kid.clone(),
            alg: key.alg,
            state: key.state.as_str(),
            created_at: key.created_at.and_utc(),
            activated_at: utc(key.activated_at),
            retire_after: utc(key.retire_after),
            retired_at: utc(key.retired_at),
        }
    }
}

/// `GET /admin/keys`: every key with its state and timestamps.
pub async fn list_keys(_admin: AdminPrincipal, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let keys = issuer.list_keys().await?;
    let views: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": views })))
}
