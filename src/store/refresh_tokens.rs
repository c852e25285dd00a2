//! Queries on `refresh_tokens`.
//!
//! Using a refresh token is one conditional update (`used_at IS NULL`) in
//! the transaction that inserts its successor, so two concurrent uses of
//! one token cannot both succeed: the second finds it used and is treated
//! as reuse.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::refresh_tokens;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub family_id: String,
    pub token_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub family_expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
    /// When the user authenticated; ID tokens issued on refresh carry it.
    pub auth_time: Option<NaiveDateTime>,
}

pub fn insert(connection: &mut DbConnection, row: &RefreshTokenRow) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(row).execute(connection).map(drop)
}

pub fn find_by_hash(connection: &mut DbConnection, token_hash: &str) -> QueryResult<Option<RefreshTokenRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshTokenRow::as_select())
        .first(connection)
        .optional()
}

/// The outcome of using a refresh token.
#[derive(Debug)]
pub enum Use {
    /// The token was unused and valid: it is now used, and `successor`
    /// was stored in its family.
    Rotated(RefreshTokenRow),
    /// The token had been used before: its family is now revoked.
    Reused(RefreshTokenRow),
    /// Unknown, expired or revoked.
    Invalid,
}

/// Uses the token with `token_hash` at `now`: marks it used and stores
/// `successor` (built from the used row) in the same transaction, or
/// revokes the family when the token was already used.
///
/// The transaction starts with its write, the conditional update: on
/// SQLite a transaction that reads first and writes later fails at once
/// with "database is locked" when another connection wrote in between,
/// whereas a first write waits for the lock (busy_timeout).
pub fn use_token(
    connection: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
    successor: impl FnOnce(&RefreshTokenRow) -> RefreshTokenRow,
) -> QueryResult<Use> {
    connection.transaction(|connection| {
        let marked = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(token_hash))
                .filter(refresh_tokens::used_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null())
                .filter(refresh_tokens::expires_at.gt(now)),
        )
        .set(refresh_tokens::used_at.eq(now))
        .execute(connection)?;
        let Some(row) = find_by_hash(connection, token_hash)? else { return Ok(Use::Invalid) };
        if marked == 1 {
            insert(connection, &successor(&row))?;
            return Ok(Use::Rotated(row));
        }
        if row.revoked_at.is_some() {
            return Ok(Use::Invalid);
        }
        if row.used_at.is_some() {
            // Used before, or by a concurrent request that won the race:
            // either way a second use, so the family is revoked.
            revoke_family(connection, &row.family_id, "reuse", now)?;
            return Ok(Use::Reused(row));
        }
        // Unused but expired.
        Ok(Use::Invalid)
    })
}

/// Revokes every live token of a family and returns how many changed.
pub fn revoke_family(connection: &mut DbConnection, family_id: &str, reason: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set((refresh_tokens::revoked_at.eq(now), refresh_tokens::revoked_reason.eq(reason)))
    .execute(connection)
}

/// Revokes every live refresh token of a user and returns how many.
pub fn revoke_for_user(connection: &mut DbConnection, user_id: &str, reason: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set((refresh_tokens::revoked_at.eq(now), refresh_tokens::revoked_reason.eq(reason)))
    .execute(connection)
}

/// Deletes every refresh token of a user, before the user is deleted.
pub fn delete_for_user(connection: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id))).execute(connection)
}

/// Deletes every refresh token of a client, before the client is deleted.
pub fn delete_for_client(connection: &mut DbConnection, client_id: &str) -> QueryResult<usize> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::client_id.eq(client_id))).execute(connection)
}
