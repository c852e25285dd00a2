//! Key lifecycle changes: staged and forced rotation, promotion,
//! revocation, import of existing keys, and re-sealing under a new master
//! key.
//!
//! Timing, from the settings: a staged key is published for
//! `key_staging_delay` before it signs, which is at least one JWKS cache
//! lifetime (max-age plus stale-while-revalidate) plus one ring refresh
//! plus the clock skew, so every verifier that follows the cache headers
//! has already fetched its kid. A key that stops signing stays published for
//! `retirement_grace()`, until every token it signed has expired.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::Issuer;
use super::keys::KeyServiceError;
use crate::keys::{self, Algorithm, GeneratedKey, KeyState, MasterKey, StoredKey};
use crate::store::{StoreError, sealed_secrets, signing_keys};

/// The outcome of a rotation, as the admin API and CLI report it.
#[derive(Debug, Serialize)]
pub struct Rotation {
    pub kid: String,
    pub alg: Algorithm,
    pub state: &'static str,
    /// For a staged rotation: when the new key starts signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_after: Option<DateTime<Utc>>,
    /// For an immediate rotation: the key that stopped signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<RetiringKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct RetiringKey {
    pub kid: String,
    pub state: &'static str,
    /// When the key leaves the JWKS: the last token it signed has expired
    /// and the clock-skew allowance has passed.
    pub retire_after: DateTime<Utc>,
}

/// The outcome of a revocation.
#[derive(Debug, Serialize)]
pub struct Revocation {
    pub kid: String,
    pub state: &'static str,
    pub previous_state: &'static str,
    /// The key that signs in place of the revoked one, if it was active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

/// Sent with a forced rotation, which skips the staging delay.
const FORCED_WARNING: &str = "the new key signs at once: verifiers whose cached JWKS predates it reject its tokens until they refetch the JWKS";

impl Issuer {
    fn retire_after(&self, now: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
        now + TimeDelta::seconds(i64::from(self.settings.retirement_grace()))
    }

    /// Seals a generated or imported key into a row in `state`.
    fn seal_key(&self, key: GeneratedKey, state: KeyState) -> Result<StoredKey, KeyServiceError> {
        let master_key = self.master_keys.current();
        let sealed = master_key.seal(&key.kid, &key.private_jwk)?;
        let now = self.now();
        let promote_after = (state == KeyState::Pending)
            .then(|| now + TimeDelta::seconds(i64::from(self.settings.key_staging_delay)));
        Ok(StoredKey {
            kid: key.kid,
            alg: key.alg,
            state,
            sealed_private_key: sealed,
            master_key_id: master_key.id().to_owned(),
            public_jwk: key.public_jwk.to_string(),
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retire_after: None,
            retired_at: None,
            promote_after,
            revoked_at: None,
        })
    }

    /// Generates a key on a blocking thread (RSA generation takes a
    /// noticeable fraction of a second) and seals it.
    async fn new_key(&self, alg: Algorithm, state: KeyState) -> Result<StoredKey, KeyServiceError> {
        let generated = tokio::task::spawn_blocking(move || keys::generate(alg))
            .await
            .map_err(|error| StoreError::Unavailable(format!("key generation task failed: {error}")))??;
        self.seal_key(generated, state)
    }

    /// Starts a rotation of `alg`. Staged (the default): a new pending key
    /// is published now and signs after the staging delay. Forced: a key
    /// signs at once, the staged one if there is one, else a new one.
    pub async fn rotate(&self, alg: Algorithm, force: bool, actor: &str) -> Result<Rotation, KeyServiceError> {
        self.require_enabled(alg)?;
        let rotation = if force { self.force_rotation(alg, actor).await? } else { self.stage_rotation(alg, actor).await? };
        self.reload_ring().await?;
        Ok(rotation)
    }

