//! `POST /oauth2/token` (RFC 6749 §3.2).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::body::{MAX_FORM_BODY, read_capped, require_form_content_type, single_header};
use crate::oauth::{ClientCredentials, FormParams, GrantRequest, OAuthError, parse_resource};
use crate::service::Issuer;

pub async fn token(request: HttpRequest, payload: web::Payload, issuer: web::Data<Issuer>) -> Result<HttpResponse, OAuthError> {
    require_form_content_type(&request)?;
    let authorization = single_header(&request, header::AUTHORIZATION)?;
    let body = read_capped(&request, payload, MAX_FORM_BODY).await?;

    let mut params = FormParams::parse(&body)?;
    let authorization = match authorization {
        Some(value) => Some(value.to_str().map_err(|_| OAuthError::InvalidClient { basic: true })?),
        None => None,
    };
    let credentials = ClientCredentials::from_request(authorization, &mut params)?;
    let resource = parse_resource(&mut params)?;
    let grant = GrantRequest::from_params(&mut params)?;

    let response = issuer.issue_token(credentials, grant, resource).await?;

    // RFC 6749 §5.1: token responses must not be cached.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(response))
}
