//! RFC 6749 §5.2 error responses, as protocol values.
//!
//! The description sent to a client is fixed text or names a parameter. It
//! never repeats a value the client sent or a library's message; causes go
//! to the log where the error is handled.

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// Client authentication failed. `basic` is true when the client used
    /// HTTP Basic, to which RFC 6749 §5.2 responds with a 401 challenge.
    #[error("invalid_client")]
    InvalidClient { basic: bool },
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(Cow<'static, str>),
    /// RFC 8707 §2: the requested resource is not one this client may
    /// address.
    #[error("invalid_target")]
    InvalidTarget,
    /// RFC 7009 §2.2.1: the token type cannot be revoked.
    #[error("unsupported_token_type")]
    UnsupportedTokenType,
    /// The body is larger than the endpoint accepts; sent as
    /// `invalid_request` with status 413.
    #[error("request body too large")]
    BodyTooLarge { limit: usize },
    /// A bounded resource is full; the client should retry after the delay.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable { retry_after_seconds: u32 },
    #[error("server_error")]
    ServerError,
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(description.into())
    }

    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidScope(description.into())
    }

    /// Returns the `error` code registered in RFC 6749 §11.4.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::BodyTooLarge { .. } => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    /// Returns the HTTP status: 400 unless RFC 6749 §5.2 or HTTP semantics
    /// require another.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } => 401,
            Self::BodyTooLarge { .. } => 413,
            Self::TemporarilyUnavailable { .. } => 503,
            Self::ServerError => 500,
            _ => 400,
        }
    }

    /// Returns the `error_description` sent to the client.
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            Self::InvalidRequest(text) | Self::InvalidScope(text) => text.clone(),
            Self::InvalidClient { .. } => "client authentication failed".into(),
            Self::InvalidGrant => "the resource owner credentials or the refresh token are invalid".into(),
            Self::UnauthorizedClient => "this client may not use this grant type".into(),
            Self::UnsupportedGrantType => "the grant type is not supported".into(),
            Self::InvalidTarget => "the requested resource is not registered for this client".into(),
            Self::UnsupportedTokenType => {
                "access tokens are self-contained JWTs and cannot be revoked; they stay valid until exp".into()
            }
            Self::BodyTooLarge { limit } => format!("the request body is larger than {limit} bytes").into(),
            Self::TemporarilyUnavailable { .. } => "the server is busy; retry later".into(),
            Self::ServerError => "the server failed to process the request".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6749 §5.2: 400 by default, 401 for invalid_client.
    #[test]
    fn error_codes_map_to_statuses() {
        let table = [
            (OAuthError::invalid_request("x"), "invalid_request", 400),
            (OAuthError::InvalidClient { basic: true }, "invalid_client", 401),
            (OAuthError::InvalidClient { basic: false }, "invalid_client", 401),
            (OAuthError::InvalidGrant, "invalid_grant", 400),
            (OAuthError::UnauthorizedClient, "unauthorized_client", 400),
            (OAuthError::UnsupportedGrantType, "unsupported_grant_type", 400),
            (OAuthError::invalid_scope("x"), "invalid_scope", 400),
            (OAuthError::UnsupportedTokenType, "unsupported_token_type", 400),
            (OAuthError::InvalidTarget, "invalid_target", 400),
            (OAuthError::BodyTooLarge { limit: 1 }, "invalid_request", 413),
            (OAuthError::TemporarilyUnavailable { retry_after_seconds: 1 }, "temporarily_unavailable", 503),
            (OAuthError::ServerError, "server_error", 500),
        ];
        for (error, code, status) in table {
            assert_eq!(error.code(), code);
            assert_eq!(error.status(), status, "{code}");
        }
    }
}
