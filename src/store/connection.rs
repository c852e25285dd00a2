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
/// Key of the PostgreSQL advisory lock held while migrations run, so
/// instances starting together on an empty database migrate one at a time.
const MIGRATION_LOCK_KEY: i64 = 0x7465_7373_6572_61; // "tessera" in ASCII

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
            // Every pooled connection to ":memory:" would open a database
            // of its own.
            Some("") | Some(":memory:") | None => Err(
                "expected sqlite://PATH (a file) or a postgres:// or postgresql:// URL".to_owned(),
            ),
            Some(path) if path.starts_with("file:") => Err(
                "expected sqlite://PATH with a plain file path".to_owned(),
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

/// Replaces the password in the user-info part and in any `password=`
/// query parameter.
pub fn redact_password(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = redact_user_info(url);
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

fn redact_user_info(url: &str) -> String {
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
            DatabaseUrl::Postgres(url) => {
                let mut connection = PgConnection::establish(url)?;
                // A row lock held elsewhere, or a stuck query, fails the
                // request instead of stalling a worker without a trace.
                connection
                    .batch_execute("SET lock_timeout = '5s'; SET statement_timeout = '30s';")
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Postgresql(connection))
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        ConnectionError::BadConnection(format!(
                            "cannot create the folder {} for the SQLite database: {error}",
                            parent.display()
                        ))
                    })?;
                }
                create_private_file(path)?;
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

/// Creates the SQLite file with mode 0600 if it does not exist, since it
/// holds password hashes; SQLite would create it with the process umask.
fn create_private_file(path: &std::path::Path) -> Result<(), ConnectionError> {
    use std::os::unix::fs::OpenOptionsExt;

    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(ConnectionError::BadConnection(format!(
            "cannot create the SQLite database {}: {error}",
            path.display()
        ))),
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
        // libpq's messages span several lines; the error is printed as one.
        let message = error.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
        return Err(format!("cannot connect to {}: {message}", url.redacted()));
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
    let failed = |error: &dyn std::fmt::Display| format!("database migration failed: {error}");
    let applied = match connection {
        DbConnection::Postgresql(pg) => {
            // Waiting for another instance's migrations may take longer than
            // the usual lock_timeout.
            pg.batch_execute(&format!("SET lock_timeout = '120s'; SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|e| failed(&e))?;
            let applied = pg.run_pending_migrations(POSTGRES_MIGRATIONS).map(|versions| versions.len());
            let unlocked = pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY}); SET lock_timeout = '5s'"));
            let applied = applied.map_err(|e| failed(&e))?;
            unlocked.map_err(|e| failed(&e))?;
            applied
        }
        DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()).map_err(|e| failed(&e))?,
    };
    Ok(applied)
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
        let query = DatabaseUrl::parse("postgres://db/t?sslmode=require&password=s3cret").unwrap();
        assert_eq!(query.redacted(), "postgres://db/t?sslmode=require&password=***");
    }

    #[test]
    fn in_memory_sqlite_is_rejected() {
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://file:x?mode=memory").is_err());
    }
}
