//! Signing keys: algorithms, key material, encryption at rest, the in-memory
//! key ring and the JWKS built from it.
//!
//! Key states, as stored in `signing_keys.state`:
//! - `pending`: published in the JWKS but signs nothing yet. It becomes
//!   active at `promote_after`, once every verifier's cached JWKS has had
//!   time to include it.
//! - `active`: the one key per algorithm that signs new tokens.
//! - `retiring`: no longer signs, but stays in the JWKS until `retire_after`,
//!   the moment every token it signed has expired plus the clock-skew
//!   leeway.
//! - `retired`: out of the JWKS, kept for audit.
//! - `revoked`: compromised. Out of the JWKS at once, and Tessera accepts
//!   no token it signed.

mod algorithm;
pub mod assertion;
pub mod jwt;
mod material;
mod master_key;
mod ring;
mod signer;

use chrono::NaiveDateTime;

pub use algorithm::Algorithm;
pub use material::{GeneratedKey, KeyError, MAX_PEM_LEN, generate, import_pem, public_thumbprint, verifier_for};
pub use master_key::{MasterKey, MasterKeyError, MasterKeys};
pub use ring::{Jwks, KeyRing, PublishedKey, Replacement};
pub use signer::{LocalSigner, TokenSigner};

/// The lifecycle state of a stored signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Pending,
    Active,
    Retiring,
    Retired,
    Revoked,
}

impl KeyState {
    pub const ALL: [KeyState; 5] = [
        KeyState::Pending,
        KeyState::Active,
        KeyState::Retiring,
        KeyState::Retired,
        KeyState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyState {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == value)
            .ok_or_else(|| format!("unknown key state {value:?}"))
    }
}

/// A signing key as stored: the public JWK in clear, the private key sealed
/// under the master key named by `master_key_id`.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub sealed_private_key: Vec<u8>,
    pub master_key_id: String,
    pub public_jwk: String,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub retire_after: Option<NaiveDateTime>,
    pub retired_at: Option<NaiveDateTime>,
    pub promote_after: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}
