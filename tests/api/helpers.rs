//! The test harness: each test starts the real service on 127.0.0.1, port
//! 0, with its own database: a temporary SQLite file, or a fresh PostgreSQL
//! database created on the server named by `TEST_DATABASE_URL`.

use std::net::TcpListener;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use serde_json::Value;
use tessera::clock::{Clock, SystemClock};
use tessera::config::Settings;
use tessera::oauth::{GrantType, Password, Scope};
use tessera::service::Issuer;
use tessera::service::clients::ClientSpec;
use tessera::startup::Application;
use tessera::store::DatabaseUrl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test body once per backend: `sqlite::NAME` always,
/// `postgres::NAME` against `TEST_DATABASE_URL` (a no-op when unset).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A password that meets the account minimum, for test users.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub issuer: Issuer,
    pub http: reqwest::Client,
    admin_secret: std::sync::Mutex<Option<String>>,
    server: actix_web::dev::ServerHandle,
    _folder: tempfile::TempDir,
    _database: Option<PostgresDatabase>,
}

/// Settings every test starts from: everything in a temporary folder.
fn base_settings(folder: &std::path::Path) -> Settings {
    let table = toml::Table::new();
    let mut settings = Settings::from_sources(&table, None, |_| None).expect("default settings are valid");
    settings.keys_dir = folder.join("keys");
    settings.database_url = DatabaseUrl::Sqlite(folder.join("tessera.db"));
    settings.hash_workers = 2;
    settings.http_workers = 2;
    // One key ring (ES256) unless a test enables more: the default RS256
    // ring costs an RSA key generation per test and adds JWKS entries.
    settings.additional_algs = Vec::new();
    settings
}

impl TestApp {
    /// Starts the service on `backend` with default settings. Returns
    /// `None` only for PostgreSQL when `TEST_DATABASE_URL` is unset.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the service after `adjust` has changed the settings.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
        Self::spawn_with_clock(backend, adjust, Arc::new(SystemClock)).await
    }

    /// Starts the service with a time source of the test's choosing.
    pub async fn spawn_with_clock(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
        clock: Arc<dyn Clock>,
    ) -> Option<TestApp> {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let mut settings = base_settings(folder.path());
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let Ok(server_url) = std::env::var("TEST_DATABASE_URL") else {
                    eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run");
                    return None;
                };
                let database = PostgresDatabase::create(&server_url);
                settings.database_url = DatabaseUrl::Postgres(database.url.clone());
                Some(database)
            }
        };

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        settings.listen = listener.local_addr().unwrap();
        settings.issuer = format!("http://127.0.0.1:{port}");
        adjust(&mut settings);

        let application = Application::build_with_clock(settings, listener, clock).await.expect("the service starts");
        let issuer = application.issuer();
        let server = application.server_handle();
        tokio::spawn(application.run_until_stopped());

        Some(TestApp {
            address: format!("http://127.0.0.1:{port}"),
            issuer,
            http: reqwest::Client::builder().build().unwrap(),
            admin_secret: std::sync::Mutex::new(None),
            server,
            _folder: folder,
            _database: database,
        })
    }

    /// Stops the HTTP server, as when the issuer goes down.
    pub async fn stop(&self) {
        self.server.stop(false).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn add_user(&self, name: &str, admin: bool) -> tessera::oauth::User {
        self.issuer
            .create_user(name.to_owned(), Password::new_for_account(PASSWORD.into()).unwrap(), admin)
            .await
            .expect("user created")
    }

    /// Registers a confidential password-grant client and returns its
    /// generated secret.
    pub async fn add_client(&self, client_id: &str, scope: &str) -> String {
        let created = self
            .issuer
            .create_client(ClientSpec {
                client_id: client_id.to_owned(),
                public: false,
                grant_types: vec![GrantType::Password],
                scopes: Scope::parse(scope).unwrap(),
                audience: None,
                access_token_lifetime: None,
                chosen_secret: None,
                id_token_alg: None,
                jwks: None,
                auth_method: None,
                redirect_uris: Vec::new(),
            })
            .await
            .expect("client created");
        created.generated_secret.expect("a generated secret")
    }

    pub async fn add_client_with(&self, spec: ClientSpec) -> Option<String> {
        self.issuer.create_client(spec).await.expect("client created").generated_secret
    }

    /// POSTs `form` to the token endpoint, with HTTP Basic when given.
    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> reqwest::Response {
        let mut request = self.http.post(self.url("/oauth2/token")).form(form);
        if let Some((id, secret)) = basic {
            request = request.header("Authorization", basic_header(id, secret));
        }
        request.send().await.expect("token request sent")
    }

    /// Runs the password grant for `username` and returns the access token.
    pub async fn password_token(&self, client_id: &str, secret: &str, username: &str, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "password"), ("username", username), ("password", PASSWORD)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.token(&form, Some((client_id, secret))).await;
        assert_eq!(response.status(), 200, "token request failed");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn jwks(&self) -> Value {
        self.http.get(self.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
    }

    /// An admin user, a client allowed the admin scope, and an admin token.
    pub async fn admin_token(&self) -> String {
        self.add_user("root", true).await;
        let secret = self.add_client("admin-cli", "admin").await;
        *self.admin_secret.lock().unwrap() = Some(secret.clone());
        self.password_token("admin-cli", &secret, "root", Some("admin")).await
    }

    /// The secret of the client `admin_token` registered.
    pub async fn admin_secret(&self) -> String {
        self.admin_secret.lock().unwrap().clone().expect("admin_token ran first")
    }
}

/// Verifies a token's signature with the key its kid names in `jwks`,
/// using the key's own `alg`, as a resource server would.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Result<(), String> {
    use josekit::jwk::Jwk;
    use josekit::jws::{ES256, ES384, EdDSA, JwsVerifier, PS256, RS256};

    let (header, _) = decode_unverified(token);
    let kid = header["kid"].as_str().ok_or("the token has no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("the JWKS has no keys array")?
        .iter()
        .find(|key| key["kid"] == kid)
        .ok_or_else(|| format!("the JWKS does not list kid {kid}"))?;
    let key = Jwk::from_bytes(jwk.to_string()).map_err(|error| error.to_string())?;
    let verifier: Box<dyn JwsVerifier> = match jwk["alg"].as_str() {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(&key).unwrap()),
        Some("PS256") => Box::new(PS256.verifier_from_jwk(&key).unwrap()),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(&key).unwrap()),
        Some("ES384") => Box::new(ES384.verifier_from_jwk(&key).unwrap()),
        Some("EdDSA") => Box::new(EdDSA.verifier_from_jwk(&key).unwrap()),
        other => return Err(format!("unexpected alg {other:?}")),
    };
    if header["alg"] != jwk["alg"] {
        return Err("the header alg differs from the key's".into());
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or("not a compact JWS")?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|error| error.to_string())?;
    verifier.verify(signing_input.as_bytes(), &signature).map_err(|error| error.to_string())
}

