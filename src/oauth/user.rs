//! Resource owners: the users who log in with the password grant.

use chrono::NaiveDateTime;
use uuid::Uuid;

/// Longest username accepted, in bytes.
pub const MAX_USERNAME_LEN: usize = 255;
/// Longest password accepted, in bytes. The cap comes before any hashing, so
/// a huge password cannot buy CPU time.
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted when a user is created.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Clone)]
pub struct User {
    /// Stable subject identifier; tokens carry this, never the username.
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("is_admin", &self.is_admin)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A password in memory. Its Debug output is redacted.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a presented password, rejecting one above the length cap.
    pub fn new(value: String) -> Result<Self, &'static str> {
        if value.len() > MAX_PASSWORD_LEN {
            return Err("the password is longer than 1024 bytes");
        }
        Ok(Self(value))
    }

    /// Wraps a password for a new account, which must also meet the minimum.
    pub fn new_for_account(value: String) -> Result<Self, String> {
        if value.chars().count() < MIN_PASSWORD_LEN {
            return Err(format!("the password must have at least {MIN_PASSWORD_LEN} characters"));
        }
        Self::new(value).map_err(str::to_owned)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Checks a username chosen at creation: 1 to 255 bytes, no control
/// characters and no leading or trailing white space.
pub fn validate_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > MAX_USERNAME_LEN {
        return Err(format!("a username must have 1 to {MAX_USERNAME_LEN} bytes"));
    }
    if username.chars().any(char::is_control) || username.trim() != username {
        return Err("a username must not contain control characters or leading or trailing spaces".into());
    }
    Ok(())
}
