//! Claims of an RFC 9068 access token.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Scope;

/// The claims of an OpenID Connect ID token (Core §2), for the client that
/// requested the `openid` scope.
#[derive(Debug, Clone)]
pub struct IdTokenClaims {
    pub issuer: String,
    /// The user's stable id, as in the access token.
    pub subject: String,
    /// The client_id: ID tokens are addressed to the client.
    pub client_id: String,
    pub issued_at: i64,
    pub lifetime: u32,
    /// When the user last authenticated with a password.
    pub auth_time: i64,
    /// Sent when the `profile` scope was granted.
    pub preferred_username: Option<String>,
}

impl IdTokenClaims {
    pub fn to_map(&self) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(self.subject));
        claims.insert("aud".into(), json!(self.client_id));
        claims.insert("azp".into(), json!(self.client_id));
        claims.insert("exp".into(), json!(self.issued_at + i64::from(self.lifetime)));
        claims.insert("iat".into(), json!(self.issued_at));
        claims.insert("auth_time".into(), json!(self.auth_time));
        if let Some(username) = &self.preferred_username {
            claims.insert("preferred_username".into(), json!(username));
        }
        claims
    }
}

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
