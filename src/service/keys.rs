//! Key rotation and the key ring's refresh from the database.
//!
//! Every instance reloads the published keys every `key_refresh_interval`
//! seconds, so a rotation made through one instance or the CLI reaches all
//! instances sharing the database within that delay. The partial unique
//! index on `signing_keys` keeps one active key per algorithm however many
//! instances start or rotate at once.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::{Issuer, StartError};
use crate::keys::{self, Algorithm, KeyState, StoredKey};
use crate::store::{self, StoreError, signing_keys};

#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Seal(#[from] keys::MasterKeyError),
    #[error("another rotation for {0} finished first; retry")]
    ConcurrentRotation(Algorithm),
}

/// The result of a rotation, as the admin API and CLI report it.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub kid: String,
    pub alg: Algorithm,
    pub state: &'static str,
    pub previous: Option<RetiringKey>,
}

#[derive(Debug, Serialize)]
pub struct RetiringKey {
    pub kid: String,
    pub state: &'static str,
    /// When the key leaves the JWKS: the last token it signed has expired
    /// and the clock-skew allowance has passed.
    pub retire_after: DateTime<Utc>,
}

impl Issuer {
    /// Makes sure the configured algorithm has an active key and loads the
    /// ring. Run once at start, before serving.
    pub async fn prepare_keys(&self) -> Result<(), StartError> {
        let alg = self.settings.signing_alg;
        let has_active = self
            .db
            .run(move |conn| Ok(signing_keys::list(conn)?.iter().any(|k| k.alg == alg && k.state == KeyState::Active)))
            .await?;
        if !has_active {
            match self.create_active_key(alg).await {
                Ok(kid) => tracing::info!(key.kid = %kid, key.alg = %alg, "generated the first signing key"),
                // Another instance created one at the same moment.
                Err(KeyServiceError::ConcurrentRotation(_)) => {}
                Err(error) => return Err(StartError::Keys(error.to_string())),
            }
        }
        self.reload_ring().await.map_err(|error| StartError::Keys(error.to_string()))?;
        if self.ring.signer(alg).is_none() {
            return Err(StartError::Keys(format!("no active {alg} key could be loaded")));
        }
        Ok(())
    }

    async fn create_active_key(&self, alg: Algorithm) -> Result<String, KeyServiceError> {
        let key = self.new_sealed_key(alg).await?;
        let kid = key.kid.clone();
        match self.db.run(move |conn| signing_keys::insert(conn, &key)).await {
            Ok(()) => Ok(kid),
            Err(StoreError::Conflict(_)) => Err(KeyServiceError::ConcurrentRotation(alg)),
            Err(error) => Err(error.into()),
        }
    }

    /// Generates and seals a key on a blocking thread (RSA generation takes
    /// a noticeable fraction of a second).
    async fn new_sealed_key(&self, alg: Algorithm) -> Result<StoredKey, KeyServiceError> {
        let master_key = self.master_key.clone();
        let generated = tokio::task::spawn_blocking(move || -> Result<StoredKey, KeyServiceError> {
            let generated = keys::generate(alg)?;
            let sealed = master_key.seal(&generated.kid, &generated.private_jwk)?;
            let now = store::now();
            Ok(StoredKey {
                kid: generated.kid,
                alg,
                state: KeyState::Active,
                sealed_private_key: sealed,
                master_key_id: master_key.id().to_owned(),
                public_jwk: generated.public_jwk.to_string(),
                created_at: now,
                activated_at: Some(now),
                retire_after: None,
                retired_at: None,
            })
        })
        .await
        .map_err(|error| StoreError::Unavailable(format!("key generation task failed: {error}")))?;
        generated
    }

    /// Makes a fresh key the signing key for `alg`. The previous key keeps
    /// verifying: it stays in the JWKS until its tokens have expired.
    pub async fn rotate(&self, alg: Algorithm) -> Result<Rotation, KeyServiceError> {
        let key = self.new_sealed_key(alg).await?;
        let kid = key.kid.clone();
        let retire_after = key.created_at + TimeDelta::seconds(i64::from(self.settings.retirement_grace()));
        let previous = match self.db.run(move |conn| signing_keys::rotate(conn, &key, retire_after)).await {
            Ok(previous) => previous,
            Err(StoreError::Conflict(_)) => return Err(KeyServiceError::ConcurrentRotation(alg)),
            Err(error) => return Err(error.into()),
        };
        tracing::info!(key.kid = %kid, key.alg = %alg, key.previous = previous.as_deref().unwrap_or(""), "rotated the signing key");
        self.reload_ring().await?;
        Ok(Rotation {
            kid,
            alg,
            state: KeyState::Active.as_str(),
            previous: previous.map(|kid| RetiringKey {
                kid,
                state: KeyState::Retiring.as_str(),
                retire_after: retire_after.and_utc(),
            }),
        })
    }

    /// Lists every stored key, oldest first, without private material.
    pub async fn list_keys(&self) -> Result<Vec<StoredKey>, KeyServiceError> {
        Ok(self.db.run(signing_keys::list).await?)
    }

    /// Retires keys whose grace period has ended and reloads the ring from
    /// the published keys. Returns whether the published set changed.
    pub async fn reload_ring(&self) -> Result<bool, KeyServiceError> {
        let now = store::now();
        let published = self
            .db
            .run(move |conn| {
                signing_keys::retire_expired(conn, now)?;
                signing_keys::list_published(conn, now)
            })
            .await?;
        let master_key = self.master_key.clone();
        let ring = self.ring.clone();
        let changed = tokio::task::spawn_blocking(move || ring.replace(&published, &master_key))
            .await
            .map_err(|error| StoreError::Unavailable(format!("key ring task failed: {error}")))??;
        Ok(changed)
    }

    /// Reloads the ring every `key_refresh_interval` seconds until the
    /// process ends. Failures are logged and retried on the next tick; the
    /// ring keeps serving the last good key set meanwhile.
    pub fn spawn_ring_refresh(&self) -> tokio::task::JoinHandle<()> {
        let issuer = self.clone();
        let period = Duration::from_secs(u64::from(self.settings.key_refresh_interval));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match issuer.reload_ring().await {
                    Ok(true) => tracing::info!("reloaded the key ring: the published keys changed"),
                    Ok(false) => {}
                    Err(error) => tracing::warn!(error = %error, "reloading the key ring failed; serving the previous keys"),
                }
            }
        })
    }
}
