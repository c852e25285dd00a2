//! Registered clients (RFC 6749 §2) and the grant types they may use.

use chrono::NaiveDateTime;

use super::{OAuthError, Scope};

/// Maximum length of a client_id, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    /// Resource owner password credentials (RFC 6749 §4.3).
    Password,
    /// A confidential client acting for itself (RFC 6749 §4.4).
    ClientCredentials,
    /// A new access token for a refresh token (RFC 6749 §6).
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [GrantType::Password, GrantType::ClientCredentials, GrantType::RefreshToken];

    /// Returns the `grant_type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

impl std::str::FromStr for GrantType {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|grant| grant.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|g| g.as_str()).collect();
                format!("expected one of: {}", names.join(", "))
            })
    }
}

/// Whether a client can keep a secret (RFC 6749 §2.1), and how it proves
/// it.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientKind {
    /// Authenticates with a secret, stored only as a hash.
    Confidential { secret_hash: String },
    /// Authenticates with assertions signed by a key of this JWKS (RFC 7523).
    PrivateKeyJwt { jwks: String },
    /// Sends only its client_id.
    Public,
}

impl ClientKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Confidential { .. } => "confidential",
            Self::PrivateKeyJwt { .. } => "private_key_jwt",
            Self::Public => "public",
        }
    }
}

impl std::fmt::Debug for ClientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `token_endpoint_auth_method` (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] =
        [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost, AuthMethod::PrivateKeyJwt, AuthMethod::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

impl std::str::FromStr for AuthMethod {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|method| method.as_str() == value).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
            format!("expected one of: {}", names.join(", "))
        })
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub kind: ClientKind,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scope,
    /// The audiences this client's access tokens may have, space-separated;
    /// the first is the default. The issuer's default audience when unset.
    pub audience: Option<String>,
    /// Access token lifetime in seconds; the issuer's default when unset.
    pub access_token_lifetime: Option<u32>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    /// The algorithm of this client's ID tokens; the issuer's signing_alg
    /// when unset.
    pub id_token_alg: Option<crate::keys::Algorithm>,
    /// The one authentication method allowed, when registered; otherwise
    /// any method that fits the kind.
    pub auth_method: Option<AuthMethod>,
    /// Registered redirect URIs, kept for an authorization endpoint; unused
    /// by the grants Tessera serves.
    pub redirect_uris: Vec<String>,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Picks the `aud` of an access token (RFC 8707 §2): the requested
    /// resource if the client may address it, else `invalid_target`;
    /// without a request, the client's first audience, or `default`.
    pub fn select_audience(&self, default: &str, requested: Option<&str>) -> Result<String, OAuthError> {
        let registered: Vec<&str> = self.audience.as_deref().unwrap_or_default().split(' ').filter(|a| !a.is_empty()).collect();
        let allowed = if registered.is_empty() { vec![default] } else { registered };
        match requested {
            None => Ok(allowed[0].to_owned()),
            Some(resource) if allowed.contains(&resource) => Ok(resource.to_owned()),
            Some(_) => Err(OAuthError::InvalidTarget),
        }
    }
}

/// Maximum length of a `resource` or `audience` value.
const MAX_RESOURCE_LEN: usize = 512;

/// Reads the RFC 8707 `resource` parameter, or `audience` as some clients
/// name it. Both may be sent only with the same value.
pub fn parse_resource(params: &mut super::FormParams) -> Result<Option<String>, OAuthError> {
    let resource = params.take("resource");
    let audience = params.take("audience");
    let chosen = match (resource, audience) {
        (Some(resource), Some(audience)) if resource != audience => {
            return Err(OAuthError::invalid_request("resource and audience name different targets"));
        }
        (Some(value), _) | (None, Some(value)) => Some(value),
        (None, None) => None,
    };
    if chosen.as_ref().is_some_and(|value| value.len() > MAX_RESOURCE_LEN) {
        return Err(OAuthError::InvalidTarget);
    }
    Ok(chosen)
}

/// Checks a client_id chosen at registration: 1 to 128 characters from the
/// URL-unreserved set, so it needs no escaping in Basic credentials or URLs.
///
/// A UUID is rejected: users' `sub` values are UUIDs and a client's own
/// tokens carry its client_id as `sub`, so the two could not be distinguished
/// (RFC 9068 §5).
pub fn validate_client_id(client_id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID_LEN || !client_id.chars().all(allowed) {
        return Err(format!(
            "invalid client_id {client_id:?}: expected 1 to {MAX_CLIENT_ID_LEN} characters from A-Z a-z 0-9 - . _ ~"
        ));
    }
    if uuid::Uuid::parse_str(client_id).is_ok() {
        return Err(format!("invalid client_id {client_id:?}: a UUID could collide with a user's subject; choose a name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_must_not_look_like_user_subject() {
        assert!(validate_client_id("web-app").is_ok());
        assert!(validate_client_id("9b2f4c1e-8d3a-4f6b-9c2d-1e5f7a8b9c0d").is_err());
        assert!(validate_client_id("9b2f4c1e8d3a4f6b9c2d1e5f7a8b9c0d").is_err());
    }
}
