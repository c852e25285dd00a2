//! The master key: a 256-bit key-encryption key that seals private signing
//! keys and shared secrets (such as the client-secret hashing key) at rest
//! with AES-256-GCM.
//!
//! It comes from `TESSERA_MASTER_KEY` (base64 of 32 bytes) when that is set,
//! otherwise from `master.key` in the keys folder, which is created with
//! mode 0600 on first start. Its id is a short hash of the key, stored next
//! to every sealed key so that a master-key rotation can tell which key
//! sealed what.
//!
//! During a master-key rotation a previous key may be loaded too
//! (`TESSERA_PREVIOUS_MASTER_KEY` or `previous-master.key`): it only opens
//! what it sealed, while everything new is sealed under the current key.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// First byte of every sealed blob, so the format can change later.
const SEAL_FORMAT_V1: u8 = 1;
pub const MASTER_KEY_FILE: &str = "master.key";
pub const PREVIOUS_MASTER_KEY_FILE: &str = "previous-master.key";

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("{0} is invalid: expected base64 of exactly 32 bytes")]
    InvalidEnvironment(&'static str),
    #[error("the master key file {path} is invalid: expected base64 of exactly 32 bytes")]
    InvalidFile { path: PathBuf },
    #[error("cannot read or create the master key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("sealing a private key failed: {0}")]
    Seal(String),
    #[error("the master key file {path} does not exist: check TESSERA_KEYS_DIR and TESSERA_MASTER_KEY (on a new database, `tessera migrate` or `tessera serve` creates it)")]
    Missing { path: PathBuf },
    #[error("{kid} cannot be unsealed: it was sealed by master key {sealed_by}, but the loaded master keys are {loaded}; check TESSERA_KEYS_DIR and TESSERA_MASTER_KEY")]
    WrongKey { kid: String, sealed_by: String, loaded: String },
    #[error("the private key {kid} cannot be unsealed: the data is corrupt or was altered")]
    Corrupt { kid: String },
}

pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl MasterKey {
    fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let digest = openssl::sha::sha256(&bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Self { bytes, id }
    }

    /// Generates a random key; used by tests and by the first start.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        openssl::rand::rand_bytes(&mut bytes).expect("the OpenSSL random generator failed");
        Self::from_bytes(bytes)
    }

    /// Loads the key from `environment` if given, else from the keys folder.
    /// A missing file is created when `create` is set, and an error
    /// otherwise, so a command run from the wrong folder cannot quietly
    /// start sealing under a new key.
    pub fn load(environment: Option<&str>, keys_dir: &Path, create: bool) -> Result<Self, MasterKeyError> {
        if let Some(encoded) = environment {
            return decode(encoded.trim())
                .map(Self::from_bytes)
                .ok_or(MasterKeyError::InvalidEnvironment("TESSERA_MASTER_KEY"));
        }
        let path = keys_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                warn_if_readable_by_others(&path);
                decode(text.trim()).map(Self::from_bytes).ok_or(MasterKeyError::InvalidFile { path })
            }
            Err(error) if error.kind() == ErrorKind::NotFound && create => Self::create_file(keys_dir, &path),
            Err(error) if error.kind() == ErrorKind::NotFound => Err(MasterKeyError::Missing { path }),
            Err(source) => Err(MasterKeyError::Io { path, source }),
        }
    }

    /// Writes a new key to a temporary file and links it into place, so
    /// another process never reads a half-written key, and the first of two
    /// racing processes wins.
    fn create_file(keys_dir: &Path, path: &Path) -> Result<Self, MasterKeyError> {
        let io_error = |source| MasterKeyError::Io { path: path.to_owned(), source };
        std::fs::create_dir_all(keys_dir).map_err(io_error)?;
        let key = Self::generate();
        let temporary = keys_dir.join(format!(".{MASTER_KEY_FILE}.{}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io_error)?;
        let mut text = STANDARD.encode(key.bytes);
        text.push('\n');
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_error)?;
        let linked = std::fs::hard_link(&temporary, path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), key.id = %key.id, "created a new master key");
                Ok(key)
            }
            // Another process created it first: use that one.
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Self::load(None, keys_dir, false),
            Err(source) => Err(io_error(source)),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext` with AES-256-GCM. The kid is bound as associated
    /// data, so a sealed key copied onto another row does not unseal.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce).map_err(|error| MasterKeyError::Seal(error.to_string()))?;
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.bytes,
            Some(&nonce),
            kid.as_bytes(),
            plaintext,
            &mut tag,
        )
        .map_err(|error| MasterKeyError::Seal(error.to_string()))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len() + TAG_LEN);
        sealed.push(SEAL_FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed.extend_from_slice(&tag);
        Ok(sealed)
    }

    /// Decrypts a blob made by `seal` for the same kid.
    pub fn open(&self, kid: &str, sealed_by: &str, sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed_by != self.id {
            return Err(MasterKeyError::WrongKey {
                kid: kid.to_owned(),
                sealed_by: sealed_by.to_owned(),
                loaded: self.id.clone(),
            });
        }
        let corrupt = || MasterKeyError::Corrupt { kid: kid.to_owned() };
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEAL_FORMAT_V1 {
            return Err(corrupt());
        }
        let (nonce, rest) = sealed[1..].split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(Cipher::aes_256_gcm(), &self.bytes, Some(nonce), kid.as_bytes(), ciphertext, tag)
            .map_err(|_| corrupt())
    }

}

fn decode(encoded: &str) -> Option<[u8; KEY_LEN]> {
    STANDARD.decode(encoded).ok()?.try_into().ok()
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the master key file is readable by group or others; run chmod 600 on it"
        );
    }
}

/// The current master key, and the previous one while a rotation is under
/// way.
#[derive(Debug)]
pub struct MasterKeys {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl MasterKeys {
    pub fn new(current: MasterKey, previous: Option<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// Loads the current key as `MasterKey::load` does, and the previous one
    /// from `previous_environment` or `previous-master.key` when either
    /// exists.
    pub fn load(
        environment: Option<&str>,
        previous_environment: Option<&str>,
        keys_dir: &Path,
        create: bool,
    ) -> Result<Self, MasterKeyError> {
        let current = MasterKey::load(environment, keys_dir, create)?;
        let previous = match previous_environment {
            Some(encoded) => Some(
                decode(encoded.trim())
                    .map(MasterKey::from_bytes)
                    .ok_or(MasterKeyError::InvalidEnvironment("TESSERA_PREVIOUS_MASTER_KEY"))?,
            ),
            None => {
                let path = keys_dir.join(PREVIOUS_MASTER_KEY_FILE);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Some(
                        decode(text.trim())
                            .map(MasterKey::from_bytes)
                            .ok_or(MasterKeyError::InvalidFile { path })?,
                    ),
                    Err(error) if error.kind() == ErrorKind::NotFound => None,
                    Err(source) => return Err(MasterKeyError::Io { path, source }),
                }
            }
        };
        let previous = previous.filter(|previous| previous.id != current.id);
        Ok(Self { current, previous })
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    pub fn previous(&self) -> Option<&MasterKey> {
        self.previous.as_ref()
    }

    /// Opens a blob with whichever loaded key sealed it.
    pub fn open(&self, kid: &str, sealed_by: &str, sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        match &self.previous {
            Some(previous) if previous.id == sealed_by => previous.open(kid, sealed_by, sealed),
            _ => self.current.open(kid, sealed_by, sealed).map_err(|error| match error {
                MasterKeyError::WrongKey { kid, sealed_by, .. } => MasterKeyError::WrongKey {
                    kid,
                    sealed_by,
                    loaded: self.loaded_ids(),
                },
                other => other,
            }),
        }
    }

    fn loaded_ids(&self) -> String {
        match &self.previous {
            Some(previous) => format!("{} (current) and {} (previous)", self.current.id, previous.id),
            None => format!("{} (current)", self.current.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_for_its_kid() {
        let key = MasterKey::generate();
        let sealed = key.seal("kid-1", b"private").unwrap();
        assert_eq!(key.open("kid-1", key.id(), &sealed).unwrap(), b"private");
        assert!(matches!(key.open("kid-2", key.id(), &sealed), Err(MasterKeyError::Corrupt { .. })));
    }

    #[test]
    fn sealed_key_rejects_other_master_key() {
        let first = MasterKey::generate();
        let second = MasterKey::generate();
        let sealed = first.seal("kid", b"private").unwrap();
        assert!(matches!(second.open("kid", first.id(), &sealed), Err(MasterKeyError::WrongKey { .. })));
        assert!(matches!(second.open("kid", second.id(), &sealed), Err(MasterKeyError::Corrupt { .. })));
    }

    #[test]
    fn key_file_is_created_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(MasterKey::load(None, dir.path(), false), Err(MasterKeyError::Missing { .. })));
        let created = MasterKey::load(None, dir.path(), true).unwrap();
        let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = MasterKey::load(None, dir.path(), false).unwrap();
        assert_eq!(created.id(), loaded.id());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");
    }

    #[test]
    fn previous_key_opens_what_it_sealed() {
        let old = MasterKey::generate();
        let sealed = old.seal("kid", b"private").unwrap();
        let old_id = old.id().to_owned();
        let keys = MasterKeys::new(MasterKey::generate(), Some(old));
        assert_eq!(keys.open("kid", &old_id, &sealed).unwrap(), b"private");
        let without_previous = MasterKeys::new(MasterKey::generate(), None);
        assert!(matches!(without_previous.open("kid", &old_id, &sealed), Err(MasterKeyError::WrongKey { .. })));
    }

    #[test]
    fn environment_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            MasterKey::load(Some("c2hvcnQ="), dir.path(), true),
            Err(MasterKeyError::InvalidEnvironment(_))
        ));
        let good = STANDARD.encode([7u8; 32]);
        assert!(MasterKey::load(Some(&good), dir.path(), false).is_ok());
    }
}
