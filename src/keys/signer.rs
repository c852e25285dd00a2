//! The one interface every signature goes through.
//!
//! Grants ask the key ring for a `TokenSigner` and never see key material,
//! so a signer backed by a hardware or cloud key store can replace
//! `LocalSigner` without touching them.

use josekit::jws::JwsSigner;

use super::{Algorithm, KeyError};

/// Signs bytes with one key, named by its kid, for one JWS algorithm.
pub trait TokenSigner: Send + Sync {
    fn kid(&self) -> &str;
    fn alg(&self) -> Algorithm;
    /// Returns the JWS signature of `message` (RFC 7515 §5.1): for ECDSA
    /// the fixed-length R || S form, not DER.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// A signer holding its private key in process memory, unsealed from the
/// database.
pub struct LocalSigner {
    kid: String,
    alg: Algorithm,
    signer: Box<dyn JwsSigner>,
}

impl LocalSigner {
    pub fn new(kid: String, alg: Algorithm, signer: Box<dyn JwsSigner>) -> Self {
        Self { kid, alg, signer }
    }
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

impl TokenSigner for LocalSigner {
    fn kid(&self) -> &str {
        &self.kid
    }

    fn alg(&self) -> Algorithm {
        self.alg
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer.sign(message).map_err(|error| KeyError::Unusable {
            kid: self.kid.clone(),
            alg: self.alg,
            reason: error.to_string(),
        })
    }
}
