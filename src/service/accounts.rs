//! Users and clients: creation, listing and disabling, shared by the CLI
//! and the admin API.

use uuid::Uuid;

use super::Issuer;
use crate::credentials::{self, MIN_CHOSEN_SECRET_LEN};
use crate::oauth::{Client, GrantType, MAX_SECRET_LEN, Password, Scope, User, validate_client_id, validate_username};
use crate::keys::KeyState;
use crate::store::{StoreError, clients, signing_keys, users};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an operator asks for when registering a client.
#[derive(Debug)]
pub struct ClientSpec {
    pub client_id: String,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scope,
    pub audience: Option<String>,
    pub access_token_lifetime: Option<u32>,
    /// A secret the operator chose; one is generated when this is `None`.
    pub chosen_secret: Option<String>,
    /// The algorithm of the client's ID tokens; signing_alg when `None`.
    pub id_token_alg: Option<crate::keys::Algorithm>,
}

/// A registered client and, when Tessera generated it, the secret, shown
/// this once and never stored in clear.
pub struct CreatedClient {
    pub client: Client,
    pub generated_secret: Option<String>,
}

impl Issuer {
    pub async fn create_user(&self, username: String, password: Password, is_admin: bool) -> Result<User, AccountError> {
        validate_username(&username).map_err(AccountError::Invalid)?;
        let hash = tokio::task::spawn_blocking(move || credentials::hash_argon2(password.expose()))
            .await
            .map_err(|error| StoreError::Unavailable(format!("hashing task failed: {error}")))?;
        let id = Uuid::new_v4();
        let now = self.now();
        let name = username.clone();
        let inserted = self
            .db
            .run(move |conn| {
                users::insert(
                    conn,
                    &users::NewUser {
                        id: id.to_string(),
                        username: &name,
                        password_hash: &hash,
                        is_admin,
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                users::find_by_id(conn, id)
            })
            .await;
        match inserted {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(AccountError::NotFound(format!("user {username:?} vanished after insert"))),
            Err(StoreError::Conflict(_)) => Err(AccountError::Duplicate(format!("a user named {username:?} already exists"))),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn list_users(&self) -> Result<Vec<User>, AccountError> {
        Ok(self.db.run(users::list).await?)
    }

    pub async fn disable_user(&self, username: String) -> Result<(), AccountError> {
        let now = self.now();
        let name = username.clone();
        let found = self.db.run(move |conn| users::disable(conn, &name, now)).await?;
        if found { Ok(()) } else { Err(AccountError::NotFound(format!("no user named {username:?}"))) }
    }

    pub async fn create_client(&self, spec: ClientSpec) -> Result<CreatedClient, AccountError> {
        validate_client_id(&spec.client_id).map_err(AccountError::Invalid)?;
        if spec.grant_types.is_empty() {
            return Err(AccountError::Invalid("a client needs at least one grant type".into()));
        }
        if spec.public && spec.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(AccountError::Invalid(
                "a public client cannot use client_credentials: that grant needs a client secret".into(),
            ));
        }
        if let Some(audience) = &spec.audience {
            let audiences: Vec<&str> = audience.split(' ').filter(|a| !a.is_empty()).collect();
            let valid = !audiences.is_empty()
                && audiences.len() <= 16
                && audiences.iter().all(|a| a.len() <= 512 && !a.contains(char::is_whitespace));
            if !valid {
                return Err(AccountError::Invalid(format!(
                    "invalid audience {audience:?}: expected 1 to 16 space-separated values of up to 512 characters"
                )));
            }
        }
        if let Some(alg) = spec.id_token_alg
            && !self.settings.enabled_algs().contains(&alg)
        {
            return Err(AccountError::Invalid(format!(
                "invalid ID token algorithm {alg}: it is not enabled; add it to additional_algs"
            )));
        }
        let max_lifetime = self.settings.max_access_token_lifetime;
        if let Some(lifetime) = spec.access_token_lifetime
            && !(1..=max_lifetime).contains(&lifetime)
        {
            return Err(AccountError::Invalid(format!(
                "invalid access token lifetime {lifetime}: expected seconds from 1 to {max_lifetime} (max_access_token_lifetime)"
            )));
        }

        let (secret_hash, generated_secret) = match (spec.public, spec.chosen_secret) {
            (true, Some(_)) => return Err(AccountError::Invalid("a public client has no secret".into())),
            (true, None) => (None, None),
            (false, Some(chosen)) => {
                if chosen.chars().count() < MIN_CHOSEN_SECRET_LEN || chosen.len() > MAX_SECRET_LEN {
                    return Err(AccountError::Invalid(format!(
                        "a client secret must have {MIN_CHOSEN_SECRET_LEN} to {MAX_SECRET_LEN} characters"
                    )));
                }
                let hash = tokio::task::spawn_blocking(move || credentials::hash_argon2(&chosen))
                    .await
                    .map_err(|error| StoreError::Unavailable(format!("hashing task failed: {error}")))?;
                (Some(hash), None)
            }
            (false, None) => {
                let secret = credentials::generate_client_secret();
                (Some(self.secret_key.hash_generated(&secret)), Some(secret))
            }
        };

        let now = self.now();
        let client_id = spec.client_id.clone();
        let grant_types: Vec<&str> = spec.grant_types.iter().map(|g| g.as_str()).collect();
        let new_client = (
            grant_types.join(" "),
            spec.scopes.to_string(),
            spec.audience,
            spec.access_token_lifetime.map(|n| n as i32),
            spec.id_token_alg.map(|alg| alg.as_str()),
        );
        let inserted = self
            .db
            .run(move |conn| {
                let (grant_types, scopes, audience, lifetime, id_token_alg) = new_client;
                clients::insert(
                    conn,
                    &clients::NewClient {
                        client_id: &client_id,
                        secret_hash: secret_hash.as_deref(),
                        grant_types,
                        scopes,
                        audience: audience.as_deref(),
                        access_token_lifetime: lifetime,
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                        id_token_alg,
                    },
                )?;
                clients::find(conn, &client_id)
            })
            .await;
        match inserted {
            Ok(Some(client)) => Ok(CreatedClient { client, generated_secret }),
            Ok(None) => Err(AccountError::NotFound(format!("client {:?} vanished after insert", spec.client_id))),
            Err(StoreError::Conflict(_)) => Err(AccountError::Duplicate(format!(
                "a client with client_id {:?} already exists",
                spec.client_id
            ))),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn disable_client(&self, client_id: String) -> Result<(), AccountError> {
        let now = self.now();
        let id = client_id.clone();
        let found = self.db.run(move |conn| clients::disable(conn, &id, now)).await?;
        if found { Ok(()) } else { Err(AccountError::NotFound(format!("no client with client_id {client_id:?}"))) }
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AccountError> {
        Ok(self.db.run(clients::list).await?)
    }

    /// Loads the state of the key that signed an admin's token and the
    /// admin's user record, in one round trip.
    pub async fn admin_check(&self, kid: String, user_id: Uuid) -> Result<(Option<KeyState>, Option<User>), StoreError> {
        self.db
            .run(move |conn| Ok((signing_keys::state_of(conn, &kid)?, users::find_by_id(conn, user_id)?)))
            .await
    }
}
