//! Token introspection (RFC 7662), token revocation (RFC 7009) and the
//! OpenID Connect userinfo endpoint.
//!
//! Access tokens are self-contained JWTs: introspection verifies them the
//! way a resource server would, plus a database check that their key is
//! not revoked. They cannot be revoked one by one; only refresh tokens,
//! which live in the database, can.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Issuer;
use super::token::storage_failure;
use crate::keys::{KeyState, jwt};
use crate::oauth::{ClientCredentials, ClientKind, OAuthError};
use crate::store::{StoreError, refresh_tokens, signing_keys, users};

/// Userinfo failures, in RFC 6750 terms.
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    #[error("{0}")]
    InvalidToken(String),
    #[error("the token lacks the openid scope")]
    InsufficientScope,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Returns whether a token has the compact JWS shape of Tessera's access tokens.
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

impl Issuer {
    /// Verifies an access token of this issuer for any audience, including
    /// the database check that its key is still active or retiring.
    async fn verify_own_access_token(&self, token: &str) -> Result<Map<String, Value>, String> {
        let now = self.now().and_utc().timestamp();
        let leeway = i64::from(self.settings.clock_skew);
        let verified = jwt::verify_access_token(token, &self.ring, &self.settings.issuer, None, now, leeway)
            .map_err(|error| error.to_string())?;
        let kid = verified.kid.clone();
        let state = self.db.run(move |conn| signing_keys::state_of(conn, &kid)).await.map_err(|e| e.to_string())?;
        if !matches!(state, Some(KeyState::Active | KeyState::Retiring)) {
            return Err("the token was signed by an unknown or withdrawn key".into());
        }
        Ok(verified.claims)
    }

    /// Reports whether `token` is active, and its metadata (RFC 7662 §2).
    /// Only confidential clients may introspect, and a refresh token is
    /// shown only to the client it was issued to.
    pub async fn introspect(&self, credentials: ClientCredentials, token: String) -> Result<Value, OAuthError> {
        let client = self.authenticate_request_client(&credentials).await?;
        if matches!(client.kind, ClientKind::Public) {
            tracing::info!(client.id = %client.client_id, "introspection rejected: public client");
            return Err(credentials.failure());
        }
        let inactive = json!({ "active": false });

        if looks_like_jwt(&token) {
            let Ok(claims) = self.verify_own_access_token(&token).await else { return Ok(inactive) };
            let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
            let token_client = claims.get("client_id").and_then(Value::as_str).unwrap_or_default().to_owned();
            if !self.principals_enabled(&subject, &token_client).await.map_err(storage_failure)? {
                return Ok(inactive);
            }
            let mut response = Map::new();
            response.insert("active".into(), Value::Bool(true));
            response.insert("token_type".into(), Value::String("Bearer".into()));
            for name in ["scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti"] {
                if let Some(value) = claims.get(name) {
                    response.insert(name.into(), value.clone());
                }
            }
            return Ok(Value::Object(response));
        }

        let digest = self.secret_key.digest(&token);
        let row = self.db.run(move |conn| refresh_tokens::find_by_hash(conn, &digest)).await.map_err(storage_failure)?;
        let now = self.now();
        let enabled = match &row {
            Some(row) => self.principals_enabled(&row.user_id, &row.client_id).await.map_err(storage_failure)?,
            None => false,
        };
        match row {
            Some(row)
                if enabled
                    && row.client_id == client.client_id
                    && row.used_at.is_none()
                    && row.revoked_at.is_none()
                    && row.expires_at > now =>
            {
                Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": row.scope,
                    "client_id": row.client_id,
                    "sub": row.user_id,
                    "iss": self.settings.issuer,
                    "exp": row.expires_at.and_utc().timestamp(),
                    "iat": row.issued_at.and_utc().timestamp(),
                }))
            }
            _ => Ok(inactive),
        }
    }

    /// Returns whether the token's user (when `subject` is a user id) and client
    /// still exist and are enabled: a token of a disabled account is
    /// reported inactive.
    async fn principals_enabled(&self, subject: &str, client_id: &str) -> Result<bool, StoreError> {
        let user_id = Uuid::parse_str(subject).ok();
        let client_id = client_id.to_owned();
        self.db
            .run(move |conn| {
                let user_ok = match user_id {
                    Some(id) => users::find_by_id(conn, id)?.is_some_and(|user| !user.disabled),
                    None => true,
                };
                let client_ok = crate::store::clients::find(conn, &client_id)?.is_some_and(|client| !client.disabled);
                Ok(user_ok && client_ok)
            })
            .await
    }

    /// RFC 7009 §2: revokes a refresh token (its whole family). An unknown
    /// or invalid token is not an error. A valid access token gets
    /// `unsupported_token_type`, because it is a self-contained JWT that stays
    /// valid until its `exp`.
    pub async fn revoke_token(&self, credentials: ClientCredentials, token: String) -> Result<(), OAuthError> {
        let client = self.authenticate_request_client(&credentials).await?;
        if looks_like_jwt(&token) {
            return match self.verify_own_access_token(&token).await {
                Ok(_) => Err(OAuthError::UnsupportedTokenType),
                Err(_) => Ok(()),
            };
        }
        let digest = self.secret_key.digest(&token);
        let now = self.now();
        let client_id = client.client_id.clone();
        let outcome = self
            .db
            .run(move |conn| {
                let Some(row) = refresh_tokens::find_by_hash(conn, &digest)? else { return Ok(None) };
                if row.client_id != client_id {
                    return Ok(Some(false));
                }
                refresh_tokens::revoke_family(conn, &row.family_id, "revoked by client", now)?;
                Ok(Some(true))
            })
            .await
            .map_err(storage_failure)?;
        match outcome {
            // RFC 7009 §2.1: a token issued to another client is refused.
            Some(false) => {
                tracing::info!(client.id = %client.client_id, "revocation rejected: refresh token of another client");
                Err(OAuthError::InvalidGrant)
            }
            Some(true) => {
                tracing::info!(client.id = %client.client_id, "revoked a refresh token family");
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// OpenID Connect Core §5.3: the claims about the user of an access
    /// token that carries the `openid` scope.
    pub async fn userinfo(&self, token: &str) -> Result<Value, UserinfoError> {
        let claims = self.verify_own_access_token(token).await.map_err(UserinfoError::InvalidToken)?;
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
        if !scope.split(' ').any(|token| token == "openid") {
            return Err(UserinfoError::InsufficientScope);
        }
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| Uuid::parse_str(sub).ok())
            .ok_or_else(|| UserinfoError::InvalidToken("the token's subject is not a user".into()))?;
        let user = self.db.run(move |conn| users::find_by_id(conn, user_id)).await?;
        let Some(user) = user.filter(|user| !user.disabled) else {
            return Err(UserinfoError::InvalidToken("the token's user is disabled or deleted".into()));
        };
        let mut response = json!({ "sub": user.id.to_string() });
        if scope.split(' ').any(|token| token == "profile") {
            response["preferred_username"] = Value::String(user.username);
        }
        Ok(response)
    }
}