pub fn basic_header(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Splits a compact JWT and decodes its header and claims, unverified.
pub fn decode_unverified(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts");
    let decode = |part: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]))
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct PostgresDatabase {
    server_url: String,
    name: String,
    pub url: String,
}

impl PostgresDatabase {
    pub fn create(server_url: &str) -> Self {
        let mut connection = PgConnection::establish(server_url)
            .unwrap_or_else(|error| panic!("TEST_DATABASE_URL is set but cannot be reached: {error}"));
        drop_leftovers_once(&mut connection);
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .expect("CREATE DATABASE");
        let url = with_database(server_url, &name);
        Self { server_url: server_url.to_owned(), name, url }
    }
}

/// Drops test databases that an earlier run left behind (a process that
/// ends does not wait for the drops below). Runs once per test process.
fn drop_leftovers_once(connection: &mut PgConnection) {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(|| {
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            datname: String,
        }
        let leftovers = diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'tessera\\_test\\_%'")
            .load::<Name>(connection)
            .unwrap_or_default();
        for leftover in leftovers {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", leftover.datname)).execute(connection);
        }
    });
}

impl Drop for PostgresDatabase {
    /// Drops the database a little later, from another thread: the test's
    /// runtime is still shutting down, and background tasks (the audit
    /// writer, the key schedule) that find the database gone would wait
    /// for a connection until the pool's time-out.
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(2));
            if let Ok(mut connection) = PgConnection::establish(&server_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection);
            }
        });
    }
}

/// Replaces the database name in a PostgreSQL URL, keeping any query.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[after_scheme..].find('/').map_or(base.len(), |at| after_scheme + at);
    format!("{}/{name}{query}", &base[..path_start])
}
