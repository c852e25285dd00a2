//! Queries on `signing_keys` and `key_events`.
//!
//! Partial unique indexes allow one `active` and one `pending` key per
//! algorithm. Every state change below runs in one transaction, conditioned
//! on the state it expects, and records a `key_events` row in the same
//! transaction: instances racing to promote, rotate or revoke either change
//! nothing or fail on an index, and never leave two active keys.
//!
//! NOTE: these transactions read before they write. On SQLite a concurrent
//! write makes such a transaction fail at once with "database is locked"
//! (a 503 on the admin API, a retry on the schedule's next tick).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use super::schema::{key_events, signing_keys};
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
    promote_after: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
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
            promote_after: self.promote_after,
            revoked_at: self.revoked_at,
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
            promote_after: key.promote_after,
            revoked_at: key.revoked_at,
        }
    }
}

fn into_keys(rows: Vec<KeyRow>) -> QueryResult<Vec<StoredKey>> {
    rows.into_iter().map(KeyRow::into_key).collect()
}

/// Who made a state change: a user id, or "cli", "scheduler", "startup".
pub type Actor<'a> = &'a str;

fn record(
    connection: &mut DbConnection,
    kid: &str,
    from: Option<KeyState>,
    to: KeyState,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(key_events::table)
        .values((
            key_events::id.eq(Uuid::new_v4().to_string()),
            key_events::kid.eq(kid),
            key_events::from_state.eq(from.map(KeyState::as_str)),
            key_events::to_state.eq(to.as_str()),
            key_events::actor.eq(actor),
            key_events::occurred_at.eq(at),
        ))
        .execute(connection)
        .map(drop)
}

/// Inserts a key in its initial state and records that as an event.
pub fn insert(connection: &mut DbConnection, key: &StoredKey, actor: Actor<'_>) -> QueryResult<()> {
    connection.transaction(|connection| insert_in(connection, key, actor))
}

/// Returns every key, oldest first.
pub fn list(connection: &mut DbConnection) -> QueryResult<Vec<StoredKey>> {
    into_keys(
        signing_keys::table
            .order((signing_keys::created_at, signing_keys::kid))
            .select(KeyRow::as_select())
            .load(connection)?,
    )
}

pub fn find(connection: &mut DbConnection, kid: &str) -> QueryResult<Option<StoredKey>> {
    signing_keys::table
        .find(kid)
        .select(KeyRow::as_select())
        .first(connection)
        .optional()?
        .map(KeyRow::into_key)
        .transpose()
}

/// Returns the state of a key, or `None` for an unknown kid.
pub fn state_of(connection: &mut DbConnection, kid: &str) -> QueryResult<Option<KeyState>> {
    let state: Option<String> = signing_keys::table
        .find(kid)
        .select(signing_keys::state)
        .first(connection)
        .optional()?;
    state.map(|state| state.parse().map_err(|_| corrupt("state", &state))).transpose()
}

