//! Queries on the `clients` table.
//!
//! Grant types and scopes are stored as space-separated lists, the format
//! RFC 6749 uses for scope, so both backends store them the same way.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::clients;
use crate::oauth::{Client, ClientKind, GrantType, Scope};

#[derive(Queryable, Selectable)]
#[diesel(table_name = clients)]
struct ClientRow {
    client_id: String,
    secret_hash: Option<String>,
    grant_types: String,
    scopes: String,
    audience: Option<String>,
    access_token_lifetime: Option<i32>,
    disabled: bool,
    created_at: NaiveDateTime,
    id_token_alg: Option<String>,
}

fn corrupt(column: &str, value: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(
        format!("invalid value {value:?} in clients.{column}").into(),
    )
}

impl ClientRow {
    fn into_client(self) -> QueryResult<Client> {
        let kind = match self.secret_hash {
            Some(hash) => ClientKind::Confidential { secret_hash: hash },
            None => ClientKind::Public,
        };
        let grant_types = self
            .grant_types
            .split_whitespace()
            .map(|name| name.parse::<GrantType>().map_err(|_| corrupt("grant_types", name)))
            .collect::<QueryResult<Vec<_>>>()?;
        let scopes = Scope::parse(&self.scopes).map_err(|_| corrupt("scopes", &self.scopes))?;
        let lifetime = match self.access_token_lifetime {
            Some(seconds) => Some(
                u32::try_from(seconds)
                    .map_err(|_| corrupt("access_token_lifetime", &seconds.to_string()))?,
            ),
            None => None,
        };
        let id_token_alg = match &self.id_token_alg {
            Some(name) => Some(name.parse().map_err(|_| corrupt("id_token_alg", name))?),
            None => None,
        };
        Ok(Client {
            id_token_alg,
            client_id: self.client_id,
            kind,
            grant_types,
            scopes,
            audience: self.audience,
            access_token_lifetime: lifetime,
            disabled: self.disabled,
            created_at: self.created_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = clients)]
pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub secret_hash: Option<&'a str>,
    pub grant_types: String,
    pub scopes: String,
    pub audience: Option<&'a str>,
    pub access_token_lifetime: Option<i32>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub id_token_alg: Option<&'a str>,
}

pub fn insert(connection: &mut DbConnection, client: &NewClient<'_>) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values(client)
        .execute(connection)
        .map(drop)
}

pub fn find(connection: &mut DbConnection, client_id: &str) -> QueryResult<Option<Client>> {
    clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(connection)
        .optional()?
        .map(ClientRow::into_client)
        .transpose()
}

pub fn list(connection: &mut DbConnection) -> QueryResult<Vec<Client>> {
    clients::table
        .order(clients::client_id)
        .select(ClientRow::as_select())
        .load(connection)?
        .into_iter()
        .map(ClientRow::into_client)
        .collect()
}

/// Marks a client as disabled and returns whether it exists.
pub fn disable(connection: &mut DbConnection, client_id: &str, at: NaiveDateTime) -> QueryResult<bool> {
    let updated = diesel::update(clients::table.find(client_id))
        .set((clients::disabled.eq(true), clients::updated_at.eq(at)))
        .execute(connection)?;
    Ok(updated == 1)
}
