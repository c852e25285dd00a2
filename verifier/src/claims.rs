//! The verified claims of an access token.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Algorithm, VerifyError};

/// `aud` as RFC 7519 §4.1.3 allows it: one string or an array.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|item| item == audience),
        }
    }
}

/// The claims of an RFC 9068 access token. Times are integer seconds since
/// the Unix epoch; a token with fractional times is rejected as malformed.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
    pub client_id: Option<String>,
    /// Space-separated scope tokens; empty when the token has none.
    #[serde(default)]
    pub scope: String,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|token| !token.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|token| token == scope)
    }
}

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub kid: String,
    pub alg: Algorithm,
    pub claims: Claims,
}

impl AccessToken {
    /// Fails with `InsufficientScope` unless the token carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), VerifyError> {
        if self.claims.has_scope(scope) { Ok(()) } else { Err(VerifyError::InsufficientScope(scope.to_owned())) }
    }
}
