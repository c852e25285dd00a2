//! The one place that knows there are two database backends.
//!
//! `DbConnection` is diesel's multi-backend connection over PostgreSQL and
//! SQLite. The backend is chosen from the URL scheme: `postgres://` or
//! `postgresql://` select PostgreSQL, `sqlite://PATH` selects an SQLite file.
//! Every SQLite connection gets WAL journaling, a busy timeout and foreign
//! keys when the pool opens it.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long an SQLite connection waits for a lock held by another writer.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// A database location parsed from a `TESSERA_DATABASE_URL` value.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(std::path::PathBuf),
}

impl DatabaseUrl {
    /// Parses `postgres://…`, `postgresql://…` or `sqlite://PATH`.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(Self::Postgres(value.to_owned()));
        }
        match value.strip_prefix("sqlite://") {
            Some("") | None => Err(
                "expected sqlite://PATH or a postgres:// or postgresql:// URL".to_owned(),
            ),
            Some(path) => Ok(Self::Sqlite(path.into())),
        }
    }

    /// Returns the URL with any password replaced, for logs and messages.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => redact_password(url),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            if user_info.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_owned()
            }
        }
        None => url.to_owned(),
    }
}

/// Opens connections for r2d2, reporting the backend's own error message.
///
/// diesel's generated `establish` for the multi-backend enum hides the
/// backend error behind "Invalid connection url", so this manager dispatches
/// on the parsed URL itself.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    pub fn connect(&self) -> Result<DbConnection, ConnectionError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url).map(DbConnection::Postgresql),
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        ConnectionError::BadConnection(format!(
                            "cannot create the folder {} for the SQLite database: {error}",
                            parent.display()
                        ))
                    })?;
                }
                let path = path.to_str().ok_or_else(|| {
                    ConnectionError::InvalidConnectionUrl("the SQLite path is not UTF-8".into())
                })?;
                let mut connection = SqliteConnection::establish(path)?;
                connection
                    .batch_execute(&format!(
                        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                         PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON;"
                    ))
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(connection))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        ConnectionManager::connect(self)
    }

    fn is_valid(&self, connection: &mut DbConnection) -> Result<(), ConnectionError> {
        connection
            .batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, _connection: &mut DbConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Builds a pool and checks one connection at once, so a wrong URL or an
/// unreachable server stops start-up with the backend's message instead of a
/// pool time-out later.
pub fn build_pool(url: &DatabaseUrl, max_size: u32) -> Result<Pool, String> {
    let manager = ConnectionManager::new(url.clone());
    if let Err(error) = manager.connect() {
        return Err(format!("cannot connect to {}: {error}", url.redacted()));
    }
    r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(5))
        .build(manager)
        .map_err(|error| format!("cannot open a pool for {}: {error}", url.redacted()))
}

/// Applies every migration that this database has not run yet and returns
/// how many ran.
pub fn run_migrations(connection: &mut DbConnection) -> Result<usize, String> {
    let applied = match connection {
        DbConnection::Postgresql(pg) => pg.run_pending_migrations(POSTGRES_MIGRATIONS),
        DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE_MIGRATIONS),
    };
    applied
        .map(|versions| versions.len())
        .map_err(|error| format!("database migration failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_parses_each_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/t.db").unwrap(),
            DatabaseUrl::Sqlite("data/t.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://h/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    /// Both backends must carry the same migrations under the same names,
    /// so a schema version means the same thing on either.
    #[test]
    fn migration_folders_match_between_backends() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |backend: &str| {
            let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert!(!names("sqlite").is_empty());
        assert_eq!(names("sqlite"), names("postgres"));
    }

    #[test]
    fn redacted_url_hides_password() {
        let url = DatabaseUrl::parse("postgres://tessera:s3cret@db:5432/tessera").unwrap();
        assert_eq!(url.redacted(), "postgres://tessera:***@db:5432/tessera");
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
