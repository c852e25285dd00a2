//! Storage: the schema, the queries and the pool, in one place.
//!
//! Query functions take a `&mut DbConnection` and return diesel's
//! `QueryResult`, so they compose inside one transaction. `Db` runs them on
//! tokio's blocking pool, because diesel and r2d2 block the calling thread.

pub mod audit;
pub mod client_assertions;
pub mod clients;
mod connection;
pub mod schema;
pub mod refresh_tokens;
pub mod sealed_secrets;
pub mod signing_keys;
pub mod users;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use tracing::Instrument;

pub use connection::{
    DatabaseUrl, DbConnection, Pool, PooledConnection, build_pool, redact_password, run_migrations,
};

/// Storage failures, sorted by the response the caller should send.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time, or the server went away.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint rejected the write.
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(DieselError),
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            // Returned by a transaction that found its expected state
            // changed by a concurrent one.
            DieselError::RollbackTransaction => Self::Conflict("a concurrent change won".into()),
            // Lock contention that outlasted SQLite's busy_timeout or
            // PostgreSQL's lock_timeout, or a query over statement_timeout:
            // the request may be retried.
            DieselError::DatabaseError(_, ref info)
                if ["database is locked", "lock timeout", "statement timeout"]
                    .iter()
                    .any(|text| info.message().contains(text)) =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

/// A cloneable handle that runs storage work off the async threads.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Runs `work` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, DieselError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let task = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut connection = pool
                .get()
                .map_err(|error| StoreError::Unavailable(error.to_string()))?;
            work(&mut connection).map_err(StoreError::from)
        });
        match task.in_current_span().await {
            Ok(result) => result,
            Err(join_error) => Err(StoreError::Unavailable(format!(
                "storage task failed: {join_error}"
            ))),
        }
    }

    /// Takes a connection on the calling thread, for the CLI and start-up.
    pub fn connection(&self) -> Result<PooledConnection, StoreError> {
        self.pool
            .get()
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }
}

/// The current time as stored: UTC, truncated to microseconds, which is what
/// PostgreSQL keeps, so values read back compare equal on both backends.
pub fn now() -> NaiveDateTime {
    to_stored(Utc::now())
}

pub fn to_stored(time: DateTime<Utc>) -> NaiveDateTime {
    let naive = time.naive_utc();
    let micros = naive.nanosecond() / 1_000 * 1_000;
    naive.with_nanosecond(micros).unwrap_or(naive)
}
