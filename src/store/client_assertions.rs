//! Queries on `client_assertions`: the replay cache of private_key_jwt.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::client_assertions;

/// Records a jti as used. Fails with a unique violation when the client
/// used it before, which the caller treats as a replay.
pub fn record(connection: &mut DbConnection, client_id: &str, jti: &str, expires_at: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(client_assertions::table)
        .values((
            client_assertions::client_id.eq(client_id),
            client_assertions::jti.eq(jti),
            client_assertions::expires_at.eq(expires_at),
        ))
        .execute(connection)
        .map(drop)
}

/// Forgets jtis whose assertions have expired; they can no longer be
/// replayed anyway.
pub fn delete_expired(connection: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(client_assertions::table.filter(client_assertions::expires_at.lt(now))).execute(connection)
}

/// Deletes a client's records, before the client is deleted.
pub fn delete_for_client(connection: &mut DbConnection, client_id: &str) -> QueryResult<usize> {
    diesel::delete(client_assertions::table.filter(client_assertions::client_id.eq(client_id))).execute(connection)
}
