//! Compact JWS encoding of JWTs, and the issuer's own check of the access
//! tokens it receives (on the admin API).
//!
//! Tokens are assembled here instead of through josekit's JWT helpers, which
//! write fractional NumericDate values: every time claim Tessera writes is an
//! integer, as RFC 7519 §2 clients expect.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{KeyError, KeyRing, TokenSigner};

/// The `typ` header of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Maximum length of a token this module parses; larger input is rejected
/// unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Signs `claims` as a compact JWS with the signer's kid and algorithm.
pub fn encode(signer: &dyn TokenSigner, typ: &str, claims: &Map<String, Value>) -> Result<String, KeyError> {
    let header = json!({ "alg": signer.alg().as_str(), "typ": typ, "kid": signer.kid() });
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string()));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(token)
}

/// Reasons a presented access token is rejected. The message is safe to
/// return to the client, because it names the failed check and never
/// echoes input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    #[error("the token was signed by an unknown or withdrawn key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
}

/// A token that passed `verify_access_token`.
#[derive(Debug)]
pub struct VerifiedToken {
    pub kid: String,
    pub claims: Map<String, Value>,
}

/// Checks an access token signed by a key of this ring: signature by a
/// published kid with that key's own algorithm, `typ`, `iss`, `aud` (unless
/// `audience` is `None`, for introspection and userinfo, which serve every
/// audience), and `exp` and `nbf` with `leeway` seconds of clock skew.
pub fn verify_access_token(
    token: &str,
    ring: &KeyRing,
    issuer: &str,
    audience: Option<&str>,
    now: i64,
    leeway: i64,
) -> Result<VerifiedToken, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let unverified_header = decode_object(header_b64)?;

    let typ = unverified_header.get("typ").and_then(Value::as_str).unwrap_or_default();
    if !typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE) && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(TokenError::WrongType);
    }
    // RFC 7515 §4.1.11: a critical extension this code does not know must
    // make the token invalid.
    if unverified_header.contains_key("crit") {
        return Err(TokenError::Malformed);
    }
    let kid = unverified_header.get("kid").and_then(Value::as_str).ok_or(TokenError::UnknownKey)?;
    let key = ring.published_key(kid).ok_or(TokenError::UnknownKey)?;
    // The key decides the algorithm; a header naming another one is rejected
    // rather than obeyed (RFC 8725 §3.1).
    if unverified_header.get("alg").and_then(Value::as_str) != Some(key.alg.as_str()) {
        return Err(TokenError::BadSignature);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(TokenError::BadSignature);
    }

    let claims = decode_object(payload_b64)?;
    check_claims(&claims, issuer, audience, now, leeway)?;
    Ok(VerifiedToken { kid: key.kid.clone(), claims })
}

fn check_claims(claims: &Map<String, Value>, issuer: &str, audience: Option<&str>, now: i64, leeway: i64) -> Result<(), TokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(TokenError::WrongIssuer);
    }
    let audience_matches = match (audience, claims.get("aud")) {
        (None, Some(Value::String(_) | Value::Array(_))) => true,
        (Some(audience), Some(Value::String(single))) => single == audience,
        (Some(audience), Some(Value::Array(many))) => many.iter().any(|value| value.as_str() == Some(audience)),
        _ => false,
    };
    if !audience_matches {
        return Err(TokenError::WrongAudience);
    }
    let expires_at = claims.get("exp").and_then(Value::as_i64).ok_or(TokenError::Malformed)?;
    if now >= expires_at + leeway {
        return Err(TokenError::Expired);
    }
    if let Some(not_before) = claims.get("nbf") {
        let not_before = not_before.as_i64().ok_or(TokenError::Malformed)?;
        if now + leeway < not_before {
            return Err(TokenError::NotYetValid);
        }
    }
    Ok(())
}

/// Reads `sub` from a JWT without checking anything, to find which
/// client's keys must verify it. The result is untrusted until verified.
pub fn unverified_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let unverified_claims = decode_object(payload).ok()?;
    unverified_claims.get("sub")?.as_str().map(str::to_owned)
}

fn decode_object(part: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::Malformed),
    }
}
