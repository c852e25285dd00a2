//! Refresh tokens (RFC 6749 §6), rotated on every use.
//!
//! A password grant for a client allowed `refresh_token` starts a family:
//! one opaque token with 256 random bits, stored only as a keyed hash. Each
//! use marks the token used and issues its successor in the same family.
//! Presenting a used token again is taken as theft (RFC 9700 §4.14.2):
//! the whole family is revoked, so the newer token stops working too. A
//! family ends `refresh_token_max_lifetime` after it started, however
//! often it is used.

use chrono::TimeDelta;
use uuid::Uuid;

use super::Issuer;
use super::token::{TokenResponse, storage_failure};
use crate::credentials;
use crate::oauth::{Client, ClientCredentials, GrantType, OAuthError, Principal, RefreshTokenValue, Scope, User, granted_scope};
use crate::store::refresh_tokens::{self, RefreshTokenRow, Use};
use crate::store::{clients, users};

impl Issuer {
    /// Starts a refresh-token family for a password grant and returns the
    /// token, shown to the client this once.
    pub(super) async fn start_refresh_family(&self, client: &Client, user: &User, scope: &Scope) -> Result<String, OAuthError> {
        let token = credentials::generate_client_secret();
        let now = self.now();
        let family_expires_at = now + TimeDelta::seconds(i64::from(self.settings.refresh_token_max_lifetime));
        let row = RefreshTokenRow {
            id: Uuid::new_v4().to_string(),
            family_id: Uuid::new_v4().to_string(),
            token_hash: self.secret_key.digest(&token),
            client_id: client.client_id.clone(),
            user_id: user.id.to_string(),
            scope: scope.to_string(),
            issued_at: now,
            expires_at: self.refresh_expiry(now, family_expires_at),
            family_expires_at,
            used_at: None,
            revoked_at: None,
            revoked_reason: None,
            auth_time: Some(now),
        };
        self.db.run(move |conn| refresh_tokens::insert(conn, &row)).await.map_err(storage_failure)?;
        Ok(token)
    }

    fn refresh_expiry(&self, now: chrono::NaiveDateTime, family_expires_at: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        (now + TimeDelta::seconds(i64::from(self.settings.refresh_token_lifetime))).min(family_expires_at)
    }

    /// RFC 6749 §6: a new access token, and a new refresh token in place of
    /// the presented one. The scope may be narrowed, never widened.
    pub(super) async fn refresh_grant(
        &self,
        credentials: ClientCredentials,
        presented: RefreshTokenValue,
        requested_scope: Option<Scope>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let client_id = credentials.client_id().to_owned();
        let token_hash = self.secret_key.digest(presented.expose());
        let lookup_hash = token_hash.clone();
        let (client, row, user) = self
            .db
            .run(move |conn| {
                let client = clients::find(conn, &client_id)?;
                let row = refresh_tokens::find_by_hash(conn, &lookup_hash)?;
                let user = match row.as_ref().and_then(|row| Uuid::parse_str(&row.user_id).ok()) {
                    Some(user_id) => users::find_by_id(conn, user_id)?,
                    None => None,
                };
                Ok((client, row, user))
            })
            .await
            .map_err(storage_failure)?;
        let client = self.authorize_client(&credentials, client, GrantType::RefreshToken).await?;

        let reject = |reason: &str| {
            tracing::info!(client.id = %client.client_id, grant.r#type = "refresh_token", reason, "token request rejected: invalid grant");
            OAuthError::InvalidGrant
        };
        let Some(row) = row else { return Err(reject("unknown refresh token")) };
        // A token is bound to the client it was issued to.
        if row.client_id != client.client_id {
            return Err(reject("refresh token of another client"));
        }
        let Some(user) = user.filter(|user| !user.disabled) else {
            return Err(reject("user disabled or deleted"));
        };

        // The family keeps the scope it was granted (RFC 6749 §6); the
        // access token gets the requested part of it, within what the
        // client and user may still have.
        let family_scope = Scope::parse(&row.scope).map_err(|_| OAuthError::ServerError)?;
        let requested = requested_scope.unwrap_or_else(|| family_scope.clone());
        if !requested.is_subset_of(&family_scope) {
            tracing::info!(client.id = %client.client_id, user.id = %user.id, "token request rejected: refresh scope wider than granted");
            return Err(OAuthError::invalid_scope("the requested scope exceeds the scope of the refresh token"));
        }
        let principal = if user.is_admin { Principal::Administrator } else { Principal::Regular };
        let scope = granted_scope(&client, principal, Some(&requested))?;
        // Checked before the token is used up, so a wrong resource leaves
        // the refresh token valid.
        client.select_audience(&self.settings.audience_for(None), resource)?;

        let now = self.now();
        let new_token = credentials::generate_client_secret();
        let new_hash = self.secret_key.digest(&new_token);
        let expires = |row: &RefreshTokenRow| self.refresh_expiry(now, row.family_expires_at);
        let successor = move |used: &RefreshTokenRow| RefreshTokenRow {
            id: Uuid::new_v4().to_string(),
            family_id: used.family_id.clone(),
            token_hash: new_hash,
            client_id: used.client_id.clone(),
            user_id: used.user_id.clone(),
            scope: used.scope.clone(),
            issued_at: now,
            expires_at: expires(used),
            family_expires_at: used.family_expires_at,
            used_at: None,
            revoked_at: None,
            revoked_reason: None,
            auth_time: used.auth_time,
        };
        let successor = {
            let template = successor(&row);
            move |_: &RefreshTokenRow| template
        };
        let used = self
            .db
            .run(move |conn| refresh_tokens::use_token(conn, &token_hash, now, successor))
            .await
            .map_err(storage_failure)?;
        match used {
            Use::Rotated(_) => {}
            Use::Reused(row) => {
                tracing::warn!(
                    client.id = %client.client_id,
                    user.id = %user.id,
                    family.id = %row.family_id,
                    "refresh token reuse detected: revoked the whole token family"
                );
                return Err(OAuthError::InvalidGrant);
            }
            Use::Invalid => return Err(reject("refresh token expired or revoked")),
        }

        let mut response = self.sign_access_token(&client, user.id.to_string(), scope.clone(), resource)?;
        response.refresh_token = Some(new_token);
        let auth_time = row.auth_time.unwrap_or(row.issued_at).and_utc().timestamp();
        response.id_token = self.id_token_for(&client, &user, &scope, auth_time)?;
        tracing::info!(client.id = %client.client_id, user.id = %user.id, grant.r#type = "refresh_token", "issued an access token");
        Ok(response)
    }
}
