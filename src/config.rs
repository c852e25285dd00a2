//! Settings: defaults, then an optional TOML file, then `TESSERA_*`
//! environment variables, each validated once at start.
//!
//! Every setting has one key in the file and one variable; both are listed
//! with their defaults in `SETTINGS` and in the README. A bad value stops
//! start-up with one line naming the setting, the value and what is
//! accepted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::keys::Algorithm;
use crate::store::DatabaseUrl;

/// Upper bound for any access-token lifetime setting, in seconds (one day).
const LIFETIME_CEILING: u32 = 86_400;

/// Variables read elsewhere: secrets, the config path and the test tools.
const OTHER_VARIABLES: &[&str] = &[
    "TESSERA_MASTER_KEY",
    "TESSERA_PREVIOUS_MASTER_KEY",
    "TESSERA_CONFIG",
    "TESSERA_TEST_PYTHON",
    "TESSERA_TEST_NODE",
];

/// Names a setting for a message: its file key and its variable.
fn setting_name(key: &str) -> String {
    match SETTINGS.iter().find(|(name, ..)| *name == key) {
        Some((_, variable, _)) => format!("{key} ({variable})"),
        None => key.to_owned(),
    }
}

/// (file key, environment variable, default) of every setting.
const SETTINGS: &[(&str, &str, &str)] = &[
    ("listen", "TESSERA_LISTEN", "127.0.0.1:8080"),
    ("database_url", "TESSERA_DATABASE_URL", "sqlite://data/tessera.db"),
    ("issuer", "TESSERA_ISSUER", "http://127.0.0.1:8080"),
    ("keys_dir", "TESSERA_KEYS_DIR", "keys"),
    ("signing_alg", "TESSERA_SIGNING_ALG", "ES256"),
    // RS256 by default: OpenID Connect Discovery §3 requires it among the
    // ID token algorithms.
    ("additional_algs", "TESSERA_ADDITIONAL_ALGS", "RS256"),
    ("access_token_lifetime", "TESSERA_ACCESS_TOKEN_LIFETIME", "900"),
    ("max_access_token_lifetime", "TESSERA_MAX_ACCESS_TOKEN_LIFETIME", "3600"),
    ("refresh_token_lifetime", "TESSERA_REFRESH_TOKEN_LIFETIME", "1209600"),
    ("refresh_token_max_lifetime", "TESSERA_REFRESH_TOKEN_MAX_LIFETIME", "7776000"),
    ("default_audience", "TESSERA_DEFAULT_AUDIENCE", ""),
    ("scopes_supported", "TESSERA_SCOPES_SUPPORTED", "admin"),
    ("jwks_max_age", "TESSERA_JWKS_MAX_AGE", "300"),
    ("jwks_stale_while_revalidate", "TESSERA_JWKS_STALE_WHILE_REVALIDATE", "60"),
    ("clock_skew", "TESSERA_CLOCK_SKEW", "60"),
    ("key_refresh_interval", "TESSERA_KEY_REFRESH_INTERVAL", "10"),
    ("key_staging_delay", "TESSERA_KEY_STAGING_DELAY", ""),
    ("key_rotation_interval", "TESSERA_KEY_ROTATION_INTERVAL", "2592000"),
    ("hash_workers", "TESSERA_HASH_WORKERS", ""),
    ("hash_queue", "TESSERA_HASH_QUEUE", "64"),
    ("db_pool_size", "TESSERA_DB_POOL_SIZE", "10"),
    ("http_workers", "TESSERA_HTTP_WORKERS", ""),
];

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    /// The `iss` of every token, without a trailing slash.
    pub issuer: String,
    pub keys_dir: PathBuf,
    /// The algorithm of access tokens.
    pub signing_alg: Algorithm,
    /// Further algorithms that get their own key ring and JWKS entries,
    /// for clients that need them.
    pub additional_algs: Vec<Algorithm>,
    /// Seconds; used when a client sets none.
    pub access_token_lifetime: u32,
    /// Seconds; no client may set more. Retiring keys stay published this
    /// long plus the clock skew.
    pub max_access_token_lifetime: u32,
    /// Seconds a refresh token stays usable; each use issues a new one.
    pub refresh_token_lifetime: u32,
    /// Seconds after its first token that a refresh-token family ends,
    /// however often it is used.
    pub refresh_token_max_lifetime: u32,
    /// `aud` for clients that set none; the issuer when empty.
    pub default_audience: String,
    pub scopes_supported: Vec<String>,
    /// Seconds a verifier may cache the JWKS.
    pub jwks_max_age: u32,
    /// Seconds a verifier may keep using a stale JWKS while it refetches.
    pub jwks_stale_while_revalidate: u32,
    /// Seconds of clock difference tolerated between Tessera and verifiers.
    pub clock_skew: u32,
    /// Seconds between reloads of the key ring from the database.
    pub key_refresh_interval: u32,
    /// Seconds a pending key is published before it signs; at least
    /// `min_staging_delay()`.
    pub key_staging_delay: u32,
    /// Seconds between scheduled rotations; 0 turns them off.
    pub key_rotation_interval: u32,
    /// Password hashes computed at once.
    pub hash_workers: usize,
    /// Password hashes that may wait for a worker before requests are
    /// turned away with 503.
    pub hash_queue: usize,
    pub db_pool_size: u32,
    pub http_workers: usize,
    /// `TESSERA_MASTER_KEY`, when set; read from the environment only,
    /// never from the file.
    pub master_key: Option<MasterKeyText>,
    /// `TESSERA_PREVIOUS_MASTER_KEY`, during a master-key rotation.
    pub previous_master_key: Option<MasterKeyText>,
}

