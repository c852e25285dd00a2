//! Reading request bodies with a size cap and a deadline, before any
//! parsing or hashing happens.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, BytesMut};
use futures_util::StreamExt;

use crate::oauth::OAuthError;

/// Largest body accepted on the OAuth endpoints, in bytes.
pub const MAX_FORM_BODY: usize = 16 * 1024;
/// Time allowed for the whole body to arrive once the headers are in.
const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Returns the one value of a header, or `invalid_request` when it is sent
/// more than once: two values would leave it open which one counts.
pub fn single_header(request: &HttpRequest, name: header::HeaderName) -> Result<Option<&header::HeaderValue>, OAuthError> {
    let mut values = request.headers().get_all(&name);
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(format!("the {name} header is repeated")));
    }
    Ok(first)
}

/// Checks that the request declares a form-encoded body (RFC 6749 §3.2).
pub fn require_form_content_type(request: &HttpRequest) -> Result<(), OAuthError> {
    let media_type = single_header(request, header::CONTENT_TYPE)?
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") => Ok(()),
        _ => Err(OAuthError::invalid_request(
            "the content type must be application/x-www-form-urlencoded",
        )),
    }
}

/// Reads the body, rejecting it once it passes `limit` bytes or when it
/// does not arrive within the deadline.
pub async fn read_capped(request: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<BytesMut, OAuthError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(OAuthError::BodyTooLarge { limit });
    }
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| OAuthError::invalid_request("the request body could not be read"))?;
            if body.len() + chunk.len() > limit {
                return Err(OAuthError::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .unwrap_or_else(|_| Err(OAuthError::invalid_request("the request body did not arrive in time")))
}
