//! The token endpoint's work: authenticate the client, run the grant, sign
//! the access token.
//!
//! One storage round trip loads the client and the user together; after
//! that the only work is password hashing on the bounded pool and one
//! signature with a key already in memory.

use serde::Serialize;
use uuid::Uuid;

use super::audit::Entry;
use super::{Busy, Issuer};
use crate::telemetry::LogThrottle;
use crate::credentials::{self, StoredSecret};
use crate::keys::jwt::{self, ACCESS_TOKEN_TYPE};
use crate::oauth::{
    AccessTokenClaims, Client, ClientKind, IdTokenClaims, User, ClientCredentials, GrantRequest, GrantType, OAuthError, Password, Principal,
    Scope, Verification, granted_scope,
};
use crate::keys::assertion;
use crate::store::{StoreError, client_assertions, clients, users};

/// Seconds a client should wait after a 503 from the hashing pool.
const BUSY_RETRY_AFTER_SECONDS: u32 = 1;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An OpenID Connect ID token, when the scope includes `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The token's `sub`, for the audit trail; not sent.
    #[serde(skip)]
    pub subject: String,
}

/// At most one "pool saturated" line every 10 seconds.
static BUSY_LOG: LogThrottle = LogThrottle::new(10);

impl From<Busy> for OAuthError {
    fn from(_: Busy) -> Self {
        if let Some(held_back) = BUSY_LOG.permit() {
            tracing::warn!(
                repeats = held_back,
                "token requests rejected with 503: the password hashing pool is full (raise hash_workers or hash_queue if this persists)"
            );
        }
        OAuthError::TemporarilyUnavailable { retry_after_seconds: BUSY_RETRY_AFTER_SECONDS }
    }
}

/// Maps a storage failure to the protocol error and logs its cause once.
pub(super) fn storage_failure(error: StoreError) -> OAuthError {
    match error {
        StoreError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "token request failed: database unavailable");
            OAuthError::TemporarilyUnavailable { retry_after_seconds: BUSY_RETRY_AFTER_SECONDS }
        }
        other => {
            tracing::error!(error = %other, "token request failed: database error");
            OAuthError::ServerError
        }
    }
}

impl Issuer {
    /// Handles a parsed token request.
    /// `resource` is the RFC 8707 target, which picks the token's `aud`.
    pub async fn issue_token(
        &self,
        credentials: ClientCredentials,
        grant: GrantRequest,
        resource: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let resource = resource.as_deref();
        let action = format!("token.{}", grant.grant_type().as_str());
        let client_id = credentials.client_id().to_owned();
        let result = match grant {
            GrantRequest::Password { username, password, scope } => {
                self.password_grant(credentials, username, password, scope, resource).await
            }
            GrantRequest::ClientCredentials { scope } => self.client_credentials_grant(credentials, scope, resource).await,
            GrantRequest::RefreshToken { refresh_token, scope } => {
                self.refresh_grant(credentials, refresh_token, scope, resource).await
            }
        };
        let (outcome, subject) = match &result {
            Ok(response) => ("success", Some(response.subject.as_str())),
            Err(error) => (error.code(), None),
        };
        // A failed request's client_id is only a claim, so the actor does
        // not name it.
        let actor = if result.is_ok() { format!("client:{client_id}") } else { "unauthenticated".to_owned() };
        self.audit.record(Entry {
            actor: &actor,
            action: &action,
            client_id: Some(&client_id),
            user_id: subject,
            outcome,
            detail: None,
        });
        result
    }

    /// RFC 6749 §4.4: a confidential client acting for itself. The token's
    /// subject is the client_id.
    async fn client_credentials_grant(
        &self,
        credentials: ClientCredentials,
        requested_scope: Option<Scope>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let client_id = credentials.client_id().to_owned();
        let client = self.db.run(move |conn| clients::find(conn, &client_id)).await.map_err(storage_failure)?;
        let client = self.authorize_client(&credentials, client, GrantType::ClientCredentials).await?;
        // §4.4: only confidential clients may use this grant; registration
        // already refuses the combination, this guards older rows.
        if matches!(client.kind, ClientKind::Public) {
            return Err(OAuthError::UnauthorizedClient);
        }

        let scope = granted_scope(&client, Principal::Regular, requested_scope.as_ref()).inspect_err(|_| {
            tracing::info!(client.id = %client.client_id, "token request rejected: invalid scope");
        })?;
        let response = self.sign_access_token(&client, client.client_id.clone(), scope, resource)?;
        tracing::info!(client.id = %client.client_id, grant.r#type = "client_credentials", "issued an access token");
        Ok(response)
    }

    /// RFC 6749 §4.3: resource owner password credentials.
    async fn password_grant(
        &self,
        credentials: ClientCredentials,
        username: String,
        password: Password,
        requested_scope: Option<Scope>,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let client_id = credentials.client_id().to_owned();
        let (client, user) = self
            .db
            .run(move |conn| Ok((clients::find(conn, &client_id)?, users::find_by_username(conn, &username)?)))
            .await
            .map_err(storage_failure)?;

        let client = self.authorize_client(&credentials, client, GrantType::Password).await?;

        // One argon2 verification on every path, against a dummy hash when
        // the user does not exist, so timing does not reveal usernames.
        let stored_hash = match &user {
            Some(user) => user.password_hash.clone(),
            None => credentials::dummy_password_hash().to_owned(),
        };
        let password_matches = self
            .hash_pool
            .run(move || credentials::verify_argon2(password.expose(), &stored_hash))
            .await?;
        let user = match user {
            Some(user) if password_matches && !user.disabled => user,
            found => {
                let reason = match found {
                    None => "unknown user",
                    Some(user) if user.disabled && password_matches => "user disabled",
                    Some(_) => "wrong password",
                };
                tracing::info!(client.id = %client.client_id, grant.r#type = "password", reason, "token request rejected: invalid grant");
                return Err(OAuthError::InvalidGrant);
            }
        };

        let principal = if user.is_admin { Principal::Administrator } else { Principal::Regular };
        let scope = granted_scope(&client, principal, requested_scope.as_ref()).inspect_err(|_| {
            tracing::info!(client.id = %client.client_id, user.id = %user.id, "token request rejected: invalid scope");
        })?;
        let mut response = self.sign_access_token(&client, user.id.to_string(), scope.clone(), resource)?;
        response.id_token = self.id_token_for(&client, &user, &scope, self.now().and_utc().timestamp())?;
        if client.allows(GrantType::RefreshToken) {
            response.refresh_token = Some(self.start_refresh_family(&client, &user, &scope).await?);
        }
        tracing::info!(client.id = %client.client_id, user.id = %user.id, grant.r#type = "password", "issued an access token");
        Ok(response)
    }

    /// Authenticates the client and checks that it may use `grant`.
    pub(super) async fn authorize_client(
        &self,
        credentials: &ClientCredentials,
        client: Option<Client>,
        grant: GrantType,
    ) -> Result<Client, OAuthError> {
        let Some(client) = client else {
            tracing::info!(client.id = credentials.client_id(), grant.r#type = grant.as_str(), "token request rejected: unknown client");
            return Err(credentials.failure());
        };
        self.authenticate_client(credentials, &client).await?;
        if !client.allows(grant) {
            tracing::info!(client.id = %client.client_id, grant.r#type = grant.as_str(), "token request rejected: grant not allowed for client");
            return Err(OAuthError::UnauthorizedClient);
        }
        Ok(client)
    }

    /// Loads and authenticates the client of an introspection or revocation
    /// request, which needs no grant type.
    pub(super) async fn authenticate_request_client(&self, credentials: &ClientCredentials) -> Result<Client, OAuthError> {
        let client_id = credentials.client_id().to_owned();
        let client = self.db.run(move |conn| clients::find(conn, &client_id)).await.map_err(storage_failure)?;
        let Some(client) = client else {
            tracing::info!(client.id = credentials.client_id(), "request rejected: unknown client");
            return Err(credentials.failure());
        };
        self.authenticate_client(credentials, &client).await?;
        Ok(client)
    }

    /// Checks the presented client credentials against the registration.
    async fn authenticate_client(&self, credentials: &ClientCredentials, client: &Client) -> Result<(), OAuthError> {
        let reject = |reason: &str| {
            tracing::info!(client.id = %client.client_id, reason, "client authentication failed");
            credentials.failure()
        };
        let (secret, stored) = match credentials.verification(client).map_err(|_| reject("method or state mismatch"))? {
            Verification::Nothing => return Ok(()),
            Verification::Assertion { assertion, jwks } => return self.check_assertion(credentials, client, assertion, jwks).await,
            Verification::Secret { secret, stored_hash } => (secret, stored_hash),
        };
        let valid = match StoredSecret::classify(stored) {
            StoredSecret::Keyed(mac) => credentials::verify_keyed(&self.secret_key, secret.expose(), mac),
            StoredSecret::Argon2(phc) => {
                let (secret, phc) = (secret.clone(), phc.to_owned());
                self.hash_pool.run(move || credentials::verify_argon2(secret.expose(), &phc)).await?
            }
        };
        if valid { Ok(()) } else { Err(reject("wrong secret")) }
    }

    /// Checks a private_key_jwt assertion and records its jti, so it cannot
    /// be replayed while it is valid (RFC 7523 §3, item 7).
    async fn check_assertion(
        &self,
        credentials: &ClientCredentials,
        client: &Client,
        assertion: &str,
        jwks: &str,
    ) -> Result<(), OAuthError> {
        let issuer = &self.settings.issuer;
        let token_endpoint = format!("{issuer}/oauth2/token");
        let now = self.now();
        let verified = assertion::verify_client_assertion(
            assertion,
            jwks,
            &client.client_id,
            &[issuer.as_str(), token_endpoint.as_str()],
            now.and_utc().timestamp(),
            i64::from(self.settings.clock_skew),
        )
        .map_err(|error| {
            tracing::info!(client.id = %client.client_id, reason = %error, "client authentication failed");
            credentials.failure()
        })?;
        let expires_at = chrono::DateTime::from_timestamp(verified.expires_at, 0).map(|t| t.naive_utc()).unwrap_or(now);
        let client_id = client.client_id.clone();
        let recorded = self
            .db
            .run(move |conn| client_assertions::record(conn, &client_id, &verified.jti, expires_at))
            .await;
        match recorded {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                tracing::warn!(client.id = %client.client_id, "client authentication failed: replayed assertion jti");
                Err(credentials.failure())
            }
            Err(error) => Err(storage_failure(error)),
        }
    }

    /// Builds and signs an RFC 9068 access token for `subject`.
    pub(super) fn sign_access_token(
        &self,
        client: &Client,
        subject: String,
        scope: Scope,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let settings = &self.settings;
        let audience = client.select_audience(&settings.audience_for(None), resource).inspect_err(|_| {
            tracing::info!(client.id = %client.client_id, "token request rejected: resource not registered for the client");
        })?;
        let Some(signer) = self.ring.signer(settings.signing_alg) else {
            // The active key could not be loaded (for example it was sealed
            // by a master key this instance lacks): refuse to sign rather
            // than sign with another key.
            tracing::error!(key.alg = %settings.signing_alg, "no active signing key is loaded; check the master key and the key schedule warnings");
            return Err(OAuthError::TemporarilyUnavailable { retry_after_seconds: BUSY_RETRY_AFTER_SECONDS });
        };
        // Capped, so retiring keys outlive every token even if the maximum was
        // lowered after the client was registered.
        let lifetime = client
            .access_token_lifetime
            .unwrap_or(settings.access_token_lifetime)
            .min(settings.max_access_token_lifetime);
        let claims = AccessTokenClaims {
            issuer: settings.issuer.clone(),
            subject,
            audience,
            client_id: client.client_id.clone(),
            scope,
            issued_at: self.now().and_utc().timestamp(),
            lifetime,
            jwt_id: Uuid::new_v4(),
        };
        let access_token = jwt::encode(signer.as_ref(), ACCESS_TOKEN_TYPE, &claims.to_map()).map_err(|error| {
            tracing::error!(error = %error, key.kid = %signer.kid(), "signing an access token failed");
            OAuthError::ServerError
        })?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime,
            scope: claims.scope.to_string(),
            refresh_token: None,
            id_token: None,
            subject: claims.subject,
        })
    }

    /// Signs an ID token (OpenID Connect Core §2) when `scope` contains
    /// `openid`, with the client's ID token algorithm. Its `typ` is `JWT`,
    /// never `at+jwt`, so no verifier of access tokens accepts it.
    pub(super) fn id_token_for(&self, client: &Client, user: &User, scope: &Scope, auth_time: i64) -> Result<Option<String>, OAuthError> {
        if !scope.contains("openid") {
            return Ok(None);
        }
        let alg = client.id_token_alg.unwrap_or(self.settings.signing_alg);
        let Some(signer) = self.ring.signer(alg) else {
            tracing::error!(key.alg = %alg, client.id = %client.client_id, "no active key to sign ID tokens with; check additional_algs");
            return Err(OAuthError::TemporarilyUnavailable { retry_after_seconds: BUSY_RETRY_AFTER_SECONDS });
        };
        let claims = IdTokenClaims {
            issuer: self.settings.issuer.clone(),
            subject: user.id.to_string(),
            client_id: client.client_id.clone(),
            issued_at: self.now().and_utc().timestamp(),
            lifetime: client
                .access_token_lifetime
                .unwrap_or(self.settings.access_token_lifetime)
                .min(self.settings.max_access_token_lifetime),
            auth_time,
            preferred_username: scope.contains("profile").then(|| user.username.clone()),
        };
        let token = jwt::encode(signer.as_ref(), "JWT", &claims.to_map()).map_err(|error| {
            tracing::error!(error = %error, key.kid = %signer.kid(), "signing an ID token failed");
            OAuthError::ServerError
        })?;
        Ok(Some(token))
    }
}
