//! Why a token was not accepted.

/// A verification failure. The messages name the failed check and never
/// repeat token content, so they are safe to send to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not allowed")]
    DisallowedAlgorithm,
    #[error("the token is not an access token (typ must be at+jwt)")]
    WrongType,
    #[error("the token was signed by a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's algorithm does not match its key")]
    KeyMismatch,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token lacks the scope {0}")]
    InsufficientScope(String),
    /// No usable key set: the issuer could not be reached and the cached
    /// keys are older than the configured tolerance. Not the client's fault.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
}

impl VerifyError {
    /// Whether the token itself was at fault (401), as opposed to a
    /// missing scope (403) or unavailable keys (503).
    pub fn is_invalid_token(&self) -> bool {
        !matches!(self, Self::InsufficientScope(_) | Self::KeysUnavailable(_))
    }
}
