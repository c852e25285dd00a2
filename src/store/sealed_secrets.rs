//! Queries on `sealed_secrets`: random keys the instances share, stored
//! sealed under the master key.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::sealed_secrets;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sealed_secrets)]
pub struct SealedSecret {
    pub name: String,
    pub sealed_value: Vec<u8>,
    pub master_key_id: String,
    pub created_at: NaiveDateTime,
}

pub fn find(connection: &mut DbConnection, name: &str) -> QueryResult<Option<SealedSecret>> {
    sealed_secrets::table
        .find(name)
        .select(SealedSecret::as_select())
        .first(connection)
        .optional()
}

pub fn insert(connection: &mut DbConnection, secret: &SealedSecret) -> QueryResult<()> {
    diesel::insert_into(sealed_secrets::table).values(secret).execute(connection).map(drop)
}

pub fn list(connection: &mut DbConnection) -> QueryResult<Vec<SealedSecret>> {
    sealed_secrets::table.order(sealed_secrets::name).select(SealedSecret::as_select()).load(connection)
}

/// Replaces a sealed value, conditioned on the master key that sealed it.
pub fn reseal(
    connection: &mut DbConnection,
    name: &str,
    old_master_key_id: &str,
    sealed: &[u8],
    new_master_key_id: &str,
) -> QueryResult<bool> {
    let changed = diesel::update(
        sealed_secrets::table
            .filter(sealed_secrets::name.eq(name))
            .filter(sealed_secrets::master_key_id.eq(old_master_key_id)),
    )
    .set((sealed_secrets::sealed_value.eq(sealed), sealed_secrets::master_key_id.eq(new_master_key_id)))
    .execute(connection)?;
    Ok(changed == 1)
}
