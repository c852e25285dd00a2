//! The admin API under `/admin`. Every handler takes `AdminPrincipal`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::auth::AdminPrincipal;
use super::error::ApiError;
use crate::keys::Algorithm;
use crate::service::Issuer;
use crate::service::keys::KeyView;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateQuery {
    alg: Option<String>,
    force: Option<String>,
}

/// `POST /admin/keys/rotate[?alg=ES256][&force=true]`: stages a new key,
/// which signs after the staging delay; with `force=true` a key signs at
/// once.
pub async fn rotate_keys(admin: AdminPrincipal, request: HttpRequest, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let query: RotateQuery = serde_urlencoded::from_str(request.query_string())
        .map_err(|_| ApiError::InvalidRequest("the query parameters accepted are alg and force".into()))?;
    let alg = match query.alg {
        Some(name) => name
            .parse::<Algorithm>()
            .map_err(|accepted| ApiError::InvalidRequest(format!("invalid alg: {accepted}")))?,
        None => issuer.settings.signing_alg,
    };
    let force = match query.force.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::InvalidRequest("invalid force: expected true or false".into())),
    };

    let result = issuer.rotate(alg, force, &admin.actor()).await.map_err(ApiError::from);
    admin.audit(&issuer, if force { "key.rotate_forced" } else { "key.rotate" }, None, None, &result);
    let rotation = result?;

    tracing::info!(user.id = %admin.user_id, client.id = %admin.client_id, key.kid = %rotation.kid, force, "admin rotated a signing key");
    Ok(no_store(rotation))
}

/// `POST /admin/keys/{kid}/revoke`: withdraws a compromised key at once.
pub async fn revoke_key(admin: AdminPrincipal, kid: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let kid = kid.into_inner();
    // A kid is printable ASCII; anything else cannot name a stored key and
    // is not sent to the database.
    if kid.is_empty() || kid.len() > 128 || !kid.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::NotFound("no key with this kid".into()));
    }

    let result = issuer.revoke(&kid, &admin.actor()).await.map_err(ApiError::from);
    admin.audit(&issuer, "key.revoke", None, None, &result);
    let revocation = result?;

    tracing::warn!(user.id = %admin.user_id, client.id = %admin.client_id, key.kid = %kid, "admin revoked a signing key");
    Ok(no_store(revocation))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<i64>,
}

/// `GET /admin/audit[?limit=100]`: the newest audit events first.
pub async fn audit_events(_admin: AdminPrincipal, request: HttpRequest, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let query: AuditQuery = serde_urlencoded::from_str(request.query_string())
        .map_err(|_| ApiError::InvalidRequest("the only query parameter accepted is limit, a number".into()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    issuer.audit.flush().await;
    let events = issuer.db.run(move |conn| crate::store::audit::recent(conn, limit)).await?;
    let views: Vec<serde_json::Value> = events
        .into_iter()
        .map(|event| {
            serde_json::json!({
                "occurred_at": event.occurred_at.and_utc(),
                "actor": event.actor,
                "action": event.action,
                "client_id": event.client_id,
                "user_id": event.user_id,
                "outcome": event.outcome,
                "detail": event.detail,
            })
        })
        .collect();
    Ok(no_store(serde_json::json!({ "events": views })))
}

/// `GET /admin/keys`: every key with its state and timestamps.
pub async fn list_keys(_admin: AdminPrincipal, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let keys = issuer.list_keys().await?;
    let views: Vec<KeyView> = keys.iter().map(KeyView::from).collect();
    Ok(no_store(serde_json::json!({ "keys": views })))
}

/// Builds a 200 JSON response that no cache may keep, since admin data is
/// per caller.
fn no_store(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().insert_header((actix_web::http::header::CACHE_CONTROL, "no-store")).json(body)
}
