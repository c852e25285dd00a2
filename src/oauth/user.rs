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

    /// Wraps a password for a new account, which must also meet the
    /// minimum and contain no control character (the token endpoint rejects
    /// NUL, so such a password could never be used).
    pub fn new_for_account(value: String) -> Result<Self, String> {
        if value.chars().count() < MIN_PASSWORD_LEN {
            return Err(format!("the password must have at least {MIN_PASSWORD_LEN} characters"));
        }
        if value.chars().any(char::is_control) {
            return Err("the password must not contain control characters".into());
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

/// Checks a username chosen at creation: 1 to 255 bytes of letters, digits
/// and `.` `-` `_` `@` `+`.
///
/// Letters and digits may be from any script, but combining marks,
/// invisible and direction-changing characters are rejected, so two names
/// that look the same cannot both exist (such as "café" written with a
/// combining accent and with a precomposed one).
pub fn validate_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > MAX_USERNAME_LEN {
        return Err(format!("a username must have 1 to {MAX_USERNAME_LEN} bytes"));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+');
    if !username.chars().all(allowed) {
        return Err(format!("invalid username {username:?}: use letters, digits and . - _ @ + only"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rejects_lookalike_characters() {
        assert!(validate_username("alice@example.com").is_ok());
        assert!(validate_username("caf\u{e9}").is_ok());
        assert!(validate_username("cafe\u{301}").is_err(), "combining accent");
        assert!(validate_username("ali\u{200b}ce").is_err(), "zero-width space");
        assert!(validate_username("\u{202e}ecila").is_err(), "right-to-left override");
        assert!(validate_username("alice smith").is_err());
        assert!(validate_username("").is_err());
    }

    #[test]
    fn account_password_rejects_control_characters() {
        assert!(Password::new_for_account("long enough\0".into()).is_err());
        assert!(Password::new_for_account("short".into()).is_err());
        assert!(Password::new_for_account("long enough".into()).is_ok());
    }
}
