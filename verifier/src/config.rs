//! Verifier settings, strict by default.

use std::time::Duration;

use crate::Algorithm;

/// The source of the keys.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    /// `jwks_uri` from `{issuer}/.well-known/openid-configuration`.
    Discovery,
    /// A JWKS URL given directly.
    JwksUri(String),
}

/// The settings of a [`crate::Verifier`]: what it accepts and how it caches keys.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub(crate) source: KeySource,
    /// The exact `iss` every token must carry.
    pub(crate) issuer: String,
    /// The value `aud` must contain.
    pub(crate) audience: String,
    /// Allowed algorithms; a token or key with any other is rejected.
    pub(crate) algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub(crate) leeway: Duration,
    /// How long past its expiry the last good key set is still used while
    /// the issuer cannot be reached.
    pub(crate) max_stale: Duration,
    /// Minimum time between two refetches caused by unknown kids, so forged
    /// kids cannot make the verifier flood the issuer.
    pub(crate) unknown_kid_refetch_interval: Duration,
    /// Cache lifetime when the JWKS response has no `max-age`.
    pub(crate) default_max_age: Duration,
    /// Time limit of one request to the issuer.
    pub(crate) http_timeout: Duration,
}

impl VerifierConfig {
    /// Finds the JWKS through the issuer's discovery document.
    pub fn from_issuer(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::new(KeySource::Discovery, issuer.into(), audience.into())
    }

    /// Uses a JWKS URL directly.
    pub fn from_jwks_uri(issuer: impl Into<String>, jwks_uri: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::new(KeySource::JwksUri(jwks_uri.into()), issuer.into(), audience.into())
    }

    fn new(source: KeySource, issuer: String, audience: String) -> Self {
        Self {
            source,
            issuer,
            audience,
            algorithms: vec![Algorithm::Es256],
            leeway: Duration::from_secs(60),
            max_stale: Duration::from_secs(3600),
            unknown_kid_refetch_interval: Duration::from_secs(10),
            default_max_age: Duration::from_secs(300),
            http_timeout: Duration::from_secs(5),
        }
    }

    /// Sets the allowed algorithms (default: ES256, Tessera's default).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    pub fn unknown_kid_refetch_interval(mut self, interval: Duration) -> Self {
        self.unknown_kid_refetch_interval = interval;
        self
    }

    pub fn default_max_age(mut self, max_age: Duration) -> Self {
        self.default_max_age = max_age;
        self
    }

    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }
}
