//! The verifier: key cache plus the RFC 8725 / RFC 9068 checks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::config::KeySource;
use crate::jwks::{VerifyingKey, fetch_json, parse_jwks};
use crate::{AccessToken, Algorithm, Claims, VerifierConfig, VerifyError};

/// Longest token parsed; larger input is rejected unread.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Delay before retrying a failed background refresh.
const REFRESH_RETRY: Duration = Duration::from_secs(5);

/// Checks access tokens offline against the issuer's published keys.
/// Cheap to clone; clones share one key cache.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: VerifierConfig,
    http: reqwest::Client,
    jwks_uri: String,
    cache: RwLock<Cache>,
    /// Held while fetching, so concurrent misses cause one request.
    fetch: tokio::sync::Mutex<FetchState>,
}

struct Cache {
    keys: HashMap<String, Arc<VerifyingKey>>,
    /// Until then the keys are fresh; the background task refreshes them
    /// shortly before.
    fresh_until: Instant,
    /// Until then the keys may be used although stale, while the issuer
    /// cannot be reached.
    usable_until: Instant,
}

struct FetchState {
    last_unknown_kid_fetch: Option<Instant>,
}

impl Verifier {
    /// Resolves the JWKS URL (through discovery if configured), fetches the
    /// keys and starts the background refresh. Fails when the issuer cannot
    /// be reached, so a misconfigured resource server stops at start.
    pub async fn new(config: VerifierConfig) -> Result<Self, VerifyError> {
        if config.algorithms.is_empty() {
            return Err(VerifyError::KeysUnavailable("no algorithm is allowed".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| VerifyError::KeysUnavailable(error.to_string()))?;
        let jwks_uri = match &config.source {
            KeySource::JwksUri(uri) => uri.clone(),
            KeySource::Discovery => discover_jwks_uri(&http, &config.issuer).await?,
        };
        let now = Instant::now();
        let inner = Arc::new(Inner {
            config,
            http,
            jwks_uri,
            cache: RwLock::new(Cache { keys: HashMap::new(), fresh_until: now, usable_until: now }),
            fetch: tokio::sync::Mutex::new(FetchState { last_unknown_kid_fetch: None }),
        });
        inner.refresh().await.map_err(VerifyError::KeysUnavailable)?;
        tokio::spawn(refresh_in_background(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// Checks `token` and returns its verified claims.
    pub async fn verify(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let parts = split(token)?;
        let unverified_header = decode_object(parts.header)?;
        let (alg, kid) = self.check_header(&unverified_header)?;
        let key = self.inner.key(kid).await?;
        // The key's own algorithm must be the token's; a token cannot pick
        // another algorithm for a published key.
        if key.alg != alg {
            return Err(VerifyError::KeyMismatch);
        }
        let signature = URL_SAFE_NO_PAD.decode(parts.signature).map_err(|_| VerifyError::Malformed)?;
        if key.verifier.verify(parts.signing_input.as_bytes(), &signature).is_err() {
            return Err(VerifyError::BadSignature);
        }
        let claims = decode_object(parts.payload)?;
        let claims = self.check_claims(claims)?;
        Ok(AccessToken { kid: kid.to_owned(), alg, claims })
    }

    fn check_header<'h>(&self, header: &'h Map<String, Value>) -> Result<(Algorithm, &'h str), VerifyError> {
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Algorithm::from_name)
            .filter(|alg| self.inner.config.algorithms.contains(alg))
            .ok_or(VerifyError::DisallowedAlgorithm)?;
        // RFC 9068 §4: the typ header must be at+jwt; this keeps ID tokens
        // and other JWTs from the same issuer out.
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or_default();
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(VerifyError::WrongType);
        }
        // RFC 7515 §4.1.11: unknown critical extensions invalidate a token.
        if header.contains_key("crit") {
            return Err(VerifyError::Malformed);
        }
        // jwk, jku, x5u and x5c are ignored: keys come only from the JWKS.
        let kid = header.get("kid").and_then(Value::as_str).ok_or(VerifyError::UnknownKey)?;
        Ok((alg, kid))
    }

    fn check_claims(&self, claims: Map<String, Value>) -> Result<Claims, VerifyError> {
        let claims: Claims = serde_json::from_value(Value::Object(claims)).map_err(|_| VerifyError::Malformed)?;
        let config = &self.inner.config;
        if claims.iss != config.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !claims.aud.contains(&config.audience) {
            return Err(VerifyError::WrongAudience);
        }
        let now = unix_now();
        let leeway = i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX);
        if now >= claims.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        let not_before = claims.nbf.into_iter().chain(claims.iat);
        for time in not_before {
            if time > now.saturating_add(leeway) {
                return Err(VerifyError::NotYetValid);
            }
        }
        Ok(claims)
    }

    /// The kids of the cached keys, for diagnostics and tests.
    pub fn cached_kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.inner.read_cache().keys.keys().cloned().collect();
        kids.sort();
        kids
    }
}