/// Returns the keys the JWKS lists at `now`: pending and active keys, and
/// retiring keys whose tokens may still be valid. Oldest first.
pub fn list_published(connection: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<StoredKey>> {
    into_keys(
        signing_keys::table
            .filter(
                signing_keys::state
                    .eq_any([KeyState::Pending.as_str(), KeyState::Active.as_str()])
                    .or(signing_keys::state
                        .eq(KeyState::Retiring.as_str())
                        .and(signing_keys::retire_after.gt(now))),
            )
            .order((signing_keys::created_at, signing_keys::kid))
            .select(KeyRow::as_select())
            .load(connection)?,
    )
}

/// Moves the active key of `alg`, if any, to `retiring` until
/// `retire_after`. Returns its kid.
fn retire_active(
    connection: &mut DbConnection,
    alg: Algorithm,
    retire_after: NaiveDateTime,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> QueryResult<Option<String>> {
    let active: Option<String> = signing_keys::table
        .filter(signing_keys::alg.eq(alg.as_str()))
        .filter(signing_keys::state.eq(KeyState::Active.as_str()))
        .select(signing_keys::kid)
        .first(connection)
        .optional()?;
    let Some(kid) = active else { return Ok(None) };
    // Conditioned on the state: if a concurrent transaction retired this
    // key first, nothing changes here.
    let changed = diesel::update(
        signing_keys::table
            .filter(signing_keys::kid.eq(&kid))
            .filter(signing_keys::state.eq(KeyState::Active.as_str())),
    )
    .set((
        signing_keys::state.eq(KeyState::Retiring.as_str()),
        signing_keys::retire_after.eq(retire_after),
    ))
    .execute(connection)?;
    if changed == 0 {
        return Ok(None);
    }
    record(connection, &kid, Some(KeyState::Active), KeyState::Retiring, actor, at)?;
    Ok(Some(kid))
}

/// Sets a pending key active, conditioned on it still being pending.
/// Returns whether it changed.
fn activate_pending(connection: &mut DbConnection, kid: &str, actor: Actor<'_>, at: NaiveDateTime) -> QueryResult<bool> {
    let changed = diesel::update(
        signing_keys::table
            .filter(signing_keys::kid.eq(kid))
            .filter(signing_keys::state.eq(KeyState::Pending.as_str())),
    )
    .set((signing_keys::state.eq(KeyState::Active.as_str()), signing_keys::activated_at.eq(at)))
    .execute(connection)?;
    if changed == 1 {
        record(connection, kid, Some(KeyState::Pending), KeyState::Active, actor, at)?;
    }
    Ok(changed == 1)
}

/// The kids that changed in a promotion or an immediate activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub activated: String,
    pub retiring: Option<String>,
}

/// Makes the pending key `kid` the active key of `alg`, retiring the
/// current one until `retire_after`. Returns `None`, having changed
/// nothing, when the key is no longer pending (another instance promoted
/// it first).
pub fn promote(
    connection: &mut DbConnection,
    alg: Algorithm,
    kid: &str,
    retire_after: NaiveDateTime,
    actor: Actor<'_>,
    at: NaiveDateTime,
) -> QueryResult<Option<Activation>> {
    connection.transaction(|connection| {
        let still_pending = state_of(connection, kid)? == Some(KeyState::Pending);
        if !still_pending {
            return Ok(None);
        }
        let retiring = retire_active(connection, alg, retire_after, actor, at)?;
        if !activate_pending(connection, kid, actor, at)? {
            // Lost a race after the check: undo the retirement too.
            return Err(diesel::result::Error::RollbackTransaction);
        }
        Ok(Some(Activation { activated: kid.to_owned(), retiring }))
    })
}

/// Inserts `new_key` as the active key of its algorithm at once, retiring
/// the current one until `retire_after`.
pub fn activate_new(
    connection: &mut DbConnection,
    new_key: &StoredKey,
    retire_after: NaiveDateTime,
    actor: Actor<'_>,
) -> QueryResult<Activation> {
    connection.transaction(|connection| {
        let at = new_key.created_at;
        let retiring = retire_active(connection, new_key.alg, retire_after, actor, at)?;
        insert_in(connection, new_key, actor)?;
        Ok(Activation { activated: new_key.kid.clone(), retiring })
    })
}

/// Returns the pending key of `alg`, if a rotation is staged.
pub fn find_pending(connection: &mut DbConnection, alg: Algorithm) -> QueryResult<Option<StoredKey>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg.as_str()))
        .filter(signing_keys::state.eq(KeyState::Pending.as_str()))
        .select(KeyRow::as_select())
        .first(connection)
        .optional()?
        .map(KeyRow::into_key)
        .transpose()
}

/// Returns the active key of `alg`.
pub fn find_active(connection: &mut DbConnection, alg: Algorithm) -> QueryResult<Option<StoredKey>> {
    signing_keys::table
        .filter(signing_keys::alg.eq(alg.as_str()))
        .filter(signing_keys::state.eq(KeyState::Active.as_str()))
        .select(KeyRow::as_select())
        .first(connection)
        .optional()?
        .map(KeyRow::into_key)
        .transpose()
}

