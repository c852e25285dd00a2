//! Claims of an RFC 9068 access token.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Scope;

/// The claims RFC 9068 §2.2 requires, plus `client_id` and `scope`.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims {
    pub issuer: String,
    /// The user's stable id for a user grant.
    pub subject: String,
    pub audience: String,
    pub client_id: String,
    pub scope: Scope,
    /// Issue time, seconds since the Unix epoch.
    pub issued_at: i64,
    /// Lifetime in seconds.
    pub lifetime: u32,
    pub jwt_id: Uuid,
}

impl AccessTokenClaims {
    pub fn expires_at(&self) -> i64 {
        self.issued_at + i64::from(self.lifetime)
    }

    /// The JSON claims set. Times are integer NumericDates.
    pub fn to_map(&self) -> Map<String, Value> {
        let value = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "exp": self.expires_at(),
            "iat": self.issued_at,
            "jti": self.jwt_id.to_string(),
            "client_id": self.client_id,
            "scope": self.scope.to_string(),
        });
        match value {
            Value::Object(map) => map,
            _ => unreachable!("json! of an object literal is an object"),
        }
    }
}
