//! `POST /oauth2/introspect` (RFC 7662), `POST /oauth2/revoke` (RFC 7009)
//! and `GET|POST /oauth2/userinfo` (OpenID Connect Core §5.3).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::body::{MAX_FORM_BODY, read_capped, require_form_content_type, single_header};
use super::error::ApiError;
use crate::oauth::{ClientCredentials, FormParams, OAuthError};
use crate::service::Issuer;
use crate::service::introspection::UserinfoError;

/// Maximum length of a token for introspection or revocation.
const MAX_TOKEN_PARAMETER: usize = 8 * 1024;

/// Parses a form request that carries client credentials and `token`.
async fn token_request(request: &HttpRequest, payload: web::Payload) -> Result<(ClientCredentials, String), OAuthError> {
    require_form_content_type(request)?;
    let authorization = single_header(request, header::AUTHORIZATION)?;
    let body = read_capped(request, payload, MAX_FORM_BODY).await?;
    let mut params = FormParams::parse(&body)?;
    let authorization = match authorization {
        Some(value) => Some(value.to_str().map_err(|_| OAuthError::InvalidClient { basic: true })?),
        None => None,
    };
    let credentials = ClientCredentials::from_request(authorization, &mut params)?;
    let token = params.require("token")?;
    if token.len() > MAX_TOKEN_PARAMETER {
        return Err(OAuthError::invalid_request("the token parameter is longer than 8192 bytes"));
    }
    // token_type_hint is optional and only a hint (RFC 7009 §2.1); the
    // token's form determines its type.
    Ok((credentials, token))
}

pub async fn introspect(request: HttpRequest, payload: web::Payload, issuer: web::Data<Issuer>) -> Result<HttpResponse, OAuthError> {
    let (credentials, token) = token_request(&request, payload).await?;

    let response = issuer.introspect(credentials, token).await?;

    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(response))
}

pub async fn revoke(request: HttpRequest, payload: web::Payload, issuer: web::Data<Issuer>) -> Result<HttpResponse, OAuthError> {
    let (credentials, token) = token_request(&request, payload).await?;

    issuer.revoke_token(credentials, token).await?;

    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}

/// Reads the bearer token from the Authorization header; userinfo takes no
/// body, so a token in a form is not accepted.
pub async fn userinfo(request: HttpRequest, issuer: web::Data<Issuer>) -> Result<HttpResponse, ApiError> {
    let token = super::auth::bearer_token(&request)?;

    let claims = issuer.userinfo(&token).await.map_err(|error| match error {
        UserinfoError::InvalidToken(reason) => ApiError::InvalidToken(reason),
        UserinfoError::InsufficientScope => ApiError::InsufficientScope("openid"),
        UserinfoError::Store(store) => store.into(),
    })?;

    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(claims))
}
