//! Clients: registration, changes, secret rotation and deletion, shared by
//! the CLI and the admin API. Every change is checked by one validator on
//! the resulting client, so creation and updates enforce the same rules.

use diesel::Connection;

use super::Issuer;
use super::accounts::AccountError;
use crate::credentials::{self, MIN_CHOSEN_SECRET_LEN};
use crate::keys::Algorithm;
use crate::keys::assertion::validate_client_jwks;
use crate::oauth::{AuthMethod, Client, ClientKind, GrantType, MAX_SECRET_LEN, Scope, validate_client_id};
use crate::store::{StoreError, client_assertions, clients, refresh_tokens};

/// Most audiences or redirect URIs per client.
const MAX_LIST_ITEMS: usize = 16;
/// Maximum length of an audience or redirect URI.
const MAX_URI_LEN: usize = 512;
/// Maximum size of a registered JWKS, in bytes.
const MAX_JWKS_LEN: usize = 16 * 1024;

/// The settings an operator requests when registering a client.
#[derive(Debug)]
pub struct ClientSpec {
    pub client_id: String,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scope,
    /// Space-separated audiences; the first is the default.
    pub audience: Option<String>,
    pub access_token_lifetime: Option<u32>,
    /// A secret the operator chose; one is generated when this is `None`.
    pub chosen_secret: Option<String>,
    /// The algorithm of the client's ID tokens; signing_alg when `None`.
    pub id_token_alg: Option<Algorithm>,
    /// Public keys for private_key_jwt; such a client has no secret.
    pub jwks: Option<String>,
    /// The one authentication method allowed; any that fits when `None`.
    pub auth_method: Option<AuthMethod>,
    pub redirect_uris: Vec<String>,
}

/// Changes to a client; `None` leaves a field as it is, and `Some(None)`
/// clears an optional one.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub grant_types: Option<Vec<GrantType>>,
    pub scopes: Option<Scope>,
    pub audience: Option<Option<String>>,
    pub access_token_lifetime: Option<Option<u32>>,
    pub id_token_alg: Option<Option<Algorithm>>,
    pub auth_method: Option<Option<AuthMethod>>,
    pub redirect_uris: Option<Vec<String>>,
    pub jwks: Option<String>,
    pub disabled: Option<bool>,
}

/// A registered client and, when Tessera generated it, the secret, shown
/// this once and never stored in clear.
pub struct CreatedClient {
    pub client: Client,
    pub generated_secret: Option<String>,
}

impl Issuer {
    /// Checks a whole client, as it would be stored.
    fn check_client(&self, client: &Client) -> Result<(), AccountError> {
        let invalid = |text: String| Err(AccountError::Invalid(text));
        validate_client_id(&client.client_id).map_err(AccountError::Invalid)?;
        if client.grant_types.is_empty() {
            return invalid("a client needs at least one grant type".into());
        }
        let allowed_methods: &[AuthMethod] = match &client.kind {
            ClientKind::Public => &[AuthMethod::None],
            ClientKind::Confidential { .. } => &[AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
            ClientKind::PrivateKeyJwt { jwks } => {
                if jwks.len() > MAX_JWKS_LEN {
                    return invalid(format!("the JWKS is larger than {MAX_JWKS_LEN} bytes"));
                }
                validate_client_jwks(jwks).map_err(AccountError::Invalid)?;
                &[AuthMethod::PrivateKeyJwt]
            }
        };
        if let Some(method) = client.auth_method
            && !allowed_methods.contains(&method)
        {
            return invalid(format!("a {} client cannot use the auth method {}", client.kind.as_str(), method.as_str()));
        }
        if matches!(client.kind, ClientKind::Public) && client.grant_types.contains(&GrantType::ClientCredentials) {
            return invalid("a public client cannot use client_credentials: that grant needs client authentication".into());
        }
        if let Some(audience) = &client.audience {
            let audiences: Vec<&str> = audience.split(' ').filter(|a| !a.is_empty()).collect();
            if audiences.is_empty() || audiences.len() > MAX_LIST_ITEMS || audiences.iter().any(|a| a.len() > MAX_URI_LEN) {
                return invalid(format!(
                    "invalid audience {audience:?}: expected 1 to {MAX_LIST_ITEMS} space-separated values of up to {MAX_URI_LEN} characters"
                ));
            }
        }
        let uri_ok = |uri: &String| {
            (uri.starts_with("https://") || uri.starts_with("http://"))
                && uri.len() <= MAX_URI_LEN
                && !uri.contains('#')
                && !uri.contains(char::is_whitespace)
        };
        if client.redirect_uris.len() > MAX_LIST_ITEMS || !client.redirect_uris.iter().all(uri_ok) {
            return invalid(format!(
                "invalid redirect_uris: expected up to {MAX_LIST_ITEMS} absolute http(s) URIs without fragment"
            ));
        }
        if let Some(alg) = client.id_token_alg
            && !self.settings.enabled_algs().contains(&alg)
        {
            return invalid(format!("invalid ID token algorithm {alg}: it is not enabled; add it to additional_algs"));
        }
        let max_lifetime = self.settings.max_access_token_lifetime;
        if let Some(lifetime) = client.access_token_lifetime
            && !(1..=max_lifetime).contains(&lifetime)
        {
            return invalid(format!(
                "invalid access token lifetime {lifetime}: expected seconds from 1 to {max_lifetime} (max_access_token_lifetime)"
            ));
        }
        Ok(())
    }

    pub async fn create_client(&self, spec: ClientSpec) -> Result<CreatedClient, AccountError> {
        let (kind, generated_secret) = match (spec.public, spec.jwks, spec.chosen_secret) {
            (true, None, None) => (ClientKind::Public, None),
            (true, _, _) => return Err(AccountError::Invalid("a public client has no secret and no JWKS".into())),
            (false, Some(_), Some(_)) => {
                return Err(AccountError::Invalid("a client has either a secret or a JWKS, not both".into()));
            }
            (false, Some(jwks), None) => (ClientKind::PrivateKeyJwt { jwks }, None),
            (false, None, Some(chosen)) => (ClientKind::Confidential { secret_hash: self.hash_chosen_secret(chosen).await? }, None),
            (false, None, None) => {
                let secret = credentials::generate_client_secret();
                (ClientKind::Confidential { secret_hash: self.secret_key.hash_generated(&secret) }, Some(secret))
            }
        };
        let now = self.now();
        let client = Client {
            client_id: spec.client_id,
            kind,
            grant_types: spec.grant_types,
            scopes: spec.scopes,
            audience: spec.audience,
            access_token_lifetime: spec.access_token_lifetime,
            disabled: false,
            created_at: now,
            id_token_alg: spec.id_token_alg,
            auth_method: spec.auth_method,
            redirect_uris: spec.redirect_uris,
        };
        self.check_client(&client)?;

        let stored = client.clone();
        let inserted = self
            .db
            .run(move |conn| {
                clients::insert(conn, &stored, now)?;
                clients::find(conn, &stored.client_id)
            })
            .await;
        match inserted {
            Ok(Some(client)) => Ok(CreatedClient { client, generated_secret }),
            Ok(None) => Err(AccountError::NotFound(format!("client {:?} vanished after insert", client.client_id))),
            Err(StoreError::Conflict(_)) => Err(AccountError::Duplicate(format!(
                "a client with client_id {:?} already exists",
                client.client_id
            ))),
            Err(error) => Err(error.into()),
        }
    }

    /// Hashes an operator-chosen secret with argon2id on the bounded pool.
    async fn hash_chosen_secret(&self, chosen: String) -> Result<String, AccountError> {
        if chosen.chars().count() < MIN_CHOSEN_SECRET_LEN || chosen.len() > MAX_SECRET_LEN {
            return Err(AccountError::Invalid(format!(
                "a client secret must have {MIN_CHOSEN_SECRET_LEN} to {MAX_SECRET_LEN} characters"
            )));
        }
        self.hash_pool
            .run(move || credentials::hash_argon2(&chosen))
            .await
            .map_err(|_| AccountError::Store(StoreError::Unavailable("the password hashing pool is full".into())))
    }

    pub async fn find_client(&self, client_id: String) -> Result<Client, AccountError> {
        let id = client_id.clone();
        self.db
            .run(move |conn| clients::find(conn, &id))
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("no client with client_id {client_id:?}")))
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AccountError> {
        Ok(self.db.run(clients::list).await?)
    }

