//! The key ring's refresh and the key schedule, run by every instance.
//!
//! Every `key_refresh_interval` seconds each instance runs the schedule
//! (promote a due pending key, retire keys past their grace, stage a
//! scheduled rotation) and reloads the published keys. A change made
//! through one instance or the CLI thus reaches every instance sharing the
//! database within that interval. All writes are conditioned on the state
//! they expect and guarded by unique indexes, so instances running the
//! schedule at the same moment cannot stage two keys or activate two.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;

use super::{Issuer, StartError};
use crate::telemetry::LogThrottle;
use crate::keys::{self, Algorithm, KeyState, StoredKey};
use crate::store::{StoreError, signing_keys};

/// The actor recorded for changes the schedule makes.
pub const SCHEDULER: &str = "scheduler";

#[derive(Debug, thiserror::Error)]
pub enum KeyServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    #[error(transparent)]
    Seal(#[from] keys::MasterKeyError),
    #[error("another change to the {0} keys finished first; retry")]
    Concurrent(Algorithm),
    #[error("{0} is not enabled: add it to signing_alg or additional_algs")]
    NotEnabled(Algorithm),
    #[error("a rotation for {alg} is already staged: key {kid} becomes active at {promote_after}")]
    AlreadyStaged { alg: Algorithm, kid: String, promote_after: String },
    #[error("no key with kid {0:?}, or it is already revoked")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

/// One key as the admin API and CLI show it: no private material.
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub kid: String,
    pub alg: Algorithm,
    pub state: &'static str,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub promote_after: Option<DateTime<Utc>>,
    pub retire_after: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&StoredKey> for KeyView {
    fn from(key: &StoredKey) -> Self {
        let utc = |time: Option<NaiveDateTime>| time.map(|t| t.and_utc());
        Self {
            kid: key.kid.clone(),
            alg: key.alg,
            state: key.state.as_str(),
            created_at: key.created_at.and_utc(),
            activated_at: utc(key.activated_at),
            promote_after: utc(key.promote_after),
            retire_after: utc(key.retire_after),
            retired_at: utc(key.retired_at),
            revoked_at: utc(key.revoked_at),
        }
    }
}

impl Issuer {
    /// Runs the key schedule once, so every enabled algorithm has an active
    /// key, and loads the ring. Run at start, before serving.
    pub async fn prepare_keys(&self) -> Result<(), StartError> {
        self.run_key_schedule("startup").await.map_err(|error| StartError::Keys(error.to_string()))?;
        let alg = self.settings.signing_alg;
        if self.ring.signer(alg).is_none() {
            return Err(StartError::Keys(format!("no active {alg} key could be loaded")));
        }
        Ok(())
    }

    /// Brings the stored keys up to date at the clock's current time, then
    /// reloads the ring. `actor` is recorded for keys created because an
    /// algorithm had none.
    pub async fn run_key_schedule(&self, actor: &str) -> Result<(), KeyServiceError> {
        let scheduled = self.schedule_keys(actor).await;
        // The ring is reloaded even when a step failed, so this instance
        // still follows the database (a revocation, a promotion elsewhere).
        let reloaded = self.reload_ring().await;
        scheduled.and(reloaded.map(drop))
    }

    async fn schedule_keys(&self, actor: &str) -> Result<(), KeyServiceError> {
        let now = self.now();
        let retired = self
            .db
            .run(move |conn| signing_keys::retire_expired(conn, now, SCHEDULER))
            .await?;
        for kid in retired {
            tracing::info!(key.kid = %kid, "retired a signing key: its tokens have expired");
        }
        self.db.run(move |conn| crate::store::client_assertions::delete_expired(conn, now)).await?;
        // Read once, before this run creates keys: on a new deployment no
        // verifier knows any key yet, so every algorithm's first key may
        // sign at once.
        let deployment_is_new = self.db.run(|conn| Ok(signing_keys::list(conn)?.is_empty())).await?;
        for alg in self.settings.enabled_algs() {
            match self.schedule_algorithm(alg, now, actor, deployment_is_new).await {
                // Another instance made the same change: nothing to do.
                Ok(()) | Err(KeyServiceError::Concurrent(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    async fn schedule_algorithm(
        &self,
        alg: Algorithm,
        now: NaiveDateTime,
        actor: &str,
        deployment_is_new: bool,
    ) -> Result<(), KeyServiceError> {
        let (active, pending) = self
            .db
            .run(move |conn| Ok((signing_keys::find_active(conn, alg)?, signing_keys::find_pending(conn, alg)?)))
            .await?;

        if let Some(pending) = &pending {
            let due = pending.promote_after.is_none_or(|at| at <= now);
            // Without an active key nothing signs access tokens, so the
            // staged key is promoted early; other algorithms wait.
            let nothing_signs = active.is_none() && alg == self.settings.signing_alg;
            if due || nothing_signs {
                self.promote(alg, &pending.kid, SCHEDULER).await?;
                return Ok(());
            }
        }
        let Some(active) = active else {
            if pending.is_some() {
                // A newly enabled additional algorithm waits for its
                // staged key.
                return Ok(());
            }
            // The access-token algorithm must sign at once. An additional
            // algorithm newly enabled on a running deployment is staged
            // like any rotation, so verifiers know its key before it signs.
            if alg == self.settings.signing_alg || deployment_is_new {
                let kid = self.create_first_key(alg, actor).await?;
                tracing::info!(key.kid = %kid, key.alg = %alg, "generated a signing key: the algorithm had none");
            } else {
                match self.stage_rotation(alg, actor).await {
                    Ok(staged) => {
                        tracing::info!(key.kid = %staged.kid, key.alg = %alg, "staged the first key of a newly enabled algorithm");
                    }
                    // Another instance staged it first.
                    Err(KeyServiceError::AlreadyStaged { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            return Ok(());
        };
        let interval = self.settings.key_rotation_interval;
        let since = active.activated_at.unwrap_or(active.created_at);
        if pending.is_none() && interval > 0 && since + TimeDelta::seconds(i64::from(interval)) <= now {
            match self.stage_rotation(alg, SCHEDULER).await {
                Ok(view) => tracing::info!(key.kid = %view.kid, key.alg = %alg, "staged a scheduled rotation"),
                Err(KeyServiceError::AlreadyStaged { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Lists every stored key, oldest first, without private material.
    pub async fn list_keys(&self) -> Result<Vec<StoredKey>, KeyServiceError> {
        Ok(self.db.run(signing_keys::list).await?)
    }

    /// Reloads the ring from the keys published at the clock's current
    /// time. Returns whether the published set changed.
    pub async fn reload_ring(&self) -> Result<bool, KeyServiceError> {
        // One reload at a time, so an older read never overwrites a newer
        // ring.
        let _reloading = self.ring_reload.lock().await;
        let now = self.now();
        let published = self.db.run(move |conn| signing_keys::list_published(conn, now)).await?;
        let master_keys = self.master_keys.clone();
        let ring = self.ring.clone();
        let replacement = tokio::task::spawn_blocking(move || ring.replace(&published, &master_keys))
            .await
            .map_err(|error| StoreError::Unavailable(format!("key ring task failed: {error}")))?;
        if replacement.changed {
            tracing::info!("reloaded the key ring: the published keys changed");
        }
        match replacement.problems.into_iter().next() {
            // The ring follows the database without the key in question;
            // the caller logs the problem.
            Some(problem) => Err(problem.into()),
            None => Ok(replacement.changed),
        }
    }

    /// Runs the schedule every `key_refresh_interval` seconds until the
    /// process ends. Failures are logged and retried on the next tick; the
    /// ring keeps serving the last good key set meanwhile.
    pub fn spawn_key_schedule(&self) -> tokio::task::JoinHandle<()> {
        let issuer = self.clone();
        let period = Duration::from_secs(u64::from(self.settings.key_refresh_interval));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            // A database outage fails every tick: log it once a minute.
            let throttle = LogThrottle::new(60);
            loop {
                ticker.tick().await;
                if let Err(error) = issuer.run_key_schedule(SCHEDULER).await
                    && let Some(held_back) = throttle.permit()
                {
                    tracing::warn!(error = %error, repeats = held_back, "the key schedule failed; serving the previous keys");
                }
            }
        })
    }

    /// Checks that `alg` has a key ring in this configuration.
    pub(super) fn require_enabled(&self, alg: Algorithm) -> Result<(), KeyServiceError> {
        if self.settings.enabled_algs().contains(&alg) { Ok(()) } else { Err(KeyServiceError::NotEnabled(alg)) }
    }

    /// The state of one key, for checks that must not wait for a ring
    /// reload (a revoked key is rejected on every instance at once).
    pub async fn key_state(&self, kid: &str) -> Result<Option<KeyState>, StoreError> {
        let kid = kid.to_owned();
        self.db.run(move |conn| signing_keys::state_of(conn, &kid)).await
    }
}