/// The base64 master key as given. Its Debug output is redacted.
#[derive(Clone)]
pub struct MasterKeyText(pub String);

impl std::fmt::Debug for MasterKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKeyText(***)")
    }
}

/// A setting that failed validation. Its message is the one line printed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// A raw setting value and its source, for the error message.
struct Raw {
    source: String,
    value: String,
}

impl Settings {
    /// Loads settings from the defaults, `file` if given, and the process
    /// environment. A `TESSERA_*` variable that names no setting is logged
    /// as a warning, since it is most likely misspelt.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let table = match file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        for (name, _) in std::env::vars() {
            let known = SETTINGS.iter().any(|(_, variable, _)| *variable == name) || OTHER_VARIABLES.contains(&name.as_str());
            if name.starts_with("TESSERA_") && !known {
                tracing::warn!(variable = %name, "ignored an environment variable that names no setting; check its spelling");
            }
        }
        Self::from_sources(&table, file, |name| std::env::var(name).ok())
    }

    /// Builds settings from a parsed file and an environment lookup.
    pub fn from_sources(
        table: &toml::Table,
        file: Option<&Path>,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file_name = file.map(|p| p.display().to_string()).unwrap_or_default();
        if let Some(unknown) = table.keys().find(|key| !SETTINGS.iter().any(|(name, ..)| name == key)) {
            let names: Vec<&str> = SETTINGS.iter().map(|(name, ..)| *name).collect();
            return Err(ConfigError(format!(
                "unknown setting {unknown:?} in {file_name}: expected one of {}",
                names.join(", ")
            )));
        }
        let raw = |key: &str| -> Result<Raw, ConfigError> {
            let (_, variable, default) = SETTINGS.iter().find(|(name, ..)| *name == key).expect("listed");
            if let Some(value) = environment(variable) {
                return Ok(Raw { source: (*variable).to_owned(), value });
            }
            if let Some(value) = table.get(key) {
                let source = format!("{key} in {file_name}");
                return file_value(value).map(|value| Raw { source: source.clone(), value }).ok_or_else(|| {
                    ConfigError(format!(
                        "invalid setting {source}: expected a string, an integer or a list of strings without spaces"
                    ))
                });
            }
            Ok(Raw { source: format!("{key} (default)"), value: (*default).to_owned() })
        };

        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let mut settings = Settings {
            listen: parse(raw("listen")?, "HOST:PORT, such as 127.0.0.1:8080", |v| v.parse().ok())?,
            database_url: parse_database_url(raw("database_url")?)?,
            issuer: parse_with(raw("issuer")?, parse_issuer)?,
            keys_dir: parse(raw("keys_dir")?, "a folder path", |v| (!v.is_empty()).then(|| v.into()))?,
            signing_alg: parse_with(raw("signing_alg")?, |v| v.parse::<Algorithm>())?,
            additional_algs: parse_with(raw("additional_algs")?, |v| {
                v.split([' ', ',']).filter(|name| !name.is_empty()).map(str::parse::<Algorithm>).collect()
            })?,
            access_token_lifetime: parse(raw("access_token_lifetime")?, "seconds from 1 to 86400", lifetime)?,
            max_access_token_lifetime: parse(raw("max_access_token_lifetime")?, "seconds from 1 to 86400", lifetime)?,
            refresh_token_lifetime: parse(raw("refresh_token_lifetime")?, "seconds from 60 to 31536000", refresh_lifetime)?,
            refresh_token_max_lifetime: parse(raw("refresh_token_max_lifetime")?, "seconds from 60 to 31536000", refresh_lifetime)?,
            default_audience: parse(raw("default_audience")?, "a URI or name without spaces", |v| {
                (!v.contains(char::is_whitespace)).then(|| v.to_owned())
            })?,
            scopes_supported: parse(raw("scopes_supported")?, "space-separated scope tokens", |v| {
                crate::oauth::Scope::parse(v).ok().map(|s| s.iter().map(str::to_owned).collect())
            })?,
            jwks_max_age: parse(raw("jwks_max_age")?, "seconds from 0 to 86400", |v| {
                v.parse().ok().filter(|n| *n <= LIFETIME_CEILING)
            })?,
            jwks_stale_while_revalidate: parse(raw("jwks_stale_while_revalidate")?, "seconds from 0 to 86400", |v| {
                v.parse().ok().filter(|n| *n <= LIFETIME_CEILING)
            })?,
            clock_skew: parse(raw("clock_skew")?, "seconds from 0 to 600", |v| v.parse().ok().filter(|n| *n <= 600))?,
            key_refresh_interval: parse(raw("key_refresh_interval")?, "seconds from 1 to 3600", |v| {
                v.parse().ok().filter(|n| (1..=3600).contains(n))
            })?,
            // 0 stands for "derive it"; check_consistency replaces it.
            key_staging_delay: parse(raw("key_staging_delay")?, "seconds, or empty to derive it", |v| {
                if v.is_empty() { Some(0) } else { v.parse().ok().filter(|n| *n > 0) }
            })?,
            key_rotation_interval: parse(raw("key_rotation_interval")?, "seconds, 0 to turn scheduled rotation off", |v| {
                v.parse().ok()
            })?,
            hash_workers: parse(raw("hash_workers")?, "a count from 1 to 1024", |v| {
                if v.is_empty() { Some(cores) } else { v.parse().ok().filter(|n| (1..=1024).contains(n)) }
            })?,
            hash_queue: parse(raw("hash_queue")?, "a count from 0 to 100000", |v| {
                v.parse().ok().filter(|n| *n <= 100_000)
            })?,
            db_pool_size: parse(raw("db_pool_size")?, "a count from 1 to 1000", |v| {
                v.parse().ok().filter(|n| (1..=1000).contains(n))
            })?,
            http_workers: parse(raw("http_workers")?, "a count from 1 to 1024", |v| {
                if v.is_empty() { Some(cores) } else { v.parse().ok().filter(|n| (1..=1024).contains(n)) }
            })?,
            master_key: environment("TESSERA_MASTER_KEY").map(MasterKeyText),
            previous_master_key: environment("TESSERA_PREVIOUS_MASTER_KEY").map(MasterKeyText),
        };
        settings.check_consistency()?;
        Ok(settings)
    }

    /// Derives the staging delay when unset and rejects timings that would
    /// let a verifier meet a kid it cannot know, or a key leave the JWKS
    /// before its tokens expire.
    fn check_consistency(&mut self) -> Result<(), ConfigError> {
        if self.access_token_lifetime > self.max_access_token_lifetime {
            return Err(ConfigError(format!(
                "invalid setting {} = {}: it must not exceed {} = {}",
                setting_name("access_token_lifetime"),
                self.access_token_lifetime,
                setting_name("max_access_token_lifetime"),
                self.max_access_token_lifetime
            )));
        }
        if self.refresh_token_lifetime > self.refresh_token_max_lifetime {
            return Err(ConfigError(format!(
                "invalid setting {} = {}: it must not exceed {} = {}",
                setting_name("refresh_token_lifetime"),
                self.refresh_token_lifetime,
                setting_name("refresh_token_max_lifetime"),
                self.refresh_token_max_lifetime
            )));
        }
        let minimum = self.min_staging_delay();
        if self.key_staging_delay == 0 {
            self.key_staging_delay = minimum;
        } else if self.key_staging_delay < minimum {
            return Err(ConfigError(format!(
                "invalid setting {} = {}: it must be at least {minimum} s \
                 (jwks_max_age + jwks_stale_while_revalidate + key_refresh_interval + clock_skew), \
                 or a verifier could meet a new kid before its cached JWKS lists it",
                setting_name("key_staging_delay"),
                self.key_staging_delay
            )));
        }
        if self.key_rotation_interval != 0 && self.key_rotation_interval <= self.key_staging_delay {
            return Err(ConfigError(format!(
                "invalid setting {} = {}: it must be 0 (off) or longer than key_staging_delay = {} s",
                setting_name("key_rotation_interval"),
                self.key_rotation_interval,
                self.key_staging_delay
            )));
        }
        Ok(())
    }

    /// The shortest safe staging delay: a verifier's cached JWKS, even
    /// served stale, must have been refetched, after every instance has
    /// published the pending key, with room for clock skew.
    pub fn min_staging_delay(&self) -> u32 {
        self.jwks_max_age + self.jwks_stale_while_revalidate + self.key_refresh_interval + self.clock_skew
    }

    /// Returns every algorithm with a key ring: `signing_alg` first, then the
    /// additional ones, without repeats.
    pub fn enabled_algs(&self) -> Vec<Algorithm> {
        let mut algs = vec![self.signing_alg];
        for alg in &self.additional_algs {
            if !algs.contains(alg) {
                algs.push(*alg);
            }
        }
        algs
    }

    /// Returns the `aud` for a client without its own audience (`None`),
    /// or the client's own.
    pub fn audience_for(&self, client_audience: Option<&str>) -> String {
        match client_audience {
            Some(audience) => audience.to_owned(),
            None if self.default_audience.is_empty() => self.issuer.clone(),
            None => self.default_audience.clone(),
        }
    }

    /// Seconds a retiring key stays published after it stops signing: the
    /// longest token lifetime, plus the time other instances may still sign
    /// with it before they reload the ring, plus the clock skew.
    pub fn retirement_grace(&self) -> u32 {
        self.max_access_token_lifetime + self.key_refresh_interval + self.clock_skew
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| ConfigError(format!("cannot read the config file {}: {error}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|error| ConfigError(format!("the config file {} is not valid TOML: {}", path.display(), error.message())))
}

fn file_value(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        // List items are joined with spaces, so an item must not contain one.
        toml::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().filter(|text| !text.is_empty() && !text.contains(char::is_whitespace)))
            .collect::<Option<Vec<_>>>()
            .map(|items| items.join(" ")),
        _ => None,
    }
}

