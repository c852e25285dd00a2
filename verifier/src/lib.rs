//! Offline verification of access tokens issued by Tessera (RFC 9068), for
//! resource servers.
//!
//! A [`Verifier`] fetches the issuer's JWKS once, keeps it in memory and
//! checks every token locally: no call to the issuer per request. It
//! follows RFC 8725: the algorithm comes from an explicit allow-list and
//! from the key, never from the token alone; `typ` must be `at+jwt`;
//! `iss`, `aud`, `exp` and `nbf` are checked; key headers embedded in a
//! token (`jwk`, `jku`, `x5u`, `x5c`) are never used.
//!
//! The JWKS cache honours the `max-age` the issuer sends, refreshes in the
//! background before it expires, refetches (rate-limited) when a token
//! names an unknown kid, and keeps serving the last good key set for a
//! configurable time while the issuer is unreachable.
//!
//! With the `actix` feature, [`actix::BearerToken`] is an actix-web
//! extractor that answers failures with RFC 6750 challenges.

#[cfg(feature = "actix")]
pub mod actix;
mod algorithm;
mod claims;
mod config;
mod error;
mod jwks;
mod verifier;

pub use algorithm::Algorithm;
pub use claims::{AccessToken, Audience, Claims};
pub use config::VerifierConfig;
pub use error::VerifyError;
pub use verifier::Verifier;