    /// Applies `changes`, checks the result as a whole and stores it.
    pub async fn update_client(&self, client_id: String, changes: ClientChanges) -> Result<Client, AccountError> {
        let mut client = self.find_client(client_id.clone()).await?;
        if let Some(grant_types) = changes.grant_types {
            client.grant_types = grant_types;
        }
        if let Some(scopes) = changes.scopes {
            client.scopes = scopes;
        }
        if let Some(audience) = changes.audience {
            client.audience = audience;
        }
        if let Some(lifetime) = changes.access_token_lifetime {
            client.access_token_lifetime = lifetime;
        }
        if let Some(alg) = changes.id_token_alg {
            client.id_token_alg = alg;
        }
        if let Some(method) = changes.auth_method {
            client.auth_method = method;
        }
        if let Some(uris) = changes.redirect_uris {
            client.redirect_uris = uris;
        }
        if let Some(disabled) = changes.disabled {
            client.disabled = disabled;
        }
        if let Some(jwks) = changes.jwks {
            match &mut client.kind {
                ClientKind::PrivateKeyJwt { jwks: current } => *current = jwks,
                _ => return Err(AccountError::Invalid("only a private_key_jwt client has a JWKS".into())),
            }
        }
        self.check_client(&client)?;

        let now = self.now();
        let stored = client.clone();
        let updated = self.db.run(move |conn| clients::update(conn, &stored, now)).await?;
        if updated { Ok(client) } else { Err(AccountError::NotFound(format!("no client with client_id {client_id:?}"))) }
    }

    pub async fn disable_client(&self, client_id: String) -> Result<(), AccountError> {
        self.update_client(client_id, ClientChanges { disabled: Some(true), ..ClientChanges::default() }).await.map(drop)
    }

    /// Replaces a confidential client's secret with a generated one, shown
    /// this once. The old secret stops working at once.
    pub async fn rotate_client_secret(&self, client_id: String) -> Result<String, AccountError> {
        let client = self.find_client(client_id.clone()).await?;
        if !matches!(client.kind, ClientKind::Confidential { .. }) {
            return Err(AccountError::Invalid(format!("client {client_id:?} has no secret to rotate")));
        }
        let secret = credentials::generate_client_secret();
        let hash = self.secret_key.hash_generated(&secret);
        let now = self.now();
        self.db.run(move |conn| clients::set_secret_hash(conn, &client_id, &hash, now)).await?;
        Ok(secret)
    }

    /// Deletes a client with its refresh tokens and assertion records.
    pub async fn delete_client(&self, client_id: String) -> Result<(), AccountError> {
        let id = client_id.clone();
        let deleted = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    refresh_tokens::delete_for_client(conn, &id)?;
                    client_assertions::delete_for_client(conn, &id)?;
                    clients::delete(conn, &id)
                })
            })
            .await?;
        if deleted { Ok(()) } else { Err(AccountError::NotFound(format!("no client with client_id {client_id:?}"))) }
    }
}