/// Parses the database URL; the error message shows it with any password
/// replaced.
fn parse_database_url(raw: Raw) -> Result<DatabaseUrl, ConfigError> {
    DatabaseUrl::parse(raw.value.trim()).map_err(|accepted| {
        let shown = crate::store::redact_password(&raw.value);
        ConfigError(format!("invalid setting {} = {shown:?}: {accepted}", raw.source))
    })
}

fn parse<T>(raw: Raw, accepted: &str, convert: impl Fn(&str) -> Option<T>) -> Result<T, ConfigError> {
    convert(raw.value.trim())
        .ok_or_else(|| ConfigError(format!("invalid setting {} = {:?}: expected {accepted}", raw.source, raw.value)))
}

fn parse_with<T>(raw: Raw, convert: impl Fn(&str) -> Result<T, String>) -> Result<T, ConfigError> {
    convert(raw.value.trim())
        .map_err(|accepted| ConfigError(format!("invalid setting {} = {:?}: {accepted}", raw.source, raw.value)))
}

fn refresh_lifetime(value: &str) -> Option<u32> {
    value.parse().ok().filter(|n| (60..=31_536_000).contains(n))
}

fn lifetime(value: &str) -> Option<u32> {
    value.parse().ok().filter(|n| (1..=LIFETIME_CEILING).contains(n))
}

