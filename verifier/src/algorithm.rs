//! The asymmetric JWS algorithms a verifier may allow.
//!
//! NOTE: the issuer has the same list in src/keys/algorithm.rs. This crate
//! must not depend on the issuer; a small shared crate would fold the two.

use josekit::jwk::Jwk;
use josekit::jws::{ES256, ES384, EdDSA, JwsVerifier, PS256, RS256};

/// An asymmetric JWS algorithm. `none` and the HMAC algorithms have no
/// variant, so no configuration can allow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Ps256,
    Es256,
    Es384,
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
    ];

    /// The `alg` value as registered for JOSE.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses an `alg` value; the match is exact, as JOSE names are
    /// case-sensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// Builds a verifier for `jwk`. josekit checks that the key type fits
    /// the algorithm, that `use` is `sig` and `key_ops` allows `verify`
    /// when present, and that the JWK's own `alg` matches.
    pub(crate) fn verifier_for(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, String> {
        let verifier: Result<Box<dyn JwsVerifier>, _> = match self {
            Self::Rs256 => RS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
            Self::Ps256 => PS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
            Self::Es256 => ES256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
            Self::Es384 => ES384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
            Self::EdDsa => EdDSA.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        };
        verifier.map_err(|error| error.to_string())
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
