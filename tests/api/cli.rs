//! The `tessera` command line, run as a separate process against a
//! temporary database, as an operator would run it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    cli_migrate_applies_migrations_once,
    cli_user_add_reads_password_from_stdin,
    cli_client_add_prints_secret_once,
    cli_keys_rotate_and_list,
    cli_keys_revoke_replaces_active_key,
    cli_bad_setting_names_setting_and_value,
    cli_refuses_to_create_missing_master_key,
);

/// A database and keys folder for CLI runs, on either backend.
struct CliEnv {
    folder: tempfile::TempDir,
    database_url: String,
    _database: Option<PostgresDatabase>,
}

impl CliEnv {
    /// An environment where `tessera migrate` has run.
    fn new(backend: Backend) -> Option<Self> {
        let env = Self::empty(backend)?;
        let migrated = env.run(&["migrate"], "");
        assert!(migrated.status.success(), "{}", stderr(&migrated));
        Some(env)
    }

    /// An environment with no database and no master key yet.
    fn empty(backend: Backend) -> Option<Self> {
        let folder = tempfile::tempdir().unwrap();
        let (database_url, database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", folder.path().join("cli.db").display()), None),
            Backend::Postgres => {
                let server_url = std::env::var("TEST_DATABASE_URL").ok()?;
                let database = PostgresDatabase::create(&server_url);
                (database.url.clone(), Some(database))
            }
        };
        Some(Self { folder, database_url, _database: database })
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env_clear()
            .env("TESSERA_DATABASE_URL", &self.database_url)
            .env("TESSERA_KEYS_DIR", self.folder.path().join("keys"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tessera binary runs");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn cli_migrate_applies_migrations_once(backend: Backend) {
    let Some(env) = CliEnv::empty(backend) else { return };

    let first = env.run(&["migrate"], "");
    let second = env.run(&["migrate"], "");

    assert!(first.status.success(), "{}", stderr(&first));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
    assert!(stdout(&first).starts_with(&format!("applied {migrations} migrations")), "{}", stdout(&first));
    assert!(stdout(&second).starts_with("applied 0 migrations"), "{}", stdout(&second));
}

async fn cli_user_add_reads_password_from_stdin(backend: Backend) {
    let Some(env) = CliEnv::new(backend) else { return };

    let added = env.run(&["user", "add", "alice", "--admin"], "correct horse battery\n");
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(stdout(&added).contains("added user alice"));
    assert!(!stdout(&added).contains("correct horse"), "the password is never printed");

    let duplicate = env.run(&["user", "add", "alice"], "another password\n");
    assert!(!duplicate.status.success());
    assert_eq!(stderr(&duplicate).trim(), "error: a user named \"alice\" already exists");

    let short = env.run(&["user", "add", "bob"], "short\n");
    assert!(!short.status.success());
    assert!(stderr(&short).contains("at least 8 characters"), "{}", stderr(&short));

    let disabled = env.run(&["user", "disable", "alice"], "");
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    let listed = stdout(&env.run(&["user", "list"], ""));
    let alice = listed.lines().find(|line| line.ends_with("alice")).expect("alice is listed");
    assert!(alice.contains("true   true"), "{alice}");
    assert!(!listed.contains("$argon2"), "hashes are never listed");
}

async fn cli_client_add_prints_secret_once(backend: Backend) {
    let Some(env) = CliEnv::new(backend) else { return };

    let added = env.run(&["client", "add", "web", "--scope", "read write", "--grant", "password"], "");
    assert!(added.status.success(), "{}", stderr(&added));
    let out = stdout(&added);
    let secret = out.lines().find_map(|line| line.strip_prefix("client_secret: ")).expect("a secret is printed");
    assert_eq!(secret.len(), 43, "256 bits in base64url");

    let listed = stdout(&env.run(&["client", "list"], ""));
    assert!(listed.contains("web"));
    assert!(!listed.contains(secret), "the secret is shown only once");

    let chosen = env.run(&["client", "add", "svc", "--secret-stdin"], "a-chosen-secret-of-length\n");
    assert!(chosen.status.success(), "{}", stderr(&chosen));
    assert!(!stdout(&chosen).contains("client_secret"), "a chosen secret is not echoed");

    let bad_grant = env.run(&["client", "add", "x", "--grant", "implicit"], "");
    assert!(!bad_grant.status.success());
    assert!(stderr(&bad_grant).contains("invalid --grant \"implicit\""), "{}", stderr(&bad_grant));
}

async fn cli_keys_rotate_and_list(backend: Backend) {
    let Some(env) = CliEnv::new(backend) else { return };

    // The servers' schedule creates the first key; without a server, a
    // forced rotation does.
    let first = env.run(&["keys", "rotate", "--force"], "");
    assert!(stdout(&first).contains("is active"), "{}", stdout(&first));
    let staged = env.run(&["keys", "rotate"], "");
    let again = env.run(&["keys", "rotate"], "");
    let forced = env.run(&["keys", "rotate", "--force"], "");

    assert!(staged.status.success(), "{}", stderr(&staged));
    assert!(stdout(&staged).contains("is pending: published now, signing from"), "{}", stdout(&staged));
    assert!(!again.status.success());
    assert!(stderr(&again).contains("a rotation for ES256 is already staged"), "{}", stderr(&again));
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stdout(&forced).contains("is retiring and stays published until"), "{}", stdout(&forced));
    assert!(stderr(&forced).contains("warning: the new key signs at once"), "{}", stderr(&forced));
    let listed = stdout(&env.run(&["keys", "list"], ""));
    let states: Vec<&str> = listed.lines().skip(1).map(|line| line.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(states, ["retiring", "active"], "{listed}");

    let disabled = env.run(&["keys", "rotate", "--alg", "EdDSA"], "");
    assert!(!disabled.status.success());
    assert_eq!(stderr(&disabled).trim(), "error: EdDSA is not enabled: add it to signing_alg or additional_algs");
    let bad = env.run(&["keys", "rotate", "--alg", "HS256"], "");
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("expected one of RS256, PS256, ES256, ES384, EdDSA"), "{}", stderr(&bad));
}

async fn cli_keys_revoke_replaces_active_key(backend: Backend) {
    let Some(env) = CliEnv::new(backend) else { return };
    env.run(&["keys", "rotate", "--force"], "");
    env.run(&["keys", "rotate"], "");
    let listed = stdout(&env.run(&["keys", "list"], ""));
    let active = listed.lines().find(|line| line.contains(" active ")).unwrap().split_whitespace().next().unwrap().to_owned();

    let revoked = env.run(&["keys", "revoke", &active], "");

    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains("(it was active)"), "{}", stdout(&revoked));
    let listed = stdout(&env.run(&["keys", "list"], ""));
    let states: Vec<&str> = listed.lines().skip(1).map(|line| line.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(states, ["revoked", "active"], "the staged key took over: {listed}");
}

async fn cli_bad_setting_names_setting_and_value(backend: Backend) {
    let Some(env) = CliEnv::new(backend) else { return };
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve"])
        .env_clear()
        .env("TESSERA_DATABASE_URL", &env.database_url)
        .env("TESSERA_ACCESS_TOKEN_LIFETIME", "forever")
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        "error: invalid setting TESSERA_ACCESS_TOKEN_LIFETIME = \"forever\": expected seconds from 1 to 86400"
    );
}

/// Only `migrate` and `serve` create a master key: a command run with the
/// wrong keys folder must fail rather than seal keys under a new one.
async fn cli_refuses_to_create_missing_master_key(backend: Backend) {
    let Some(env) = CliEnv::new(backend) else { return };
    let elsewhere = tempfile::tempdir().unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["keys", "rotate"])
        .env_clear()
        .env("TESSERA_DATABASE_URL", &env.database_url)
        .env("TESSERA_KEYS_DIR", elsewhere.path())
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(stderr(&output).contains("master.key does not exist: check TESSERA_KEYS_DIR"), "{}", stderr(&output));
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "nothing was created");

    let wrong_key = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["keys", "rotate"])
        .env_clear()
        .env("TESSERA_DATABASE_URL", &env.database_url)
        .env("TESSERA_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .output()
        .unwrap();
    assert!(!wrong_key.status.success());
    assert!(stderr(&wrong_key).contains("cannot be unsealed"), "{}", stderr(&wrong_key));
    let listed = stdout(&env.run(&["keys", "list"], ""));
    assert_eq!(listed.lines().count(), 1, "no key was added: {listed}");
}

