//! JSON bodies of the admin API: size cap, strict parsing, and messages
//! that name the field at fault without repeating the value sent (which
//! may be a password).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;

use super::body::read_capped;
use super::error::ApiError;

/// Largest admin request body, in bytes.
const MAX_JSON_BODY: usize = 64 * 1024;

/// Reads and parses a JSON body. Unknown fields are rejected by the target
/// types (`deny_unknown_fields`).
pub async fn parse_json<T: DeserializeOwned>(request: &HttpRequest, payload: web::Payload) -> Result<T, ApiError> {
    let is_json = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        return Err(ApiError::InvalidRequest("the content type must be application/json".into()));
    }
    let body = read_capped(request, payload, MAX_JSON_BODY)
        .await
        .map_err(|error| ApiError::InvalidRequest(error.description().into_owned()))?;
    serde_json::from_slice(&body).map_err(|error| ApiError::InvalidRequest(describe(&error)))
}

/// serde_json's messages for unknown and missing fields name only fields;
/// others can quote the value, so only the position is given for them.
fn describe(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        let field_part = message.split(" at line").next().unwrap_or(&message);
        return field_part.chars().take(200).collect();
    }
    format!("the JSON body is invalid at line {}, column {}", error.line(), error.column())
}

/// Builds a JSON response that no cache may keep.
pub fn no_store(status: actix_web::http::StatusCode, body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// Reads a field that may be absent (leave as is), `null` (clear) or a
/// value (set), for PATCH bodies.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only parsed")]
    struct Sample {
        admin: bool,
    }

    #[test]
    fn json_errors_never_quote_values() {
        let error = serde_json::from_str::<Sample>(r#"{"admin": "hunter2"}"#).unwrap_err();
        let text = describe(&error);
        assert!(!text.contains("hunter2"), "{text}");
        let unknown = serde_json::from_str::<Sample>(r#"{"admin": true, "pasword": "x"}"#).unwrap_err();
        assert!(describe(&unknown).starts_with("unknown field `pasword`"), "{}", describe(&unknown));
    }
}
