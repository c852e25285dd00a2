//! `/.well-known/jwks.json` and the discovery documents, all served from
//! memory.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error::ApiError;
use crate::config::Settings;
use crate::keys::Algorithm;
use crate::oauth::GrantType;
use crate::service::Issuer;

/// Seconds a client may cache a discovery document.
const DISCOVERY_MAX_AGE: u32 = 3600;

/// The discovery document, serialised once at start.
pub struct Discovery {
    body: web::Bytes,
}

impl Discovery {
    /// Builds the metadata of RFC 8414 §2 and OpenID Connect Discovery §3.
    pub fn new(settings: &Settings) -> Self {
        let issuer = &settings.issuer;
        let grant_types: Vec<&str> = GrantType::ALL.iter().map(|grant| grant.as_str()).collect();
        let document = json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "grant_types_supported": grant_types,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": Algorithm::ALL.map(Algorithm::as_str),
            "scopes_supported": settings.scopes_supported,
            // Tessera has no authorization endpoint, so it supports no
            // response_type; the member is required, and an empty list is
            // the truthful value.
            "response_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": settings.enabled_algs().iter().map(|alg| alg.as_str()).collect::<Vec<_>>(),
            "access_token_signing_alg_values_supported": [settings.signing_alg.as_str()],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"],
        });
        Self { body: web::Bytes::from(document.to_string()) }
    }
}

pub async fn discovery(document: web::Data<Discovery>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={DISCOVERY_MAX_AGE}")))
        .content_type("application/json")
        .body(document.body.clone())
}

/// Builds the JWKS caching policy: verifiers may cache for max-age and keep using
/// a stale copy for stale-while-revalidate while they refetch. The staging
/// delay of new keys is derived from the sum.
fn jwks_cache_control(settings: &Settings) -> String {
    format!(
        "public, max-age={}, stale-while-revalidate={}",
        settings.jwks_max_age, settings.jwks_stale_while_revalidate
    )
}

/// Serves the JWKS with its ETag; a matching If-None-Match gets
/// 304 (RFC 9110 §13.1.2). The ETag is a hash of the body, so it changes
/// exactly when the published key set does.
pub async fn jwks(request: HttpRequest, issuer: web::Data<Issuer>) -> HttpResponse {
    let jwks = issuer.ring.jwks();
    let cache_control = jwks_cache_control(&issuer.settings);
    let etag = HeaderValue::from_str(&jwks.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|value| etag_matches(value, &jwks.etag)) {
        return HttpResponse::NotModified()
            .insert_header((header::CACHE_CONTROL, cache_control))
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, etag))
        .content_type("application/json")
        .body(jwks.body.clone())
}

/// `GET /.well-known/jwks/{kid}`: one published JWK, for verifiers that look
/// a kid up directly.
pub async fn jwk_by_kid(kid: web::Path<String>, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let Some(key) = issuer.ring.published_key(&kid) else {
        return Err(ApiError::NotFound("no published key has this kid".into()));
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, jwks_cache_control(&issuer.settings)))
        .content_type("application/json")
        .body(key.jwk.clone()))
}

/// If-None-Match uses the weak comparison: `W/` prefixes are ignored.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|candidate| candidate.trim())
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_match_uses_weak_comparison() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
