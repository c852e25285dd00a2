//! Users: creation, listing, changes and deletion, shared by the CLI and
//! the admin API.

use diesel::Connection;
use uuid::Uuid;

use super::Issuer;
use crate::credentials;
use crate::keys::KeyState;
use crate::oauth::{Password, User, validate_username};
use crate::store::{StoreError, refresh_tokens, signing_keys, users};

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

    /// Disables a user by name; their refresh tokens are revoked too.
    pub async fn disable_user(&self, username: String) -> Result<(), AccountError> {
        let name = username.clone();
        let user = self.db.run(move |conn| users::find_by_username(conn, &name)).await?;
        let Some(user) = user else {
            return Err(AccountError::NotFound(format!("no user named {username:?}")));
        };
        self.update_user(user.id, None, None, Some(true)).await.map(drop)
    }

    pub async fn find_user(&self, id: Uuid) -> Result<User, AccountError> {
        self.db
            .run(move |conn| users::find_by_id(conn, id))
            .await?
            .ok_or_else(|| AccountError::NotFound(format!("no user with id {id}")))
    }

    /// Changes a user's password, admin flag or disabled flag; `None`
    /// leaves a field as it is.
    pub async fn update_user(
        &self,
        id: Uuid,
        password: Option<Password>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
    ) -> Result<User, AccountError> {
        let password_hash = match password {
            Some(password) => Some(
                self.hash_pool
                    .run(move || credentials::hash_argon2(password.expose()))
                    .await
                    .map_err(|_| StoreError::Unavailable("the password hashing pool is full".into()))?,
            ),
            None => None,
        };
        let now = self.now();
        // A new password or a disabled account ends every session: refresh
        // tokens issued before must not outlive the change (RFC 9700
        // §4.14.2).
        let end_sessions = password_hash.is_some() || disabled == Some(true);
        let changes = users::UserChanges { password_hash, is_admin, disabled, updated_at: now };
        let updated = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    if users::update(conn, id, &changes)? == 0 {
                        return Ok(None);
                    }
                    if end_sessions {
                        refresh_tokens::revoke_for_user(conn, &id.to_string(), "credentials changed", now)?;
                    }
                    users::find_by_id(conn, id)
                })
            })
            .await?;
        updated.ok_or_else(|| AccountError::NotFound(format!("no user with id {id}")))
    }

    /// Deletes a user and their refresh tokens. Their access tokens stay
    /// valid until they expire, but the admin API and userinfo reject them.
    pub async fn delete_user(&self, id: Uuid) -> Result<(), AccountError> {
        let deleted = self
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    refresh_tokens::delete_for_user(conn, &id.to_string())?;
                    users::delete(conn, id)
                })
            })
            .await?;
        if deleted { Ok(()) } else { Err(AccountError::NotFound(format!("no user with id {id}"))) }
    }

    /// Loads the state of the key that signed an admin's token and the
    /// admin's user record, in one round trip.
    pub async fn admin_check(&self, kid: String, user_id: Uuid) -> Result<(Option<KeyState>, Option<User>), StoreError> {
        self.db
            .run(move |conn| Ok((signing_keys::state_of(conn, &kid)?, users::find_by_id(conn, user_id)?)))
            .await
    }
}
