//! OAuth 2.0 protocol logic: request parsing, client authentication rules,
//! grants, scopes, token claims and the §5.2 errors.
//!
//! Nothing here knows about HTTP frameworks or the database: the token
//! service feeds it parsed input and records, and the HTTP layer turns its
//! errors into responses.

mod claims;
mod client;
mod client_auth;
mod error;
mod form;
mod grant;
mod scope;
mod user;

pub use claims::{AccessTokenClaims, IdTokenClaims};
pub use client::{AuthMethod, Client, ClientKind, GrantType, MAX_CLIENT_ID_LEN, parse_resource, validate_client_id};
pub use client_auth::{ClientCredentials, ClientSecret, JWT_BEARER_ASSERTION, MAX_SECRET_LEN, Verification};
pub use error::OAuthError;
pub use form::FormParams;
pub use grant::{GrantRequest, Principal, RefreshTokenValue, granted_scope};
pub use scope::{ADMIN_SCOPE, Scope};
pub use user::{MAX_PASSWORD_LEN, Password, User, validate_username};
