//! Client authentication at the token endpoint (RFC 6749 §2.3).
//!
//! Four methods are accepted. `client_secret_basic` is HTTP Basic, with the
//! §2.3.1 form-url-decoding of id and secret. `client_secret_post` sends
//! both in the body. `private_key_jwt` sends a JWT assertion signed with the
//! client's key (RFC 7523 §2.2). With `none`, a public client sends only its
//! client_id. Using two methods in one request is `invalid_request`.

use base64::Engine;
use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use percent_encoding::percent_decode;

use super::{AuthMethod, Client, ClientKind, FormParams, OAuthError};

/// Maximum length of a client secret, in bytes, checked before any hashing.
pub const MAX_SECRET_LEN: usize = 512;
/// Longest Authorization header value parsed.
const MAX_AUTHORIZATION_LEN: usize = 2048;

/// Standard base64 that accepts the credentials with or without `=`
/// padding, since some HTTP clients leave it out.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A client secret in memory. Its Debug output is redacted.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// The credentials a client presented, by method.
#[derive(Debug)]
pub enum ClientCredentials {
    Basic { client_id: String, secret: ClientSecret },
    Post { client_id: String, secret: ClientSecret },
    /// RFC 7523 §2.2: `assertion` is checked against the client's JWKS.
    Assertion { client_id: String, assertion: String },
    None { client_id: String },
}

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Maximum length of a client assertion that is parsed.
const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// The check that authenticates a client.
pub enum Verification<'a> {
    /// Check a secret against the stored hash.
    Secret { secret: &'a ClientSecret, stored_hash: &'a str },
    /// Check a signed assertion against the client's public keys.
    Assertion { assertion: &'a str, jwks: &'a str },
    /// A public client: nothing to check.
    Nothing,
}

impl ClientCredentials {
    /// Reads the credentials from the Authorization header value, if any,
    /// and the body parameters, removing `client_id` and `client_secret`.
    pub fn from_request(authorization: Option<&str>, params: &mut FormParams) -> Result<Self, OAuthError> {
        let body_id = params.take("client_id");
        let body_secret = params.take("client_secret");
        let assertion_type = params.take("client_assertion_type");
        let assertion = params.take("client_assertion");

        if assertion_type.is_some() || assertion.is_some() {
            if authorization.is_some() || body_secret.is_some() {
                return Err(OAuthError::invalid_request("the client used more than one authentication method"));
            }
            if assertion_type.as_deref() != Some(JWT_BEARER_ASSERTION) {
                return Err(OAuthError::invalid_request("client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"));
            }
            let assertion = assertion.ok_or_else(|| OAuthError::invalid_request("the client_assertion parameter is missing"))?;
            if assertion.len() > MAX_ASSERTION_LEN {
                return Err(OAuthError::InvalidClient { basic: false });
            }
            // The client is named by the assertion's sub (RFC 7523 §3); a
            // client_id in the body must agree. The signature is checked
            // later against that client's keys.
            let claimed = crate::keys::jwt::unverified_subject(&assertion)
                .filter(|sub| !sub.is_empty() && !sub.chars().any(char::is_control))
                .ok_or(OAuthError::InvalidClient { basic: false })?;
            if body_id.as_ref().is_some_and(|id| *id != claimed) {
                return Err(OAuthError::InvalidClient { basic: false });
            }
            check_length(&claimed, false)?;
            return Ok(Self::Assertion { client_id: claimed, assertion });
        }

        let Some(header) = authorization else {
            let client_id = body_id.ok_or_else(|| {
                OAuthError::invalid_request("client authentication is missing: send HTTP Basic or client_id")
            })?;
            check_length(&client_id, false)?;
            return Ok(match body_secret {
                Some(secret) => {
                    check_length(&secret, false)?;
                    Self::Post { client_id, secret: ClientSecret(secret) }
                }
                None => Self::None { client_id },
            });
        };

        let (client_id, secret) = parse_basic(header)?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method",
            ));
        }
        // Some client libraries repeat client_id in the body next to Basic;
        // that is accepted only when both name the same client.
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the HTTP Basic user",
            ));
        }
        Ok(Self::Basic { client_id, secret })
    }

    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::Assertion { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }

    /// Returns whether the failure response must carry a Basic challenge.
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }

    /// Returns the error for a failed authentication with these credentials.
    pub fn failure(&self) -> OAuthError {
        OAuthError::InvalidClient { basic: self.used_basic() }
    }

    /// The registered method these credentials use.
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Basic { .. } => AuthMethod::ClientSecretBasic,
            Self::Post { .. } => AuthMethod::ClientSecretPost,
            Self::Assertion { .. } => AuthMethod::PrivateKeyJwt,
            Self::None { .. } => AuthMethod::None,
        }
    }

    /// Decides how `client` must be authenticated with these credentials:
    /// the client's kind fixes the family of methods, and a registered
    /// `token_endpoint_auth_method` narrows it to one.
    pub fn verification<'a>(&'a self, client: &'a Client) -> Result<Verification<'a>, OAuthError> {
        if client.disabled || client.auth_method.is_some_and(|method| method != self.method()) {
            return Err(self.failure());
        }
        match (&client.kind, self) {
            (ClientKind::Confidential { secret_hash }, Self::Basic { secret, .. } | Self::Post { secret, .. }) => {
                Ok(Verification::Secret { secret, stored_hash: secret_hash })
            }
            (ClientKind::PrivateKeyJwt { jwks }, Self::Assertion { assertion, .. }) => Ok(Verification::Assertion { assertion, jwks }),
            (ClientKind::Public, Self::None { .. }) => Ok(Verification::Nothing),
            // A method that does not fit the client's kind, such as a
            // public client presenting a secret.
            _ => Err(self.failure()),
        }
    }
}

