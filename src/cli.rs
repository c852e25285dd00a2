//! The command line: `serve`, `migrate`, and management of users, clients
//! and keys against the configured database.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::keys::{Algorithm, KeyState};
use crate::oauth::{GrantType, Password, Scope};
use crate::service::Issuer;
use crate::service::clients::ClientSpec;
use crate::startup::Application;
use crate::store;

#[derive(Parser)]
#[command(name = "tessera", version, about = "A stateless issuer of signed JWT access tokens")]
pub struct Cli {
    /// TOML settings file; TESSERA_* environment variables override it.
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run pending migrations, prepare signing keys and serve HTTP.
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Manage users (resource owners).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user. The password is read from stdin when stdin is not a
    /// terminal, otherwise prompted for twice.
    Add {
        name: String,
        /// Allow this user to request the admin scope.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
    /// Disable a user: their password no longer works and admin calls with
    /// their tokens are rejected.
    Disable { name: String },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client. A confidential client gets a generated secret,
    /// printed once, unless --secret-stdin is given.
    Add(ClientAddArgs),
    /// List clients.
    List,
    /// Disable a client: it can no longer authenticate.
    Disable { client_id: String },
}

#[derive(Args)]
struct ClientAddArgs {
    client_id: String,
    /// A public client has no secret and sends only its client_id.
    #[arg(long)]
    public: bool,
    /// Grant type the client may use; repeat for several (default: password).
    #[arg(long = "grant", value_name = "GRANT")]
    grants: Vec<String>,
    /// Space-separated scopes the client may request.
    #[arg(long, default_value = "")]
    scope: String,
    /// The `aud` of this client's tokens (default: the default_audience setting).
    #[arg(long)]
    audience: Option<String>,
    /// Access token lifetime in seconds (default: the access_token_lifetime setting).
    #[arg(long, value_name = "SECONDS")]
    token_lifetime: Option<u32>,
    /// Read the client secret from stdin instead of generating one.
    #[arg(long)]
    secret_stdin: bool,
    /// Algorithm of the client's ID tokens (default: the signing_alg
    /// setting); it must be enabled.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List signing keys with their states.
    List,
    /// Stage a new key: published now, signing after key_staging_delay.
    Rotate {
        /// Algorithm of the new key (default: the signing_alg setting).
        #[arg(long)]
        alg: Option<String>,
        /// Sign with a key at once, skipping the staging delay. Verifiers
        /// whose cached JWKS predates the key reject its tokens until they
        /// refetch.
        #[arg(long)]
        force: bool,
    },
    /// Revoke a compromised key: it leaves the JWKS and its tokens are
    /// rejected. A revoked active key is replaced at once.
    Revoke {
        /// The kid; kids may start with "-", which is read as a kid here.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Import a PEM private key (RSA, EC P-256 or P-384, Ed25519).
    Import {
        file: PathBuf,
        /// Algorithm, when the key type allows more than one (RSA: RS256
        /// or PS256).
        #[arg(long)]
        alg: Option<String>,
        /// Keep this kid, for example the one the previous issuer published.
        #[arg(long)]
        kid: Option<String>,
        /// Sign with the key at once instead of staging it; use this when
        /// verifiers already know the key.
        #[arg(long)]
        activate: bool,
    },
    /// Re-seal every stored private key under the current master key, using
    /// the previous master key (TESSERA_PREVIOUS_MASTER_KEY or
    /// previous-master.key) to open them.
    Rewrap,
}

/// The actor recorded for key changes made from the command line.
const CLI_ACTOR: &str = "cli";

/// Runs the parsed command. Errors are returned as the one line to print.
pub async fn run(cli: Cli) -> Result<(), String> {
    let settings = Settings::load(cli.config.as_deref()).map_err(|error| error.to_string())?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::User(command) => {
            let issuer = open(settings).await?;
            let action = match &command {
                UserCommand::Add { .. } => Some("user.create"),
                UserCommand::Disable { .. } => Some("user.update"),
                UserCommand::List => None,
            };
            let result = user(issuer.clone(), command).await;
            audit(&issuer, action, &result).await;
            result
        }
        Command::Client(command) => {
            let issuer = open(settings).await?;
            let action = match &command {
                ClientCommand::Add(_) => Some("client.create"),
                ClientCommand::Disable { .. } => Some("client.update"),
                ClientCommand::List => None,
            };
            let result = client(issuer.clone(), command).await;
            audit(&issuer, action, &result).await;
            result
        }
        // The key schedule is left to the servers: a CLI run with other
        // settings must not promote, retire or create keys on its own.
        Command::Keys(command) => {
            let issuer = open(settings).await?;
            let action = match &command {
                KeysCommand::List => None,
                KeysCommand::Rotate { force: true, .. } => Some("key.rotate_forced"),
                KeysCommand::Rotate { .. } => Some("key.rotate"),
                KeysCommand::Revoke { .. } => Some("key.revoke"),
                KeysCommand::Import { .. } => Some("key.import"),
                KeysCommand::Rewrap => Some("key.rewrap"),
            };
            let result = keys(issuer.clone(), command).await;
            audit(&issuer, action, &result).await;
            result
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let application = Application::build(settings).await.map_err(|error| error.to_string())?;
    application.run_until_stopped().await.map_err(|error| format!("the server failed: {error}"))
}

/// Runs pending migrations, then creates the master key and the shared
/// secrets if they are missing: everything `serve` needs before its first
/// start.
async fn migrate(settings: Settings) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let url = settings.database_url.clone();
        let applied = {
            let pool = store::build_pool(&url, 1)?;
            let mut connection = pool.get().map_err(|error| error.to_string())?;
            store::run_migrations(&mut *connection)?
        };
        Issuer::open(settings).map_err(|error| error.to_string())?;
        println!("applied {applied} migrations to {}", url.redacted());
        Ok(())
    })
    .await
    .map_err(|error| error.to_string())?
}