/// Marks retiring keys whose grace period ended at or before `now` as
/// retired and returns their kids.
pub fn retire_expired(connection: &mut DbConnection, now: NaiveDateTime, actor: Actor<'_>) -> QueryResult<Vec<String>> {
    connection.transaction(|connection| {
        let expired: Vec<String> = signing_keys::table
            .filter(signing_keys::state.eq(KeyState::Retiring.as_str()))
            .filter(signing_keys::retire_after.le(now))
            .select(signing_keys::kid)
            .load(connection)?;
        let mut retired = Vec::new();
        for kid in expired {
            let changed = diesel::update(
                signing_keys::table
                    .filter(signing_keys::kid.eq(&kid))
                    .filter(signing_keys::state.eq(KeyState::Retiring.as_str())),
            )
            .set((signing_keys::state.eq(KeyState::Retired.as_str()), signing_keys::retired_at.eq(now)))
            .execute(connection)?;
            if changed == 1 {
                record(connection, &kid, Some(KeyState::Retiring), KeyState::Retired, actor, now)?;
                retired.push(kid);
            }
        }
        Ok(retired)
    })
}

/// Marks `kid` revoked. Returns its previous state, or `None` when the kid
/// is unknown or already revoked. A revoked active key leaves its algorithm
/// without a signer; the caller installs a replacement in the same
/// transaction through `replace`.
pub fn revoke(
    connection: &mut DbConnection,
    kid: &str,
    actor: Actor<'_>,
    at: NaiveDateTime,
    replace: impl FnOnce(&mut DbConnection, Algorithm) -> QueryResult<Option<String>>,
) -> QueryResult<Option<(KeyState, Option<String>)>> {
    connection.transaction(|connection| {
        let Some(key) = find(connection, kid)? else { return Ok(None) };
        if key.state == KeyState::Revoked {
            return Ok(None);
        }
        let changed = diesel::update(
            signing_keys::table
                .filter(signing_keys::kid.eq(kid))
                .filter(signing_keys::state.eq(key.state.as_str())),
        )
        .set((signing_keys::state.eq(KeyState::Revoked.as_str()), signing_keys::revoked_at.eq(at)))
        .execute(connection)?;
        if changed == 0 {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        record(connection, kid, Some(key.state), KeyState::Revoked, actor, at)?;
        let replacement = if key.state == KeyState::Active { replace(connection, key.alg)? } else { None };
        Ok(Some((key.state, replacement)))
    })
}

/// Sets a pending key active as part of another transaction, such as a
/// revocation. Returns whether it changed.
pub fn activate_pending_in(connection: &mut DbConnection, kid: &str, actor: Actor<'_>, at: NaiveDateTime) -> QueryResult<bool> {
    activate_pending(connection, kid, actor, at)
}

/// Inserts a key as part of another transaction.
pub fn insert_in(connection: &mut DbConnection, key: &StoredKey, actor: Actor<'_>) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table)
        .values(KeyRow::from_key(key))
        .execute(connection)?;
    record(connection, &key.kid, None, key.state, actor, key.created_at)
}

/// Replaces the sealed private key of `kid`, conditioned on the master key
/// that sealed it, for a master-key rotation. Returns whether it changed.
pub fn reseal(
    connection: &mut DbConnection,
    kid: &str,
    old_master_key_id: &str,
    sealed: &[u8],
    new_master_key_id: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(
        signing_keys::table
            .filter(signing_keys::kid.eq(kid))
            .filter(signing_keys::master_key_id.eq(old_master_key_id)),
    )
    .set((signing_keys::sealed_private_key.eq(sealed), signing_keys::master_key_id.eq(new_master_key_id)))
    .execute(connection)?;
    Ok(changed == 1)
}

/// One recorded state change.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = key_events)]
pub struct KeyEvent {
    pub kid: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub occurred_at: NaiveDateTime,
}

/// Returns the recorded state changes, oldest first.
pub fn events(connection: &mut DbConnection) -> QueryResult<Vec<KeyEvent>> {
    key_events::table
        .order((key_events::occurred_at, key_events::id))
        .select(KeyEvent::as_select())
        .load(connection)
}
