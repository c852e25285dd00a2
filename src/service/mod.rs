//! The issuer's operations, between the HTTP layer and storage: token
//! grants, key rotation and account management. Each takes parsed input and
//! returns a protocol result; none sees an HTTP request.

pub mod accounts;
mod hash_pool;
pub mod keys;
pub mod token;

use std::sync::Arc;

use crate::config::Settings;
use crate::credentials::SecretHashKey;
use crate::keys::{KeyRing, MasterKey, MasterKeyError};
use crate::store::{self, Db, StoreError};

pub use hash_pool::{Busy, HashPool};

/// Label of the key derived from the master key for client-secret HMACs.
const CLIENT_SECRET_KEY_PURPOSE: &str = "tessera client secret hmac v1";

/// Why the issuer could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Database(String),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("cannot prepare signing keys: {0}")]
    Keys(String),
}

impl From<StoreError> for StartError {
    fn from(error: StoreError) -> Self {
        Self::Database(error.to_string())
    }
}

/// Everything the issuer's operations share. Cheap to clone.
#[derive(Clone)]
pub struct Issuer {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub ring: Arc<KeyRing>,
    master_key: Arc<MasterKey>,
    secret_key: SecretHashKey,
    hash_pool: HashPool,
}

impl Issuer {
    /// Opens the database, runs pending migrations and loads the master key.
    /// The key ring starts empty; `keys::prepare` fills it.
    pub fn open(settings: Settings) -> Result<Self, StartError> {
        let pool = store::build_pool(&settings.database_url, settings.db_pool_size).map_err(StartError::Database)?;
        let db = Db::new(pool);
        let migrated = store::run_migrations(&mut *db.connection()?).map_err(StartError::Database)?;
        if migrated > 0 {
            tracing::info!(count = migrated, "applied database migrations");
        }
        let environment_key = settings.master_key.as_ref().map(|key| key.0.as_str());
        let master_key = MasterKey::load(environment_key, &settings.keys_dir)?;
        let secret_key = SecretHashKey::new(master_key.derive(CLIENT_SECRET_KEY_PURPOSE));
        let hash_pool = HashPool::new(settings.hash_workers, settings.hash_queue);
        Ok(Self {
            settings: Arc::new(settings),
            db,
            ring: Arc::new(KeyRing::new()),
            master_key: Arc::new(master_key),
            secret_key,
            hash_pool,
        })
    }
}
