//! Tessera: a stateless OAuth 2.0 issuer of asymmetrically signed JWT
//! access tokens (RFC 9068), with a JWKS and discovery documents so that
//! resource servers verify tokens offline.

pub mod cli;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod http;
pub mod keys;
pub mod oauth;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
