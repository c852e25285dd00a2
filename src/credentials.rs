//! Hashing and checking of passwords and client secrets.
//!
//! Secrets a person chose (passwords, and client secrets read from stdin)
//! are hashed with argon2id at OWASP's recommended minimum: m = 19 MiB,
//! t = 2, p = 1. Client secrets that Tessera generates carry 256 random bits,
//! so no guessing attack against them is feasible and a slow hash would only
//! cost CPU on every request. They are stored as HMAC-SHA256 under a random
//! key kept sealed in the database, and checked in constant time.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// Prefix of a stored HMAC-SHA256 client-secret hash.
const KEYED_PREFIX: &str = "hmac-sha256$";
/// Random bytes in a generated client secret.
const GENERATED_SECRET_BYTES: usize = 32;
/// Shortest client secret accepted from an operator.
pub const MIN_CHOSEN_SECRET_LEN: usize = 16;

/// Hashes a password or chosen secret with argon2id into a PHC string.
pub fn hash_argon2(secret: &str) -> String {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .expect("argon2id with default parameters and a random salt cannot fail")
        .to_string()
}

/// Checks `secret` against an argon2 PHC string. A malformed hash counts as
/// a mismatch.
pub fn verify_argon2(secret: &str, phc: &str) -> bool {
    Argon2::default().verify_password(secret.as_bytes(), phc).is_ok()
}

/// Returns an argon2id hash of a random password, made once per process. The
/// unknown-user path verifies against it, so an unknown username takes as
/// long as a wrong password and the response time does not reveal which
/// usernames exist.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 16];
        openssl::rand::rand_bytes(&mut random).expect("the OpenSSL random generator failed");
        hash_argon2(&URL_SAFE_NO_PAD.encode(random))
    })
}

/// The key for client-secret HMACs. Its Debug output is redacted.
#[derive(Clone)]
pub struct SecretHashKey([u8; 32]);

impl SecretHashKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self, secret: &str) -> Vec<u8> {
        let key = PKey::hmac(&self.0).expect("OpenSSL accepts a 32-byte HMAC key");
        let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("OpenSSL supports HMAC-SHA256");
        signer
            .sign_oneshot_to_vec(secret.as_bytes())
            .expect("HMAC-SHA256 cannot fail on in-memory input")
    }

    /// Hashes a secret that Tessera generated.
    pub fn hash_generated(&self, secret: &str) -> String {
        format!("{KEYED_PREFIX}{}", self.digest(secret))
    }

    /// Returns the bare keyed hash, base64url, used as a lookup key for
    /// refresh tokens: equal tokens give equal digests, so the database finds the
    /// row by index without ever holding the token.
    pub fn digest(&self, secret: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(secret))
    }
}

impl std::fmt::Debug for SecretHashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHashKey(***)")
    }
}

/// The kind of a stored client-secret hash, which fixes how it is checked.
pub enum StoredSecret<'a> {
    /// HMAC-SHA256 of a generated secret: fast, runs inline.
    Keyed(&'a str),
    /// argon2id of a chosen secret: slow, runs on the hashing pool.
    Argon2(&'a str),
}

impl<'a> StoredSecret<'a> {
    pub fn classify(stored: &'a str) -> Self {
        match stored.strip_prefix(KEYED_PREFIX) {
            Some(mac) => Self::Keyed(mac),
            None => Self::Argon2(stored),
        }
    }
}

/// Checks a presented secret against a stored HMAC in constant time.
pub fn verify_keyed(key: &SecretHashKey, secret: &str, stored_mac: &str) -> bool {
    let Ok(expected) = URL_SAFE_NO_PAD.decode(stored_mac) else {
        return false;
    };
    let actual = key.mac(secret);
    expected.len() == actual.len() && openssl::memcmp::eq(&expected, &actual)
}

/// Generates a client secret or refresh token with 256 bits of randomness,
/// base64url.
pub fn generate_client_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    openssl::rand::rand_bytes(&mut bytes).expect("the OpenSSL random generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_hash_is_argon2id_with_owasp_parameters() {
        let hash = hash_argon2("correct horse");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_argon2("correct horse", &hash));
        assert!(!verify_argon2("wrong horse", &hash));
        assert!(!verify_argon2("x", "not a hash"));
    }

    #[test]
    fn keyed_hash_verifies_only_its_secret() {
        let key = SecretHashKey::new([1; 32]);
        let secret = generate_client_secret();
        assert_eq!(secret.len(), 43);
        let stored = key.hash_generated(&secret);
        let StoredSecret::Keyed(mac) = StoredSecret::classify(&stored) else {
            panic!("expected a keyed hash");
        };
        assert!(verify_keyed(&key, &secret, mac));
        assert!(!verify_keyed(&key, "other", mac));
        assert!(!verify_keyed(&SecretHashKey::new([2; 32]), &secret, mac));
    }
}