async fn open(settings: Settings) -> Result<Issuer, String> {
    tokio::task::spawn_blocking(move || Issuer::open_existing(settings))
        .await
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())
}

async fn user(issuer: Issuer, command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add { name, admin } => {
            let password = read_password()?;
            let user = issuer.create_user(name, password, admin).await.map_err(|e| e.to_string())?;
            println!("added user {} with id {}{}", user.username, user.id, if admin { " (admin)" } else { "" });
        }
        UserCommand::List => {
            println!("{:<36}  {:<5}  {:<8}  USERNAME", "ID", "ADMIN", "DISABLED");
            for user in issuer.list_users().await.map_err(|e| e.to_string())? {
                println!("{:<36}  {:<5}  {:<8}  {}", user.id, user.is_admin, user.disabled, user.username);
            }
        }
        UserCommand::Disable { name } => {
            issuer.disable_user(name.clone()).await.map_err(|e| e.to_string())?;
            println!("disabled user {name}");
        }
    }
    Ok(())
}

async fn client(issuer: Issuer, command: ClientCommand) -> Result<(), String> {
    match command {
        ClientCommand::Add(args) => {
            let spec = client_spec(args)?;
            let created = issuer.create_client(spec).await.map_err(|e| e.to_string())?;
            println!("client_id: {}", created.client.client_id);
            if let Some(secret) = created.generated_secret {
                println!("client_secret: {secret}");
                eprintln!("Store this secret now: Tessera keeps only a hash and cannot show it again.");
            }
        }
        ClientCommand::List => {
            println!("{:<32}  {:<12}  {:<24}  SCOPES", "CLIENT_ID", "TYPE", "GRANTS");
            for client in issuer.list_clients().await.map_err(|e| e.to_string())? {
                let kind = client.kind.as_str();
                let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
                let state = if client.disabled { " (disabled)" } else { "" };
                println!("{:<32}  {:<12}  {:<24}  {}{state}", client.client_id, kind, grants.join(","), client.scopes);
            }
        }
        ClientCommand::Disable { client_id } => {
            issuer.disable_client(client_id.clone()).await.map_err(|e| e.to_string())?;
            println!("disabled client {client_id}");
        }
    }
    Ok(())
}

fn client_spec(args: ClientAddArgs) -> Result<ClientSpec, String> {
    let grant_types = if args.grants.is_empty() {
        vec![GrantType::Password]
    } else {
        args.grants
            .iter()
            .map(|name| name.parse::<GrantType>().map_err(|accepted| format!("invalid --grant {name:?}: {accepted}")))
            .collect::<Result<Vec<_>, _>>()?
    };
    let scopes = Scope::parse(&args.scope).map_err(|reason| format!("invalid --scope {:?}: {reason}", args.scope))?;
    let chosen_secret = if args.secret_stdin { Some(read_secret_line("client secret")?) } else { None };
    let id_token_alg = match &args.id_token_alg {
        Some(name) => Some(name.parse::<Algorithm>().map_err(|accepted| format!("invalid --id-token-alg {name:?}: {accepted}"))?),
        None => None,
    };
    Ok(ClientSpec {
        client_id: args.client_id,
        public: args.public,
        grant_types,
        scopes,
        audience: args.audience,
        access_token_lifetime: args.token_lifetime,
        chosen_secret,
        id_token_alg,
        jwks: None,
        auth_method: None,
        redirect_uris: Vec::new(),
    })
}