    /// Publishes a new pending key for `alg`.
    pub(super) async fn stage_rotation(&self, alg: Algorithm, actor: &str) -> Result<Rotation, KeyServiceError> {
        let key = self.new_key(alg, KeyState::Pending).await?;
        let (kid, promote_after) = (key.kid.clone(), key.promote_after);
        let actor_owned = actor.to_owned();
        match self.db.run(move |conn| signing_keys::insert(conn, &key, &actor_owned)).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(self.already_staged(alg).await),
            Err(error) => return Err(error.into()),
        }
        tracing::info!(key.kid = %kid, key.alg = %alg, actor, "staged a signing key rotation");
        Ok(Rotation {
            kid,
            alg,
            state: KeyState::Pending.as_str(),
            promote_after: promote_after.map(|at| at.and_utc()),
            previous: None,
            warning: None,
        })
    }

    async fn already_staged(&self, alg: Algorithm) -> KeyServiceError {
        match self.db.run(move |conn| signing_keys::find_pending(conn, alg)).await {
            Ok(Some(pending)) => KeyServiceError::AlreadyStaged {
                alg,
                kid: pending.kid,
                promote_after: pending
                    .promote_after
                    .unwrap_or(pending.created_at)
                    .and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
            Ok(None) => KeyServiceError::Concurrent(alg),
            Err(error) => error.into(),
        }
    }

    async fn force_rotation(&self, alg: Algorithm, actor: &str) -> Result<Rotation, KeyServiceError> {
        let pending = self.db.run(move |conn| signing_keys::find_pending(conn, alg)).await?;
        let (kid, previous) = match pending {
            Some(pending) => {
                let previous = self.promote(alg, &pending.kid, actor).await?;
                (pending.kid, previous)
            }
            None => self.activate_new_key(alg, actor).await?,
        };
        Ok(Rotation {
            kid,
            alg,
            state: KeyState::Active.as_str(),
            promote_after: None,
            previous,
            warning: Some(FORCED_WARNING),
        })
    }

    /// Makes the pending key `kid` active and retires the previous one.
    /// Returns the retiring key, if there was an active one.
    pub(super) async fn promote(&self, alg: Algorithm, kid: &str, actor: &str) -> Result<Option<RetiringKey>, KeyServiceError> {
        let now = self.now();
        let retire_after = self.retire_after(now);
        let (kid_owned, actor_owned) = (kid.to_owned(), actor.to_owned());
        let activation = match self
            .db
            .run(move |conn| signing_keys::promote(conn, alg, &kid_owned, retire_after, &actor_owned, now))
            .await
        {
            Ok(Some(activation)) => activation,
            Ok(None) | Err(StoreError::Conflict(_)) => return Err(KeyServiceError::Concurrent(alg)),
            Err(error) => return Err(error.into()),
        };
        tracing::info!(
            key.kid = %activation.activated,
            key.alg = %alg,
            key.previous = activation.retiring.as_deref().unwrap_or(""),
            actor,
            "promoted a pending key: it signs from now on"
        );
        Ok(retiring_key(activation.retiring, retire_after))
    }

    /// Generates the key of an algorithm that has no active key. The insert
    /// fails on the one-active index if another instance created one first,
    /// so instances starting together never retire each other's first key.
    pub(super) async fn create_first_key(&self, alg: Algorithm, actor: &str) -> Result<String, KeyServiceError> {
        let key = self.new_key(alg, KeyState::Active).await?;
        let kid = key.kid.clone();
        let actor_owned = actor.to_owned();
        match self.db.run(move |conn| signing_keys::insert(conn, &key, &actor_owned)).await {
            Ok(()) => Ok(kid),
            Err(StoreError::Conflict(_)) => Err(KeyServiceError::Concurrent(alg)),
            Err(error) => Err(error.into()),
        }
    }

    /// Generates a key and makes it active at once. Returns its kid and the
    /// key it replaced.
    pub(super) async fn activate_new_key(
        &self,
        alg: Algorithm,
        actor: &str,
    ) -> Result<(String, Option<RetiringKey>), KeyServiceError> {
        let key = self.new_key(alg, KeyState::Active).await?;
        let retire_after = self.retire_after(key.created_at);
        let actor_owned = actor.to_owned();
        match self.db.run(move |conn| signing_keys::activate_new(conn, &key, retire_after, &actor_owned)).await {
            Ok(activation) => {
                tracing::info!(key.kid = %activation.activated, key.alg = %alg, actor, "activated a new signing key at once");
                Ok((activation.activated, retiring_key(activation.retiring, retire_after)))
            }
            Err(StoreError::Conflict(_)) => Err(KeyServiceError::Concurrent(alg)),
            Err(error) => Err(error.into()),
        }
    }

    /// Revokes `kid`: it leaves the JWKS (on this instance at once, on the
    /// others at their next reload) and no token it signed is accepted. If
    /// it was the active key of an enabled algorithm, the pending key of
    /// that algorithm takes over, or a new key when none is staged.
    pub async fn revoke(&self, kid: &str, actor: &str) -> Result<Revocation, KeyServiceError> {
        let kid_owned = kid.to_owned();
        let Some(key) = self.db.run(move |conn| signing_keys::find(conn, &kid_owned)).await? else {
            return Err(KeyServiceError::NotFound(kid.to_owned()));
        };
        // Generated before the transaction, since RSA generation is slow, and
        // whatever state was read here: the transaction decides on the state
        // it reads, which may have changed since.
        let enabled = self.settings.enabled_algs().contains(&key.alg);
        let replacement = if enabled { Some(self.new_key(key.alg, KeyState::Active).await?) } else { None };
        let now = self.now();
        let replacement = replacement.map(|mut key| {
            key.created_at = now;
            key.activated_at = Some(now);
            key
        });
        let (kid_owned, actor_owned) = (kid.to_owned(), actor.to_owned());
        let outcome = self
            .db
            .run(move |conn| {
                signing_keys::revoke(conn, &kid_owned, &actor_owned, now, |conn, alg| {
                    if let Some(pending) = signing_keys::find_pending(conn, alg)?
                        && signing_keys::activate_pending_in(conn, &pending.kid, &actor_owned, now)?
                    {
                        return Ok(Some(pending.kid));
                    }
                    match replacement {
                        // Fails on the one-active index if another change
                        // activated a key meanwhile, rolling the whole
                        // revocation back.
                        Some(key) => {
                            signing_keys::insert_in(conn, &key, &actor_owned)?;
                            Ok(Some(key.kid))
                        }
                        None => Ok(None),
                    }
                })
            })
            .await;
        let (previous_state, replaced_by) = match outcome {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return Err(KeyServiceError::NotFound(kid.to_owned())),
            Err(StoreError::Conflict(_)) => return Err(KeyServiceError::Concurrent(key.alg)),
            Err(error) => return Err(error.into()),
        };
        tracing::warn!(key.kid = %kid, key.alg = %key.alg, key.replaced_by = replaced_by.as_deref().unwrap_or(""), actor, "revoked a signing key");
        self.reload_ring().await?;
        Ok(Revocation {
            kid: kid.to_owned(),
            state: KeyState::Revoked.as_str(),
            previous_state: previous_state.as_str(),
            replaced_by,
        })
    }

    /// Imports an existing private key (PEM). It is staged as pending, or
    /// made active at once with `activate`, which suits a key that verifiers
    /// already know from a previous issuer.
    pub async fn import_key(
        &self,
        pem: Vec<u8>,
        alg: Option<Algorithm>,
        kid: Option<String>,
        activate: bool,
        actor: &str,
    ) -> Result<StoredKey, KeyServiceError> {
        let imported = tokio::task::spawn_blocking(move || keys::import_pem(&pem, alg, kid))
            .await
            .map_err(|error| StoreError::Unavailable(format!("key import task failed: {error}")))??;
        let alg = imported.alg;
        self.require_enabled(alg)?;
        // The same key material under another kid, or brought back after a
        // revocation, would let a compromised key sign again.
        let thumbprint = keys::public_thumbprint(&imported.public_jwk.to_string());
        let stored = self.db.run(signing_keys::list).await?;
        if let Some(twin) = stored.iter().find(|key| keys::public_thumbprint(&key.public_jwk) == thumbprint) {
            return Err(KeyServiceError::Invalid(format!(
                "this key is already stored as kid {} ({}); a key is imported once, and a revoked key never again",
                twin.kid, twin.state
            )));
        }
        let state = if activate { KeyState::Active } else { KeyState::Pending };
        let key = self.seal_key(imported, state)?;
        let stored = key.clone();
        let retire_after = self.retire_after(key.created_at);
        let actor_owned = actor.to_owned();
        let kid = key.kid.clone();
        let result = if activate {
            self.db.run(move |conn| signing_keys::activate_new(conn, &key, retire_after, &actor_owned).map(drop)).await
        } else {
            self.db.run(move |conn| signing_keys::insert(conn, &key, &actor_owned)).await
        };
        match result {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) if activate => {
                return Err(KeyServiceError::Invalid(format!("cannot import {kid}: a key with this kid exists")));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(KeyServiceError::Invalid(format!(
                    "cannot import {kid}: a key with this kid exists, or a rotation for {alg} is already staged (only one key per algorithm can be pending)"
                )));
            }
            Err(error) => return Err(error.into()),
        }
        tracing::info!(key.kid = %kid, key.alg = %alg, key.state = %state, actor, "imported a signing key");
        self.reload_ring().await?;
        Ok(stored)
    }

