//! The in-memory key ring: the signer for each algorithm, a verifier for
//! every published kid, and the JWKS document with its ETag, plus each
//! published JWK on its own.
//!
//! The ring is rebuilt from the database whenever the published key set
//! changes, and swapped in whole, so a request sees one consistent set.
//! Reading it takes a read lock and clones an `Arc`; signing and serving the
//! JWKS touch no database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::JwsVerifier;

use super::material::{KeyError, signer_for, verifier_for};
use super::signer::{LocalSigner, TokenSigner};
use super::{Algorithm, KeyState, MasterKeys, StoredKey};

/// A published public key, ready to verify signatures.
pub struct PublishedKey {
    pub kid: String,
    pub alg: Algorithm,
    verifier: Box<dyn JwsVerifier>,
    /// The published JWK, serialised, for `/.well-known/jwks/{kid}`.
    pub jwk: Vec<u8>,
}

impl PublishedKey {
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify(message, signature).is_ok()
    }
}

/// The serialised JWKS and its strong ETag (a hash of the body).
#[derive(Debug, PartialEq, Eq)]
pub struct Jwks {
    pub body: Vec<u8>,
    pub etag: String,
}

struct Snapshot {
    /// kid and state of each published key: when this is equal and every
    /// key loaded, the ring is not rebuilt.
    fingerprint: Vec<String>,
    /// Every key of the fingerprint loaded without a problem.
    complete: bool,
    signers: HashMap<Algorithm, Arc<dyn TokenSigner>>,
    published: HashMap<String, Arc<PublishedKey>>,
    jwks: Arc<Jwks>,
}

pub struct KeyRing {
    current: RwLock<Arc<Snapshot>>,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyRing {
    /// Creates an empty ring, which signs nothing and publishes no key.
    pub fn new() -> Self {
        let empty = Snapshot {
            fingerprint: Vec::new(),
            complete: true,
            signers: HashMap::new(),
            published: HashMap::new(),
            jwks: Arc::new(jwks_document(&[])),
        };
        Self { current: RwLock::new(Arc::new(empty)) }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a whole snapshot, because writers only
        // swap an Arc, so the value is safe to use.
        self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn signer(&self, alg: Algorithm) -> Option<Arc<dyn TokenSigner>> {
        self.snapshot().signers.get(&alg).cloned()
    }

    pub fn published_key(&self, kid: &str) -> Option<Arc<PublishedKey>> {
        self.snapshot().published.get(kid).cloned()
    }

    pub fn jwks(&self) -> Arc<Jwks> {
        self.snapshot().jwks.clone()
    }

    /// Replaces the ring with `keys`, the published keys in JWKS order,
    /// and returns what changed.
    ///
    /// The ring always follows the database, even when a key cannot be
    /// loaded: such a key is left out and reported, and an algorithm whose
    /// active key cannot be unsealed has no signer, so the issuer stops
    /// signing with it rather than keep signing with a key that is no
    /// longer active. Verifiers and signers of kids already in the ring are
    /// reused, so a refresh unseals and imports only new keys.
    pub fn replace(&self, keys: &[StoredKey], master_keys: &MasterKeys) -> Replacement {
        let fingerprint: Vec<String> = keys.iter().map(|key| format!("{} {}", key.kid, key.state)).collect();
        let old = self.snapshot();
        if old.complete && old.fingerprint == fingerprint && !fingerprint.is_empty() {
            return Replacement { changed: false, problems: Vec::new() };
        }

        let mut signers = HashMap::new();
        let mut published = HashMap::new();
        let mut listed = Vec::new();
        let mut problems = Vec::new();
        for key in keys {
            let verifier = match old.published.get(&key.kid) {
                Some(existing) => existing.clone(),
                None => match verifier_for(key.alg, &key.kid, &key.public_jwk) {
                    Ok(verifier) => Arc::new(PublishedKey {
                        kid: key.kid.clone(),
                        alg: key.alg,
                        verifier,
                        jwk: key.public_jwk.as_bytes().to_vec(),
                    }),
                    Err(error) => {
                        problems.push(error);
                        continue;
                    }
                },
            };
            published.insert(key.kid.clone(), verifier);
            listed.push(key);
            if key.state == KeyState::Active {
                match ring_signer(key, &old, master_keys) {
                    Ok(signer) => {
                        signers.insert(key.alg, signer);
                    }
                    Err(error) => problems.push(error),
                }
            }
        }

        let changed = old.fingerprint != fingerprint;
        let snapshot = Snapshot {
            fingerprint,
            complete: problems.is_empty(),
            signers,
            published,
            jwks: Arc::new(jwks_document(&listed)),
        };
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(snapshot);
        Replacement { changed, problems }
    }
}

/// What `KeyRing::replace` did.
#[derive(Debug)]
pub struct Replacement {
    /// The published key set differs from the previous one.
    pub changed: bool,
    /// Keys that could not be loaded, each left out of the ring.
    pub problems: Vec<KeyError>,
}

fn ring_signer(key: &StoredKey, old: &Snapshot, master_keys: &MasterKeys) -> Result<Arc<dyn TokenSigner>, KeyError> {
    if let Some(existing) = old.signers.get(&key.alg).filter(|signer| signer.kid() == key.kid) {
        return Ok(existing.clone());
    }
    let private_jwk = master_keys
        .open(&key.kid, &key.master_key_id, &key.sealed_private_key)
        .map_err(|error| KeyError::Unusable {
            kid: key.kid.clone(),
            alg: key.alg,
            reason: error.to_string(),
        })?;
    let signer = signer_for(key.alg, &key.kid, &private_jwk)?;
    Ok(Arc::new(LocalSigner::new(key.kid.clone(), key.alg, signer)))
}

fn jwks_document(keys: &[&StoredKey]) -> Jwks {
    let members: Vec<serde_json::Value> = keys
        .iter()
        .filter_map(|key| serde_json::from_str(&key.public_jwk).ok())
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "keys": members })).unwrap_or_default();
    let digest = openssl::sha::sha256(&body);
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    Jwks { body, etag }
}