async fn keys(issuer: Issuer, command: KeysCommand) -> Result<(), String> {
    let parse_alg = |name: String| name.parse::<Algorithm>().map_err(|accepted| format!("invalid --alg {name:?}: {accepted}"));
    match command {
        KeysCommand::List => {
            println!("{:<44}  {:<6}  {:<9}  {:<25}  UNTIL", "KID", "ALG", "STATE", "CREATED_AT");
            for key in issuer.list_keys().await.map_err(|e| e.to_string())? {
                let until = match key.state {
                    KeyState::Pending => key.promote_after,
                    KeyState::Retiring => key.retire_after,
                    _ => None,
                };
                println!(
                    "{:<44}  {:<6}  {:<9}  {:<25}  {}",
                    key.kid,
                    key.alg.as_str(),
                    key.state.as_str(),
                    rfc3339(key.created_at),
                    until.map(rfc3339).unwrap_or_default()
                );
            }
        }
        KeysCommand::Rotate { alg, force } => {
            let alg = alg.map(parse_alg).transpose()?.unwrap_or(issuer.settings.signing_alg);
            let rotation = issuer.rotate(alg, force, CLI_ACTOR).await.map_err(|e| e.to_string())?;
            match rotation.promote_after {
                Some(at) => println!("{} key {} is pending: published now, signing from {}", rotation.alg, rotation.kid, at.to_rfc3339()),
                None => println!("{} key {} is active", rotation.alg, rotation.kid),
            }
            if let Some(previous) = rotation.previous {
                println!("key {} is retiring and stays published until {}", previous.kid, previous.retire_after.to_rfc3339());
            }
            if let Some(warning) = rotation.warning {
                eprintln!("warning: {warning}");
            }
            println!("running servers pick up the change within key_refresh_interval seconds");
        }
        KeysCommand::Revoke { kid } => {
            let revocation = issuer.revoke(&kid, CLI_ACTOR).await.map_err(|e| e.to_string())?;
            println!("revoked key {} (it was {})", revocation.kid, revocation.previous_state);
            if let Some(replacement) = revocation.replaced_by {
                println!("key {replacement} signs in its place");
            }
            println!(
                "running servers stop publishing it within key_refresh_interval seconds; admin calls reject its tokens at once"
            );
        }
        KeysCommand::Import { file, alg, kid, activate } => {
            let pem = read_capped(&file, crate::keys::MAX_PEM_LEN)?;
            let alg = alg.map(parse_alg).transpose()?;
            let key = issuer.import_key(pem, alg, kid, activate, CLI_ACTOR).await.map_err(|e| e.to_string())?;
            println!("imported {} key {} as {}", key.alg, key.kid, key.state);
        }
        KeysCommand::Rewrap => {
            let changed = issuer.rewrap().await.map_err(|e| e.to_string())?;
            println!("re-sealed {changed} stored keys under the current master key");
        }
    }
    Ok(())
}

/// Reads a file of at most `limit` bytes, without loading a larger one.
fn read_capped(path: &std::path::Path, limit: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;

    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut content = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut content)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if content.len() > limit {
        return Err(format!("{} is larger than {limit} bytes; a PEM private key is far smaller", path.display()));
    }
    Ok(content)
}

fn rfc3339(time: chrono::NaiveDateTime) -> String {
    time.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Records a changing command in the audit trail, with actor `cli`, and
/// waits until it is written, since the process exits next. The outcome
/// is `success` or `failed`; the error text, which can name values, is
/// left out.
async fn audit(issuer: &Issuer, action: Option<&str>, result: &Result<(), String>) {
    let Some(action) = action else { return };
    let outcome = if result.is_ok() { "success" } else { "failed" };
    issuer.audit.record(crate::service::audit::Entry {
        actor: CLI_ACTOR,
        action,
        client_id: None,
        user_id: None,
        outcome,
        detail: None,
    });
    issuer.audit.flush().await;
}

/// Reads a new user's password: prompted twice on a terminal, otherwise
/// one line from stdin.
fn read_password() -> Result<Password, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| format!("cannot read the password: {e}"))?;
        let second = rpassword::prompt_password("Repeat password: ").map_err(|e| format!("cannot read the password: {e}"))?;
        if first != second {
            return Err("the passwords do not match".into());
        }
        first
    } else {
        read_secret_line("password")?
    };
    Password::new_for_account(password)
}

/// Maximum length of a line read from stdin, in bytes; longer input is
/// rejected without being held in memory.
const MAX_STDIN_LINE: u64 = 4096;

/// Reads one line from stdin, without its line ending.
fn read_secret_line(what: &str) -> Result<String, String> {
    use std::io::Read;

    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_LINE + 1)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the {what} from stdin: {e}"))?;
    if line.len() as u64 > MAX_STDIN_LINE {
        return Err(format!("the {what} on stdin is longer than {MAX_STDIN_LINE} bytes"));
    }
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(format!("no {what} was given on stdin"));
    }
    Ok(trimmed.to_owned())
}