impl Inner {
    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        // The cache is replaced whole, so a poisoned lock still holds a
        // consistent value.
        self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Finds the key for `kid`, refetching when the cache is too old or,
    /// rate-limited, when the kid is unknown.
    async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, VerifyError> {
        let (found, usable) = {
            let cache = self.read_cache();
            (cache.keys.get(kid).cloned(), Instant::now() < cache.usable_until)
        };
        if !usable {
            if let Err(reason) = self.refresh().await {
                let cache = self.read_cache();
                if Instant::now() >= cache.usable_until {
                    return Err(VerifyError::KeysUnavailable(reason));
                }
            }
            return self.read_cache().keys.get(kid).cloned().ok_or(VerifyError::UnknownKey);
        }
        if let Some(key) = found {
            return Ok(key);
        }
        self.refetch_for_unknown_kid().await;
        self.read_cache().keys.get(kid).cloned().ok_or(VerifyError::UnknownKey)
    }

    async fn refetch_for_unknown_kid(&self) {
        let mut state = self.fetch.lock().await;
        let interval = self.config.unknown_kid_refetch_interval;
        if state.last_unknown_kid_fetch.is_some_and(|last| last.elapsed() < interval) {
            return;
        }
        state.last_unknown_kid_fetch = Some(Instant::now());
        if let Err(reason) = self.fetch_locked().await {
            tracing::warn!(reason, "refetching the JWKS for an unknown kid failed");
        }
    }

    /// Fetches the JWKS and replaces the cache; on failure the cache stays.
    async fn refresh(&self) -> Result<(), String> {
        let _state = self.fetch.lock().await;
        self.fetch_locked().await
    }

    async fn fetch_locked(&self) -> Result<(), String> {
        let (document, max_age) = fetch_json(&self.http, &self.jwks_uri).await?;
        let fetched = parse_jwks(&document, &self.config.algorithms, max_age, self.config.default_max_age)?;
        let now = Instant::now();
        let fresh_until = now + fetched.max_age;
        let cache = Cache { keys: fetched.keys, fresh_until, usable_until: fresh_until + self.config.max_stale };
        *self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = cache;
        Ok(())
    }
}

/// Refreshes the keys shortly before they go stale, until the verifier is
/// dropped. A failed refresh is retried every few seconds; requests keep
/// using the cached keys until `max_stale` has passed.
async fn refresh_in_background(inner: Weak<Inner>) {
    loop {
        let wait = {
            let Some(inner) = inner.upgrade() else { return };
            let cache = inner.read_cache();
            let remaining = cache.fresh_until.saturating_duration_since(Instant::now());
            // Refresh when 80 % of the lifetime has passed.
            remaining.mul_f64(0.8).max(Duration::from_millis(500))
        };
        tokio::time::sleep(wait).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(reason) = inner.refresh().await {
            tracing::warn!(reason, "refreshing the JWKS failed; the cached keys stay in use");
            drop(inner);
            tokio::time::sleep(REFRESH_RETRY).await;
        }
    }
}

/// Reads `jwks_uri` from the discovery document, which must name the
/// configured issuer (OpenID Connect Discovery §4.3).
async fn discover_jwks_uri(http: &reqwest::Client, issuer: &str) -> Result<String, VerifyError> {
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let (document, _) = fetch_json(http, &url).await.map_err(VerifyError::KeysUnavailable)?;
    if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(VerifyError::KeysUnavailable(format!("the discovery document at {url} names another issuer")));
    }
    document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| VerifyError::KeysUnavailable(format!("the discovery document at {url} has no jwks_uri")))
}

struct Parts<'t> {
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
    signing_input: &'t str,
}

fn split(token: &str) -> Result<Parts<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed);
    }
    let mut pieces = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Parts { header, payload, signature, signing_input })
}

fn decode_object(part: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| VerifyError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(VerifyError::Malformed),
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
}