/// RFC 8414 §2: the issuer is a URL with no query or fragment. Plain http is
/// accepted for local use.
fn parse_issuer(value: &str) -> Result<String, String> {
    let accepted = "expected an http:// or https:// URL without query or fragment, such as https://auth.example.com";
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or(accepted)?;
    if rest.is_empty() || rest.starts_with('/') || value.contains(['?', '#']) || value.contains(char::is_whitespace) {
        return Err(accepted.to_owned());
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, environment: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let table: toml::Table = file.parse().unwrap();
        Settings::from_sources(&table, Some(Path::new("tessera.toml")), |name| {
            environment.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let settings = load("", &[]).unwrap();
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.issuer, "http://127.0.0.1:8080");
        assert_eq!(settings.signing_alg, Algorithm::Es256);
        assert_eq!(settings.access_token_lifetime, 900);
        assert_eq!(settings.database_url, DatabaseUrl::Sqlite("data/tessera.db".into()));
    }

    #[test]
    fn environment_overrides_file() {
        let settings = load("signing_alg = \"RS256\"", &[("TESSERA_SIGNING_ALG", "EdDSA")]).unwrap();
        assert_eq!(settings.signing_alg, Algorithm::EdDsa);
    }

    #[test]
    fn bad_value_names_setting_value_and_accepted_form() {
        let error = load("", &[("TESSERA_LISTEN", "nowhere")]).unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid setting TESSERA_LISTEN = \"nowhere\": expected HOST:PORT, such as 127.0.0.1:8080"
        );
        let error = load("signing_alg = \"HS256\"", &[]).unwrap_err().to_string();
        assert!(error.starts_with("invalid setting signing_alg in tessera.toml = \"HS256\": expected one of RS256"), "{error}");
    }

    #[test]
    fn bad_database_url_error_hides_password() {
        let error = load("", &[("TESSERA_DATABASE_URL", "postgress://u:hunter2@h/db")]).unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("postgress://u:***@h/db"), "{error}");
    }

    #[test]
    fn unknown_file_key_is_rejected() {
        let error = load("listne = \"x\"", &[]).unwrap_err().to_string();
        assert!(error.starts_with("unknown setting \"listne\""), "{error}");
    }

    #[test]
    fn default_lifetime_above_maximum_is_rejected() {
        assert!(load("access_token_lifetime = 7200", &[]).is_err());
    }

    #[test]
    fn staging_delay_is_derived_from_cache_timings() {
        let settings = load("jwks_max_age = 100\njwks_stale_while_revalidate = 20\nkey_refresh_interval = 5\nclock_skew = 10", &[]).unwrap();
        assert_eq!(settings.key_staging_delay, 135);
        assert_eq!(settings.retirement_grace(), 3600 + 5 + 10);
    }

    #[test]
    fn staging_delay_shorter_than_cache_lifetime_is_rejected() {
        let error = load("key_staging_delay = 60", &[]).unwrap_err().to_string();
        assert!(
            error.starts_with("invalid setting key_staging_delay (TESSERA_KEY_STAGING_DELAY) = 60: it must be at least 430 s"),
            "{error}"
        );
    }

    #[test]
    fn rotation_interval_within_staging_delay_is_rejected() {
        assert!(load("key_rotation_interval = 400", &[]).is_err());
        assert!(load("key_rotation_interval = 0", &[]).is_ok());
    }

    #[test]
    fn additional_algorithms_are_listed_after_signing_alg() {
        assert_eq!(load("", &[]).unwrap().enabled_algs(), vec![Algorithm::Es256, Algorithm::Rs256]);
        let settings = load("additional_algs = [\"RS256\", \"ES256\"]", &[]).unwrap();
        assert_eq!(settings.enabled_algs(), vec![Algorithm::Es256, Algorithm::Rs256]);
        assert!(load("additional_algs = \"HS256\"", &[]).is_err());
    }

    #[test]
    fn issuer_must_be_http_url_without_query() {
        assert!(load("", &[("TESSERA_ISSUER", "auth.example.com")]).is_err());
        assert!(load("", &[("TESSERA_ISSUER", "https://a.example?x=1")]).is_err());
        let settings = load("", &[("TESSERA_ISSUER", "https://auth.example.com/")]).unwrap();
        assert_eq!(settings.issuer, "https://auth.example.com");
    }
}