/// CLI changes reach the audit trail with actor `cli`.
mod audit {
    use super::*;

    backend_tests!(cli_changes_are_audited);

    async fn cli_changes_are_audited(backend: Backend) {
        let Some(env) = CliEnv::new(backend) else { return };
        env.run(&["user", "add", "dave"], "a long enough password\n");
        env.run(&["client", "add", "svc"], "");

        let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["user", "list"])
            .env_clear()
            .env("TESSERA_DATABASE_URL", &env.database_url)
            .env("TESSERA_KEYS_DIR", env.folder.path().join("keys"))
            .output()
            .unwrap();
        assert!(output.status.success());

        let settings = {
            let table = toml::Table::new();
            let mut settings = tessera::config::Settings::from_sources(&table, None, |_| None).unwrap();
            settings.database_url = tessera::store::DatabaseUrl::parse(&env.database_url).unwrap();
            settings.keys_dir = env.folder.path().join("keys");
            settings
        };
        let issuer = tessera::service::Issuer::open_existing(settings).unwrap();
        let events = issuer.db.run(|conn| tessera::store::audit::recent(conn, 10)).await.unwrap();
        let actions: Vec<(&str, &str, &str)> = events.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.outcome.as_str())).collect();
        assert!(actions.contains(&("cli", "user.create", "success")), "{actions:?}");
        assert!(actions.contains(&("cli", "client.create", "success")), "{actions:?}");
        assert_eq!(actions.len(), 2, "listing is not audited: {actions:?}");
    }
}
