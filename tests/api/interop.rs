//! Interoperability: tokens verified by JOSE libraries nobody here wrote.
//!
//! For every signing algorithm the real service issues a password-grant
//! token, and two independent verifiers check it the way a resource server
//! would, knowing only the JWKS URL: PyJWT (tests/interop/verify_pyjwt.py)
//! and the Node package `jose` (tests/interop/verify_jose.mjs). Each also
//! checks that forged copies of the token are rejected.
//!
//! `tests/run` installs both libraries at the versions pinned in
//! tests/interop. Without them this test fails rather than skips, so a
//! green run always means the tokens were verified.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tessera::keys::Algorithm;
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;
use tokio::process::Command;

use crate::helpers::*;

/// The client's audience. It differs from the issuer, so a verifier that
/// confused the two would fail.
const AUDIENCE: &str = "https://api.interop.test";
/// Maximum run time of one verifier process, JWKS fetch included.
const VERIFIER_TIMEOUT: Duration = Duration::from_secs(60);
/// Exit status the scripts use when their JOSE library is not installed.
const LIBRARY_MISSING: i32 = 2;
const INSTALL_HINT: &str = "Run tests/run, which installs the interop verifiers (PyJWT into \
     target/interop-venv, jose into tests/interop/node_modules) and sets TESSERA_TEST_PYTHON";

/// One external verifier: an interpreter, chosen by an environment
/// variable, running a script from tests/interop.
struct Verifier {
    library: &'static str,
    program_variable: &'static str,
    default_program: &'static str,
    script: &'static str,
}

const VERIFIERS: [Verifier; 2] = [
    Verifier {
        library: "PyJWT",
        program_variable: "TESSERA_TEST_PYTHON",
        default_program: "python3",
        script: "verify_pyjwt.py",
    },
    Verifier {
        library: "jose",
        program_variable: "TESSERA_TEST_NODE",
        default_program: "node",
        script: "verify_jose.mjs",
    },
];

/// What a verifier printed when it ran to the end.
struct Output {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Verifier {
    fn program(&self) -> String {
        std::env::var(self.program_variable).unwrap_or_else(|_| self.default_program.to_owned())
    }

    fn script_path(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop").join(self.script)
    }

    /// Runs the script on `arguments`. Panics with the install hint when
    /// the interpreter cannot be started, or the script reports that its
    /// library is missing, because every later run would fail the same way.
    async fn run(&self, arguments: &[&str]) -> Result<Output, String> {
        let program = self.program();
        let child = Command::new(&program)
            .arg(self.script_path())
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {program} (set by {}, default {}) for the {} verifier: {error}. {INSTALL_HINT}",
                    self.program_variable, self.default_program, self.library
                )
            });
        let output = match tokio::time::timeout(VERIFIER_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => return Err(format!("waiting for {program} failed: {error}")),
            Err(_) => return Err(format!("{program} timed out after {} s", VERIFIER_TIMEOUT.as_secs())),
        };
        let output = Output {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        };
        if output.code == Some(LIBRARY_MISSING) {
            // The script's message already names the command that installs it.
            panic!("the {} verifier cannot run under {program}: {}", self.library, output.stderr);
        }
        Ok(output)
    }
}

/// Starts the service signing with `alg`, registers a user and a client
/// with its own audience, and returns the app, the user's id and a token.
async fn issue_token(alg: Algorithm) -> (TestApp, String, String) {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.signing_alg = alg)
        .await
        .expect("the SQLite backend always starts");
    let user = app.add_user("alice", false).await;
    let secret = app
        .add_client_with(ClientSpec {
            client_id: "resource-client".to_owned(),
            public: false,
            grant_types: vec![GrantType::Password],
            scopes: Scope::parse("read").unwrap(),
            audience: Some(AUDIENCE.to_owned()),
            access_token_lifetime: None,
            chosen_secret: None,
            id_token_alg: None,
            jwks: None,
            auth_method: None,
            redirect_uris: Vec::new(),
        })
        .await
        .expect("a generated secret");
    let token = app.password_token("resource-client", &secret, "alice", None).await;
    (app, user.id.to_string(), token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_algorithm_verifies_in_pyjwt_and_jose() {
    let mut failures = Vec::new();
    for alg in Algorithm::ALL {
        let (app, subject, token) = issue_token(alg).await;
        let (header, _) = decode_unverified(&token);
        assert_eq!(header["alg"], alg.as_str(), "the service signed with another algorithm");

        let jwks_url = app.url("/.well-known/jwks.json");
        let arguments = [jwks_url.as_str(), token.as_str(), app.address.as_str(), AUDIENCE, alg.as_str()];
        for verifier in &VERIFIERS {
            let label = format!("{alg} with {}", verifier.library);
            let output = match verifier.run(&arguments).await {
                Ok(output) => output,
                Err(message) => {
                    failures.push(format!("{label}: {message}"));
                    continue;
                }
            };
            let expected_line = format!("verified alg={alg} ");
            let expected_subject = format!("sub={subject}");
            if !output.success {
                failures.push(format!(
                    "{label}: exit status {:?}\nstdout: {}\nstderr: {}",
                    output.code, output.stdout, output.stderr
                ));
            } else if !output.stdout.contains(&expected_line) || !output.stdout.ends_with(&expected_subject) {
                failures.push(format!(
                    "{label}: expected a line with {expected_line:?} ending in {expected_subject:?}\nstdout: {}\nstderr: {}",
                    output.stdout, output.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} verifier runs failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
