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
    redirect_uris: String,
    token_endpoint_auth_method: Option<String>,
    jwks: Option<String>,
}

fn corrupt(column: &str, value: &str) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(
        format!("invalid value {value:?} in clients.{column}").into(),
    )
}

impl ClientRow {
    fn into_client(self) -> QueryResult<Client> {
        let kind = match (self.secret_hash, self.jwks) {
            (Some(hash), _) => ClientKind::Confidential { secret_hash: hash },
            (None, Some(jwks)) => ClientKind::PrivateKeyJwt { jwks },
            (None, None) => ClientKind::Public,
        };
        let auth_method = match &self.token_endpoint_auth_method {
            Some(name) => Some(name.parse().map_err(|_| corrupt("token_endpoint_auth_method", name))?),
            None => None,
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
            auth_method,
            redirect_uris: self.redirect_uris.split_whitespace().map(str::to_owned).collect(),
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

/// The stored form of a client's settings, for insert and update.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
struct ClientSettingsRow<'a> {
    client_id: &'a str,
    secret_hash: Option<&'a str>,
    jwks: Option<&'a str>,
    grant_types: String,
    scopes: String,
    audience: Option<&'a str>,
    access_token_lifetime: Option<i32>,
    disabled: bool,
    id_token_alg: Option<&'static str>,
    token_endpoint_auth_method: Option<&'static str>,
    redirect_uris: String,
    updated_at: NaiveDateTime,
}

impl<'a> ClientSettingsRow<'a> {
    fn from_client(client: &'a Client, now: NaiveDateTime) -> Self {
        let (secret_hash, jwks) = match &client.kind {
            ClientKind::Confidential { secret_hash } => (Some(secret_hash.as_str()), None),
            ClientKind::PrivateKeyJwt { jwks } => (None, Some(jwks.as_str())),
            ClientKind::Public => (None, None),
        };
        let grant_types: Vec<&str> = client.grant_types.iter().map(|grant| grant.as_str()).collect();
        Self {
            client_id: &client.client_id,
            secret_hash,
            jwks,
            grant_types: grant_types.join(" "),
            scopes: client.scopes.to_string(),
            audience: client.audience.as_deref(),
            access_token_lifetime: client.access_token_lifetime.map(|seconds| i32::try_from(seconds).unwrap_or(i32::MAX)),
            disabled: client.disabled,
            id_token_alg: client.id_token_alg.map(|alg| alg.as_str()),
            token_endpoint_auth_method: client.auth_method.map(|method| method.as_str()),
            redirect_uris: client.redirect_uris.join(" "),
            updated_at: now,
        }
    }
}

/// Inserts a new client, created at `now`.
pub fn insert(connection: &mut DbConnection, client: &Client, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(clients::table)
        .values((ClientSettingsRow::from_client(client, now), clients::created_at.eq(now)))
        .execute(connection)
        .map(drop)
}

/// Stores every setting of an existing client; returns whether it exists.
pub fn update(connection: &mut DbConnection, client: &Client, now: NaiveDateTime) -> QueryResult<bool> {
    let changed = diesel::update(clients::table.find(&client.client_id))
        .set(ClientSettingsRow::from_client(client, now))
        .execute(connection)?;
    Ok(changed == 1)
}

pub fn set_secret_hash(connection: &mut DbConnection, client_id: &str, secret_hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let changed = diesel::update(clients::table.find(client_id))
        .set((clients::secret_hash.eq(secret_hash), clients::updated_at.eq(now)))
        .execute(connection)?;
    Ok(changed == 1)
}

/// Deletes a client and returns whether it existed.
pub fn delete(connection: &mut DbConnection, client_id: &str) -> QueryResult<bool> {
    Ok(diesel::delete(clients::table.find(client_id)).execute(connection)? == 1)
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
