//! Queries on the `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use super::schema::users;
use crate::oauth::User;

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    is_admin: bool,
    disabled: bool,
    created_at: NaiveDateTime,
}

impl UserRow {
    fn into_user(self) -> Result<User, diesel::result::Error> {
        let id = Uuid::parse_str(&self.id)
            .map_err(|error| diesel::result::Error::DeserializationError(Box::new(error)))?;
        Ok(User {
            id,
            username: self.username,
            password_hash: self.password_hash,
            is_admin: self.is_admin,
            disabled: self.disabled,
            created_at: self.created_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: String,
    pub username: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(connection: &mut DbConnection, user: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(connection)
        .map(drop)
}

pub fn find_by_username(connection: &mut DbConnection, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(connection)
        .optional()?
        .map(UserRow::into_user)
        .transpose()
}

pub fn find_by_id(connection: &mut DbConnection, id: Uuid) -> QueryResult<Option<User>> {
    users::table
        .find(id.to_string())
        .select(UserRow::as_select())
        .first(connection)
        .optional()?
        .map(UserRow::into_user)
        .transpose()
}

pub fn list(connection: &mut DbConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::username)
        .select(UserRow::as_select())
        .load(connection)?
        .into_iter()
        .map(UserRow::into_user)
        .collect()
}

/// Fields of a user to change; `None` leaves one as it is.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub password_hash: Option<String>,
    pub is_admin: Option<bool>,
    pub disabled: Option<bool>,
    pub updated_at: NaiveDateTime,
}

/// Applies `changes` and returns how many users changed (0 or 1).
pub fn update(connection: &mut DbConnection, id: Uuid, changes: &UserChanges) -> QueryResult<usize> {
    diesel::update(users::table.find(id.to_string())).set(changes).execute(connection)
}

/// Deletes a user and returns whether it existed.
pub fn delete(connection: &mut DbConnection, id: Uuid) -> QueryResult<bool> {
    Ok(diesel::delete(users::table.find(id.to_string())).execute(connection)? == 1)
}
