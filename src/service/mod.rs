//! The issuer's operations, between the HTTP layer and storage: token
//! grants, key lifecycle and account management. Each takes parsed input
//! and returns a protocol result; none receives an HTTP request.

pub mod accounts;
pub mod audit;
pub mod clients;
mod hash_pool;
pub mod introspection;
pub mod keys;
mod refresh;
pub mod rotation;
pub mod token;

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::credentials::SecretHashKey;
use crate::keys::{KeyRing, MasterKeyError, MasterKeys};
use crate::store::{self, Db, StoreError, sealed_secrets};

pub use hash_pool::{Busy, HashPool};

/// Name of the sealed secret that keys client-secret HMACs.
const CLIENT_SECRET_KEY_NAME: &str = "client_secret_hmac";

/// Errors that stop the issuer from starting.
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

/// Whether opening may create what is missing: the SQLite file and the
/// master key. Only `serve` and `migrate` create; every other command
/// requires both, so one run from the wrong folder fails instead of sealing
/// keys under a new master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    CreateMissing,
    ExistingOnly,
}

/// Everything the issuer's operations share. Cheap to clone.
#[derive(Clone)]
pub struct Issuer {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    master_keys: Arc<MasterKeys>,
    secret_key: SecretHashKey,
    hash_pool: HashPool,
    ring_reload: Arc<tokio::sync::Mutex<()>>,
    pub audit: audit::AuditLog,
}

impl Issuer {
    /// Opens the database, runs pending migrations and loads the master key.
    /// The key ring starts empty; `prepare_keys` fills it.
    pub fn open(settings: Settings) -> Result<Self, StartError> {
        Self::open_with(settings, Arc::new(SystemClock), OpenMode::CreateMissing)
    }

    /// Like `open`, but fails when the database or the master key does not
    /// exist yet.
    pub fn open_existing(settings: Settings) -> Result<Self, StartError> {
        Self::open_with(settings, Arc::new(SystemClock), OpenMode::ExistingOnly)
    }

    /// Opens with a time source of the caller's choosing (tests use a
    /// manual clock).
    pub fn open_with(settings: Settings, clock: Arc<dyn Clock>, mode: OpenMode) -> Result<Self, StartError> {
        if let store::DatabaseUrl::Sqlite(path) = &settings.database_url
            && mode == OpenMode::ExistingOnly
            && !path.exists()
        {
            return Err(StartError::Database(format!(
                "the SQLite database {} does not exist: run `tessera migrate` or `tessera serve` first, or check TESSERA_DATABASE_URL",
                path.display()
            )));
        }
        let pool = store::build_pool(&settings.database_url, settings.db_pool_size).map_err(StartError::Database)?;
        let db = Db::new(pool);
        let mut connection = db.connection()?;
        let migrated = store::run_migrations(&mut connection).map_err(StartError::Database)?;
        if migrated > 0 {
            tracing::info!(count = migrated, "applied database migrations");
        }
        // A database that already contains sealed data needs the master key
        // that sealed it, so creating a new one would only make a second key.
        let holds_sealed_data = sealed_secrets::find(&mut connection, CLIENT_SECRET_KEY_NAME)
            .map_err(StoreError::from)?
            .is_some();
        let master_keys = MasterKeys::load(
            settings.master_key.as_ref().map(|key| key.0.as_str()),
            settings.previous_master_key.as_ref().map(|key| key.0.as_str()),
            &settings.keys_dir,
            mode == OpenMode::CreateMissing && !holds_sealed_data,
        )?;
        let secret_key = load_secret_key(&mut connection, &master_keys, store::to_stored(clock.now()))?;
        let hash_pool = HashPool::new(settings.hash_workers, settings.hash_queue);
        // Computed here, on a blocking thread, rather than by the first
        // login for an unknown user.
        crate::credentials::dummy_password_hash();
        Ok(Self {
            settings: Arc::new(settings),
            db: db.clone(),
            ring: Arc::new(KeyRing::new()),
            clock,
            master_keys: Arc::new(master_keys),
            secret_key,
            hash_pool,
            ring_reload: Arc::new(tokio::sync::Mutex::new(())),
            audit: audit::AuditLog::start(db.clone()),
        })
    }

    /// Returns the current time, as stored in the database.
    pub fn now(&self) -> NaiveDateTime {
        store::to_stored(self.clock.now())
    }
}

/// Loads the client-secret HMAC key, creating it on first start. An
/// instance that loses the race to create it reads the winner's.
fn load_secret_key(
    connection: &mut store::DbConnection,
    master_keys: &MasterKeys,
    now: NaiveDateTime,
) -> Result<SecretHashKey, StartError> {
    let existing = sealed_secrets::find(connection, CLIENT_SECRET_KEY_NAME).map_err(StoreError::from)?;
    let stored = match existing {
        Some(stored) => stored,
        None => {
            let mut bytes = [0u8; 32];
            openssl::rand::rand_bytes(&mut bytes).map_err(|error| StartError::Keys(error.to_string()))?;
            let current = master_keys.current();
            let candidate = sealed_secrets::SealedSecret {
                name: CLIENT_SECRET_KEY_NAME.to_owned(),
                sealed_value: current.seal(CLIENT_SECRET_KEY_NAME, &bytes)?,
                master_key_id: current.id().to_owned(),
                created_at: now,
            };
            match sealed_secrets::insert(connection, &candidate).map_err(StoreError::from) {
                Ok(()) => candidate,
                Err(StoreError::Conflict(_)) => sealed_secrets::find(connection, CLIENT_SECRET_KEY_NAME)
                    .map_err(StoreError::from)?
                    .ok_or_else(|| StartError::Keys("the client secret key vanished".into()))?,
                Err(error) => return Err(error.into()),
            }
        }
    };
    let bytes = master_keys.open(CLIENT_SECRET_KEY_NAME, &stored.master_key_id, &stored.sealed_value)?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StartError::Keys("the stored client secret key is not 32 bytes".into()))?;
    Ok(SecretHashKey::new(bytes))
}