    /// Re-seals every private key and shared secret sealed by the previous
    /// master key under the current one. Returns how many rows changed.
    /// Servers keep running meanwhile: they hold both keys.
    pub async fn rewrap(&self) -> Result<usize, KeyServiceError> {
        let Some(previous) = self.master_keys.previous() else {
            return Err(KeyServiceError::Invalid(
                "no previous master key differing from the current one is loaded: set TESSERA_PREVIOUS_MASTER_KEY or put it in previous-master.key".into(),
            ));
        };
        let previous_id = previous.id().to_owned();
        let master_keys = self.master_keys.clone();
        let changed = self
            .db
            .run(move |conn| {
                let current: &MasterKey = master_keys.current();
                let mut changed = 0;
                for key in signing_keys::list(conn)?.into_iter().filter(|key| key.master_key_id == previous_id) {
                    let private = master_keys.open(&key.kid, &key.master_key_id, &key.sealed_private_key).map_err(seal_failure)?;
                    let sealed = current.seal(&key.kid, &private).map_err(seal_failure)?;
                    changed += usize::from(signing_keys::reseal(conn, &key.kid, &previous_id, &sealed, current.id())?);
                }
                for secret in sealed_secrets::list(conn)?.into_iter().filter(|s| s.master_key_id == previous_id) {
                    let value = master_keys.open(&secret.name, &secret.master_key_id, &secret.sealed_value).map_err(seal_failure)?;
                    let sealed = current.seal(&secret.name, &value).map_err(seal_failure)?;
                    changed += usize::from(sealed_secrets::reseal(conn, &secret.name, &previous_id, &sealed, current.id())?);
                }
                Ok(changed)
            })
            .await?;
        tracing::info!(count = changed, key.id = %self.master_keys.current().id(), "re-sealed stored keys under the current master key");
        Ok(changed)
    }
}

fn retiring_key(kid: Option<String>, retire_after: chrono::NaiveDateTime) -> Option<RetiringKey> {
    kid.map(|kid| RetiringKey {
        kid,
        state: KeyState::Retiring.as_str(),
        retire_after: retire_after.and_utc(),
    })
}

fn seal_failure(error: keys::MasterKeyError) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(error.to_string().into())
}
