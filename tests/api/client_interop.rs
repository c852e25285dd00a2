//! Interoperability: Tessera's token endpoint and discovery documents driven
//! by third-party OAuth client libraries.
//!
//! The real service gets a user and a confidential client allowed the
//! password, refresh_token and client_credentials grants. Then two scripts
//! run the flows through a library each:
//! - Authlib's OAuth2Session (tests/interop/authlib_flows.py): password
//!   grant, refresh with rotation, reuse detection that revokes the token
//!   family, and client_credentials with client_secret_post;
//! - openid-client (tests/interop/openid_client_flows.mjs): discovery of
//!   /.well-known/openid-configuration, client_credentials, a password
//!   grant, refresh with rotation and reuse detection.
//!
//! `tests/run` installs both libraries at the versions pinned in
//! tests/interop. Without them these tests fail rather than skip, so a green
//! run always means the libraries ran.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;
use tokio::process::Command;

use crate::helpers::*;

const CLIENT_ID: &str = "interop-client";
const USERNAME: &str = "alice";
/// The client's scopes, which both scripts request.
const SCOPES: &str = "read write";
/// Maximum run time of one script. Each makes fewer than ten requests with
/// a 10 s timeout apiece, and the password grants wait for argon2.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);
/// Exit status the scripts use when their library is not installed.
const LIBRARY_MISSING: i32 = 2;
const INSTALL_HINT: &str = "Run tests/run, which installs the interop libraries (Authlib into \
     target/interop-venv, openid-client into tests/interop/node_modules) and sets TESSERA_TEST_PYTHON";

/// One client library's script: an interpreter, chosen by an environment
/// variable, running a script from tests/interop.
struct ClientScript {
    library: &'static str,
    program_variable: &'static str,
    default_program: &'static str,
    script: &'static str,
}

const AUTHLIB: ClientScript = ClientScript {
    library: "Authlib",
    program_variable: "TESSERA_TEST_PYTHON",
    default_program: "python3",
    script: "authlib_flows.py",
};

const OPENID_CLIENT: ClientScript = ClientScript {
    library: "openid-client",
    program_variable: "TESSERA_TEST_NODE",
    default_program: "node",
    script: "openid_client_flows.mjs",
};

impl ClientScript {
    /// Runs the script against `app` and panics, with the script's stdout
    /// and stderr, unless it exits 0 and prints its success line.
    async fn run_against(&self, app: &TestApp, client_secret: &str) {
        let program = std::env::var(self.program_variable).unwrap_or_else(|_| self.default_program.to_owned());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop").join(self.script);
        let child = Command::new(&program)
            .arg(&script)
            .args([app.address.as_str(), CLIENT_ID, client_secret, USERNAME, PASSWORD])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {program} (set by {}, default {}) for the {} script: {error}. {INSTALL_HINT}",
                    self.program_variable, self.default_program, self.library
                )
            });

        let output = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => panic!("waiting for {program} {} failed: {error}", self.script),
            // Dropping the child on timeout kills it (kill_on_drop).
            Err(_) => panic!("{program} {} timed out after {} s", self.script, SCRIPT_TIMEOUT.as_secs()),
        };
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();

        if output.status.code() == Some(LIBRARY_MISSING) {
            // The script's message already names the command that installs it.
            panic!("the {} script cannot run under {program}: {stderr}", self.library);
        }
        assert!(
            output.status.success(),
            "{} flows failed with exit status {:?}\nstdout: {stdout}\nstderr: {stderr}",
            self.library,
            output.status.code()
        );
        assert!(
            stdout.contains(" passed: "),
            "{} flows exited 0 without their success line\nstdout: {stdout}\nstderr: {stderr}",
            self.library
        );
    }
}

/// Starts the service with the user and the client the scripts expect, and
/// returns it with the client's generated secret.
async fn spawn_with_client() -> (TestApp, String) {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("the SQLite backend always starts");
    app.add_user(USERNAME, false).await;
    let secret = app
        .add_client_with(ClientSpec {
            client_id: CLIENT_ID.to_owned(),
            public: false,
            grant_types: vec![GrantType::Password, GrantType::RefreshToken, GrantType::ClientCredentials],
            scopes: Scope::parse(SCOPES).unwrap(),
            audience: None,
            access_token_lifetime: None,
            chosen_secret: None,
            id_token_alg: None,
            jwks: None,
            auth_method: None,
            redirect_uris: Vec::new(),
        })
        .await
        .expect("a confidential client gets a generated secret");
    (app, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_every_flow() {
    let (app, secret) = spawn_with_client().await;
    AUTHLIB.run_against(&app, &secret).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_runs_every_flow() {
    let (app, secret) = spawn_with_client().await;
    OPENID_CLIENT.run_against(&app, &secret).await;
}
