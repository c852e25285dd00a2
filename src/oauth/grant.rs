//! Token requests by grant type, and the scope a grant receives.

use super::{ADMIN_SCOPE, Client, FormParams, GrantType, OAuthError, Password, Scope};
use super::user::MAX_USERNAME_LEN;

/// A token request's grant, parsed from the body parameters.
#[derive(Debug)]
pub enum GrantRequest {
    /// RFC 6749 §4.3.2.
    Password { username: String, password: Password, scope: Option<Scope> },
    /// RFC 6749 §4.4.2.
    ClientCredentials { scope: Option<Scope> },
    /// RFC 6749 §6.
    RefreshToken { refresh_token: RefreshTokenValue, scope: Option<Scope> },
}

/// Maximum length of a refresh token; Tessera's own are 43 characters.
const MAX_REFRESH_TOKEN_LEN: usize = 512;

/// A presented refresh token. Its Debug output is redacted.
pub struct RefreshTokenValue(String);

impl RefreshTokenValue {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RefreshTokenValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshTokenValue(***)")
    }
}

impl GrantRequest {
    /// Parses the grant from the parameters that remain after client
    /// authentication took its own.
    pub fn from_params(params: &mut FormParams) -> Result<Self, OAuthError> {
        let grant_type = params.require("grant_type")?;
        let grant_type = grant_type.parse::<GrantType>().map_err(|_| OAuthError::UnsupportedGrantType)?;
        match grant_type {
            GrantType::Password => {
                let username = params.require("username")?;
                if username.len() > MAX_USERNAME_LEN {
                    return Err(OAuthError::invalid_request("the username is longer than 255 bytes"));
                }
                let password = Password::new(params.require("password")?).map_err(OAuthError::invalid_request)?;
                let scope = parse_scope(params)?;
                Ok(Self::Password { username, password, scope })
            }
            GrantType::ClientCredentials => Ok(Self::ClientCredentials { scope: parse_scope(params)? }),
            GrantType::RefreshToken => {
                let refresh_token = params.require("refresh_token")?;
                if refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
                    return Err(OAuthError::InvalidGrant);
                }
                let scope = parse_scope(params)?;
                Ok(Self::RefreshToken { refresh_token: RefreshTokenValue(refresh_token), scope })
            }
        }
    }

    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::Password { .. } => GrantType::Password,
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
        }
    }
}

/// Parses the optional scope. A value made only of spaces names no scope
/// token, which is rejected rather than read as "omitted".
fn parse_scope(params: &mut FormParams) -> Result<Option<Scope>, OAuthError> {
    let Some(value) = params.take("scope") else { return Ok(None) };
    let scope = Scope::parse(&value).map_err(OAuthError::invalid_scope)?;
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope("the scope parameter names no scope"));
    }
    Ok(Some(scope))
}

/// The principal a token is for, as far as scope decisions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A user with the admin flag.
    Administrator,
    /// Any other user, or a client acting for itself.
    Regular,
}

/// Decides the scope of a token issued through `client` (RFC 6749 §3.3).
///
/// Without a requested scope the token gets every scope the client may
/// have except `admin`, which must be asked for. A requested scope must lie
/// within the client's scopes, and `admin` is granted only to
/// administrators.
pub fn granted_scope(client: &Client, principal: Principal, requested: Option<&Scope>) -> Result<Scope, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client.scopes.without(ADMIN_SCOPE));
    };
    if !requested.is_subset_of(&client.scopes) {
        return Err(OAuthError::invalid_scope("the requested scope exceeds the scope registered for this client"));
    }
    if requested.contains(ADMIN_SCOPE) && principal != Principal::Administrator {
        return Err(OAuthError::invalid_scope("the admin scope is granted only to administrators"));
    }
    Ok(requested.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::ClientKind;

    fn client(scopes: &str) -> Client {
        Client {
            client_id: "app".into(),
            kind: ClientKind::Public,
            grant_types: vec![GrantType::Password],
            scopes: Scope::parse(scopes).unwrap(),
            audience: None,
            access_token_lifetime: None,
            disabled: false,
            created_at: chrono::NaiveDateTime::default(),
            id_token_alg: None,
            auth_method: None,
            redirect_uris: Vec::new(),
        }
    }

    fn user(is_admin: bool) -> Principal {
        if is_admin { Principal::Administrator } else { Principal::Regular }
    }

    #[test]
    fn omitted_scope_defaults_to_client_scope_without_admin() {
        let granted = granted_scope(&client("read write admin"), user(true), None).unwrap();
        assert_eq!(granted.to_string(), "read write");
    }

    #[test]
    fn scope_beyond_client_is_invalid_scope() {
        let requested = Scope::parse("read delete").unwrap();
        let error = granted_scope(&client("read"), user(false), Some(&requested)).unwrap_err();
        assert_eq!(error.code(), "invalid_scope");
    }

    #[test]
    fn admin_scope_needs_admin_user() {
        let requested = Scope::parse("admin").unwrap();
        let error = granted_scope(&client("admin"), user(false), Some(&requested)).unwrap_err();
        assert_eq!(error.code(), "invalid_scope");
        assert!(granted_scope(&client("admin"), user(true), Some(&requested)).is_ok());
    }

    #[test]
    fn unknown_grant_type_is_unsupported() {
        let mut params = FormParams::parse(b"grant_type=urn%3Aexample%3Aother").unwrap();
        assert_eq!(GrantRequest::from_params(&mut params).unwrap_err(), OAuthError::UnsupportedGrantType);
    }

    #[test]
    fn blank_scope_is_invalid_scope() {
        let mut params = FormParams::parse(b"grant_type=client_credentials&scope=+").unwrap();
        assert_eq!(GrantRequest::from_params(&mut params).unwrap_err().code(), "invalid_scope");
    }

    #[test]
    fn missing_grant_type_is_invalid_request() {
        let mut params = FormParams::parse(b"username=a").unwrap();
        assert_eq!(GrantRequest::from_params(&mut params).unwrap_err().code(), "invalid_request");
    }
}
