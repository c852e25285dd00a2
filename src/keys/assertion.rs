//! Checking `private_key_jwt` client assertions (RFC 7523 §3, OpenID
//! Connect Core §9).
//!
//! The key is taken from the client's registered JWKS by kid (or the only
//! key when the assertion names none), and the algorithm from that key:
//! only the asymmetric algorithms Tessera knows are accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, JwkSet};
use serde_json::{Map, Value};

use super::Algorithm;
use super::material::verifier_from_jwk;

/// Maximum lifetime of an assertion, in seconds, so a replay cache entry
/// never has to live long.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

/// Reasons an assertion is rejected. They are logged, never sent to the
/// client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("the assertion is malformed")]
    Malformed,
    #[error("the client's registered JWKS has no usable key for this assertion")]
    NoKey,
    #[error("the assertion signature is invalid")]
    BadSignature,
    #[error("iss and sub must both be the client_id")]
    WrongSubject,
    #[error("aud must name the issuer or the token endpoint")]
    WrongAudience,
    #[error("the assertion has expired or lives longer than {MAX_ASSERTION_LIFETIME} s")]
    BadLifetime,
    #[error("the assertion has no jti")]
    MissingJti,
}

/// A verified assertion: what the replay check needs.
#[derive(Debug)]
pub struct VerifiedAssertion {
    pub jti: String,
    pub expires_at: i64,
}

/// Checks a client assertion against the client's JWKS.
pub fn verify_client_assertion(
    assertion: &str,
    jwks: &str,
    client_id: &str,
    audiences: &[&str],
    now: i64,
    leeway: i64,
) -> Result<VerifiedAssertion, AssertionError> {
    let mut parts = assertion.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AssertionError::Malformed);
    };
    let unverified_header = decode_object(header_b64)?;
    let alg = unverified_header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|name| name.parse::<Algorithm>().ok())
        .ok_or(AssertionError::NoKey)?;
    let kid = unverified_header.get("kid").and_then(Value::as_str);

    let set = JwkSet::from_bytes(jwks.as_bytes()).map_err(|_| AssertionError::NoKey)?;
    let candidates: Vec<&Jwk> = match kid {
        Some(kid) => set.get(kid),
        None if set.keys().len() == 1 => set.keys(),
        None => Vec::new(),
    };
    let key = candidates.first().ok_or(AssertionError::NoKey)?;
    // The key's own alg, when it names one, must be the header's: the
    // header cannot choose another algorithm for the key.
    if key.algorithm().is_some_and(|key_alg| key_alg != alg.as_str()) {
        return Err(AssertionError::NoKey);
    }
    let verifier = verifier_from_jwk(alg, key).map_err(|_| AssertionError::NoKey)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| AssertionError::Malformed)?;
    let signing_input = &assertion[..header_b64.len() + 1 + payload_b64.len()];
    if verifier.verify(signing_input.as_bytes(), &signature).is_err() {
        return Err(AssertionError::BadSignature);
    }

    let claims = decode_object(payload_b64)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err(AssertionError::WrongSubject);
    }
    let audience_matches = match claims.get("aud") {
        Some(Value::String(single)) => audiences.contains(&single.as_str()),
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).any(|aud| audiences.contains(&aud)),
        _ => false,
    };
    if !audience_matches {
        return Err(AssertionError::WrongAudience);
    }
    let expires_at = claims.get("exp").and_then(Value::as_i64).ok_or(AssertionError::BadLifetime)?;
    if expires_at + leeway <= now || expires_at > now + MAX_ASSERTION_LIFETIME + leeway {
        return Err(AssertionError::BadLifetime);
    }
    let jti = text("jti").filter(|jti| !jti.is_empty() && jti.len() <= 256).ok_or(AssertionError::MissingJti)?;
    Ok(VerifiedAssertion { jti: jti.to_owned(), expires_at })
}

/// Checks that a client's JWKS is JSON with at least one key Tessera can
/// verify with, and no private key.
pub fn validate_client_jwks(jwks: &str) -> Result<(), String> {
    let set = JwkSet::from_bytes(jwks.as_bytes()).map_err(|_| "the JWKS is not a valid JWK set".to_owned())?;
    let mut usable = 0;
    for key in set.keys() {
        if key.key_type() == "oct" {
            return Err("the JWKS contains a symmetric (oct) key; register only public keys".into());
        }
        if ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().any(|member| key.parameter(member).is_some()) {
            return Err("the JWKS contains private key material; register only public keys".into());
        }
        let fits = Algorithm::ALL.iter().any(|alg| verifier_from_jwk(*alg, key).is_ok());
        usable += usize::from(fits);
    }
    if usable == 0 {
        return Err("the JWKS has no RSA, EC P-256/P-384 or Ed25519 public key".into());
    }
    Ok(())
}

fn decode_object(part: &str) -> Result<Map<String, Value>, AssertionError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| AssertionError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(AssertionError::Malformed),
    }
}
