//! Queries on the `signing_keys` table.
//!
//! A partial unique index allows one `active` key per algorithm, so the
//! rotation below either fully happens or fails on the constraint, even when
//! several instances rotate at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::signing_keys;
use crate::keys::{Algorithm, KeyState, StoredKey};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    sealed_private_key: Vec<u8>,
    master_key_id: String,
    public_jwk: String,
    created_at: NaiveDateTime,
    activated_at: Option<NaiveDateTime>,
    retire_after: Option<NaiveDateTime>,
    retired_at: Option<NaiveDateTime>,
}

fn corrupt(column: &str, value: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(
        format!("invalid value {value:?} in signing_keys.{column}").into(),
    )
}

impl KeyRow {
    fn into_key(self) -> QueryResult<StoredKey> {
        let alg = self.alg.parse::<Algorithm>().map_err(|_| corrupt("alg", &self.alg))?;
        let state = self.state.parse::<KeyState>().map_err(|_| corrupt("state", &self.state))?;
        Ok(StoredKey {
            kid: self.kid,
            alg,
            state,
            sealed_private_key: self.sealed_private_key,
            master_key_id: self.master_key_id,
            public_jwk: self.public_jwk,
            created_at: self.created_at,
            activated_at: self.activated_at,
            retire_after: self.retire_after,
            retired_at: self.retired_at,
        })
    }

    fn from_key(key: &StoredKey) -> Self {
        Self {
            kid: key.kid.clone(),
            alg: key.alg.to_string(),
            state: key.state.to_string(),
            sealed_private_key: key.sealed_private_key.clone(),
            master_key_id: key.master_key_id.clone(),
            public_jwk: key.public_jwk.clone(),
            created_at: key.created_at,
            activated_at: key.activated_at,
            retire_after: key.retire_after,
            retired_at: key.retired_at,
        }
    }
}

pub fn insert(connection: &mut DbConnection, key: &StoredKey) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(KeyRow::from_key(key))
        .execute(connection)
        .map(drop)
}

/// Returns every key, oldest first.
pub fn list(connection: &mut DbConnection) -> QueryResult<Vec<StoredKey>> {
    signing_keys::table
        .order((signing_keys::created_at, signing_keys::kid))
        .select(KeyRow::as_select())
        .load(connection)?
        .into_iter()
        .map(KeyRow::into_key)
        .collect()
}

/// Returns the keys that may appear in the JWKS at `now`: the active keys,
/// and retiring keys whose tokens may still be valid.
pub fn list_published(connection: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<StoredKey>> {
    signing_keys::table
        .filter(
            signing_keys::state.eq(KeyState::Active.as_str()).or(signing_keys::state
                .eq(KeyState::Retiring.as_str())
                .and(signing_keys::retire_after.gt(now))),
        )
        .order((signing_keys::created_at, signing_keys::kid))
        .select(KeyRow::as_select())
        .load(connection)?
        .into_iter()
        .map(KeyRow::into_key)
        .collect()
}

/// Moves the active key of `new_key.alg`, if any, to `retiring` until
/// `retire_after`, and inserts `new_key` as the active key, in one
/// transaction. Returns the kid of the key that stopped signing.
pub fn rotate(
    connection: &mut DbConnection,
    new_key: &StoredKey,
    retire_after: NaiveDateTime,
) -> QueryResult<Option<String>> {
    connection.transaction(|connection| {
        let previous: Option<String> = signing_keys::table
            .filter(signing_keys::alg.eq(new_key.alg.as_str()))
            .filter(signing_keys::state.eq(KeyState::Active.as_str()))
            .select(signing_keys::kid)
            .first(connection)
            .optional()?;
        if let Some(kid) = &previous {
            // The state condition makes a concurrent rotation that already
            // retired this key update nothing, and the insert below then
            // fails on the one-active-key index instead of adding a second.
            diesel::update(
                signing_keys::table
                    .filter(signing_keys::kid.eq(kid))
                    .filter(signing_keys::state.eq(KeyState::Active.as_str())),
            )
            .set((
                signing_keys::state.eq(KeyState::Retiring.as_str()),
                signing_keys::retire_after.eq(retire_after),
            ))
            .execute(connection)?;
        }
        insert(connection, new_key)?;
        Ok(previous)
    })
}

/// Marks retiring keys whose grace period ended before `now` as retired and
/// returns how many changed.
pub fn retire_expired(connection: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Retiring.as_str()))
            .filter(signing_keys::retire_after.le(now)),
    )
    .set((
        signing_keys::state.eq(KeyState::Retired.as_str()),
        signing_keys::retired_at.eq(now),
    ))
    .execute(connection)
}