fn check_length(value: &str, basic: bool) -> Result<(), OAuthError> {
    if value.len() > MAX_SECRET_LEN {
        return Err(OAuthError::InvalidClient { basic });
    }
    Ok(())
}

/// Parses `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, ClientSecret), OAuthError> {
    let malformed = || OAuthError::InvalidClient { basic: true };
    if header.len() > MAX_AUTHORIZATION_LEN {
        return Err(malformed());
    }
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = BASIC_BASE64.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (raw_id, raw_secret) = text.split_once(':').ok_or_else(malformed)?;
    let client_id = form_url_decode(raw_id).ok_or_else(malformed)?;
    let secret = form_url_decode(raw_secret).ok_or_else(malformed)?;
    // Control characters (NUL above all, which PostgreSQL rejects in text)
    // never occur in a registered client_id or a usable secret.
    if client_id.is_empty() || client_id.chars().chain(secret.chars()).any(char::is_control) {
        return Err(malformed());
    }
    check_length(&client_id, true)?;
    check_length(&secret, true)?;
    Ok((client_id, ClientSecret(secret)))
}

fn form_url_decode(raw: &str) -> Option<String> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode(plus_as_space.as_bytes())
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    /// RFC 6749 §2.3.1: id and secret are form-url-encoded before Basic.
    #[test]
    fn basic_credentials_are_form_url_decoded() {
        let header = basic("my%20app", "p%3Ass+word");
        let credentials = ClientCredentials::from_request(Some(&header), &mut FormParams::default()).unwrap();
        let ClientCredentials::Basic { client_id, secret } = credentials else {
            panic!("expected Basic credentials");
        };
        assert_eq!(client_id, "my app");
        assert_eq!(secret.expose(), "p:ss word");
    }

    /// RFC 6749 §2.3: a client must not use more than one method.
    #[test]
    fn basic_and_post_secret_together_are_rejected() {
        let mut params = FormParams::parse(b"client_secret=x").unwrap();
        let error = ClientCredentials::from_request(Some(&basic("app", "s")), &mut params).unwrap_err();
        assert_eq!(error.code(), "invalid_request");
    }

    #[test]
    fn basic_credentials_without_padding_are_accepted() {
        // "app:s" is "YXBwOnM=" with padding.
        let credentials = ClientCredentials::from_request(Some("Basic YXBwOnM"), &mut FormParams::default()).unwrap();
        assert_eq!(credentials.client_id(), "app");
    }

    #[test]
    fn malformed_basic_header_is_invalid_client() {
        let with_nul = basic("web%00", "x");
        let raw_nul = basic("web\0", "x");
        for header in ["Basic !!!", "Basic", "Bearer abc", "Basic Zm9v", with_nul.as_str(), raw_nul.as_str()] {
            let error = ClientCredentials::from_request(Some(header), &mut FormParams::default()).unwrap_err();
            assert_eq!(error, OAuthError::InvalidClient { basic: true }, "{header}");
        }
    }

    #[test]
    fn client_id_alone_means_public_client() {
        let mut params = FormParams::parse(b"client_id=spa").unwrap();
        let credentials = ClientCredentials::from_request(None, &mut params).unwrap();
        assert!(matches!(credentials, ClientCredentials::None { .. }));
    }

    #[test]
    fn secret_debug_output_is_redacted() {
        let credentials = ClientCredentials::Post {
            client_id: "app".into(),
            secret: ClientSecret::new("hunter2".into()),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
