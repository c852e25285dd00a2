//! Fetching and parsing the JWKS, and reading its cache lifetime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::Value;

use crate::Algorithm;

/// Largest JWKS or discovery document read, in bytes.
const MAX_DOCUMENT_LEN: usize = 256 * 1024;
/// Bounds on the cache lifetime taken from the issuer.
const MIN_MAX_AGE: Duration = Duration::from_secs(1);
const MAX_MAX_AGE: Duration = Duration::from_secs(86_400);

/// A published key ready to verify, with the algorithm it is for.
pub(crate) struct VerifyingKey {
    pub alg: Algorithm,
    pub verifier: Box<dyn JwsVerifier>,
}

/// The keys of one JWKS response and how long they may be cached.
pub(crate) struct FetchedKeys {
    pub keys: HashMap<String, Arc<VerifyingKey>>,
    pub max_age: Duration,
}

/// Fetches a JSON document, with a size cap.
pub(crate) async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<(Value, Option<Duration>), String> {
    let response = http.get(url).send().await.map_err(|error| format!("GET {url} failed: {error}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url} returned {}", response.status()));
    }
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_max_age);
    if response.content_length().is_some_and(|length| length > MAX_DOCUMENT_LEN as u64) {
        return Err(format!("GET {url} returned more than {MAX_DOCUMENT_LEN} bytes"));
    }
    let body = response.bytes().await.map_err(|error| format!("GET {url} failed: {error}"))?;
    if body.len() > MAX_DOCUMENT_LEN {
        return Err(format!("GET {url} returned more than {MAX_DOCUMENT_LEN} bytes"));
    }
    let document = serde_json::from_slice(&body).map_err(|_| format!("GET {url} did not return JSON"))?;
    Ok((document, max_age))
}

/// Reads `max-age` from a Cache-Control value; `no-store` and `no-cache`
/// count as zero.
pub(crate) fn parse_max_age(cache_control: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    max_age
}

/// Builds verifiers for the usable keys of a JWKS: each needs a kid and an
/// `alg` on the allow-list, and must suit that algorithm. Other keys are
/// skipped, since a JWKS may carry keys for other uses.
pub(crate) fn parse_jwks(document: &Value, allowed: &[Algorithm], max_age: Option<Duration>, default_max_age: Duration) -> Result<FetchedKeys, String> {
    let entries = document.get("keys").and_then(Value::as_array).ok_or("the JWKS has no keys array")?;
    let mut keys = HashMap::new();
    for entry in entries {
        let Some(kid) = entry.get("kid").and_then(Value::as_str) else { continue };
        let Some(alg) = entry.get("alg").and_then(Value::as_str).and_then(Algorithm::from_name) else { continue };
        if !allowed.contains(&alg) {
            continue;
        }
        let Ok(jwk) = Jwk::from_bytes(entry.to_string()) else { continue };
        match alg.verifier_for(&jwk) {
            Ok(verifier) => {
                keys.insert(kid.to_owned(), Arc::new(VerifyingKey { alg, verifier }));
            }
            Err(reason) => tracing::warn!(key.kid = kid, key.alg = %alg, reason, "skipped a JWKS key that cannot verify"),
        }
    }
    let max_age = max_age.unwrap_or(default_max_age).clamp(MIN_MAX_AGE, MAX_MAX_AGE);
    Ok(FetchedKeys { keys, max_age })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(parse_max_age("public, max-age=300, stale-while-revalidate=60"), Some(Duration::from_secs(300)));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }

    #[test]
    fn jwks_keys_outside_allow_list_are_skipped() {
        let document = serde_json::json!({ "keys": [
            { "kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0" },
            { "kty": "EC", "kid": "no-alg", "crv": "P-256", "x": "x", "y": "y" },
        ]});
        let fetched = parse_jwks(&document, &[Algorithm::Es256], None, Duration::from_secs(60)).unwrap();
        assert!(fetched.keys.is_empty());
        assert_eq!(fetched.max_age, Duration::from_secs(60));
    }
}
