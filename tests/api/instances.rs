//! Several `tessera serve` processes on one PostgreSQL database, as behind
//! a load balancer: tokens from any instance verify against the JWKS of
//! every instance while keys rotate, and no algorithm ever has two active
//! keys.

use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::*;

const INSTANCES: usize = 3;
/// How long tokens are requested while keys rotate.
const STREAM: Duration = Duration::from_secs(12);
const ISSUER: &str = "http://tessera.test";

/// One running `tessera serve`, killed when dropped.
struct Instance {
    _child: Child,
    address: String,
}

/// Settings shared by every process: fast timings so staged and scheduled
/// rotations happen within seconds. The staging delay derives to
/// 1 + 0 + 1 + 1 = 3 s, and a rotation is scheduled every 4 s.
fn environment(database_url: &str, master_key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TESSERA_DATABASE_URL", database_url.to_owned()),
        ("TESSERA_MASTER_KEY", master_key.to_owned()),
        ("TESSERA_ISSUER", ISSUER.to_owned()),
        ("TESSERA_LISTEN", "127.0.0.1:0".to_owned()),
        ("TESSERA_JWKS_MAX_AGE", "1".to_owned()),
        ("TESSERA_JWKS_STALE_WHILE_REVALIDATE", "0".to_owned()),
        ("TESSERA_KEY_REFRESH_INTERVAL", "1".to_owned()),
        ("TESSERA_CLOCK_SKEW", "1".to_owned()),
        ("TESSERA_KEY_ROTATION_INTERVAL", "4".to_owned()),
        ("TESSERA_HTTP_WORKERS", "1".to_owned()),
        ("TESSERA_HASH_WORKERS", "1".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
}

async fn start_instance(environment: &[(&'static str, String)], keys_dir: &std::path::Path) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("serve")
        .env_clear()
        .envs(environment.iter().map(|(name, value)| (*name, value.as_str())))
        .env("TESSERA_KEYS_DIR", keys_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("tessera serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(port) = line.split("port=").nth(1).filter(|_| line.contains("listening")) {
                return port.trim().parse::<u16>().unwrap();
            }
            assert!(!line.starts_with("error"), "the instance failed to start: {line}");
        }
        panic!("the instance exited before listening");
    })
    .await
    .expect("the instance listens within 30 s");
    // Keep reading, so a full pipe never blocks the server's logging.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Instance { _child: child, address: format!("http://127.0.0.1:{port}") }
}

fn run_cli(environment: &[(&'static str, String)], keys_dir: &std::path::Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_clear()
        .envs(environment.iter().map(|(name, value)| (*name, value.as_str())))
        .env("TESSERA_KEYS_DIR", keys_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "tessera {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The largest number of active keys any algorithm has right now.
fn most_active_keys(database_url: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        active: i64,
    }
    let mut connection = PgConnection::establish(database_url).unwrap();
    diesel::sql_query("SELECT COUNT(*) AS active FROM signing_keys WHERE state = 'active' GROUP BY alg")
        .load::<Count>(&mut connection)
        .unwrap()
        .into_iter()
        .map(|count| count.active)
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_agree_while_keys_rotate() {
    let Ok(server_url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL is not set: skipping the multi-instance test, which needs PostgreSQL");
        return;
    };
    let database = PostgresDatabase::create(&server_url);
    let master_key = {
        let mut bytes = [0u8; 32];
        openssl::rand::rand_bytes(&mut bytes).unwrap();
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
    };
    let environment = environment(&database.url, &master_key);
    let keys_dir = tempfile::tempdir().unwrap();

    // All three start at once on an empty database: migrations and the
    // first key must not collide.
    let starts = (0..INSTANCES).map(|_| start_instance(&environment, keys_dir.path()));
    let instances = futures_util::future::join_all(starts).await;

    run_cli(&environment, keys_dir.path(), &["user", "add", "root", "--admin"], "correct horse battery staple\n");
    let admin_client = run_cli(&environment, keys_dir.path(), &["client", "add", "admin-cli", "--scope", "admin"], "");
    let admin_secret = admin_client.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();
    let machine = run_cli(&environment, keys_dir.path(), &["client", "add", "batch", "--grant", "client_credentials", "--scope", "jobs"], "");
    let machine_secret = machine.lines().find_map(|l| l.strip_prefix("client_secret: ")).unwrap().to_owned();

    let http = reqwest::Client::new();
    let admin_token: Value = http
        .post(format!("{}/oauth2/token", instances[0].address))
        .header("Authorization", basic_header("admin-cli", &admin_secret))
        .form(&[("grant_type", "password"), ("username", "root"), ("password", "correct horse battery staple"), ("scope", "admin")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_token = admin_token["access_token"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let mut issued = 0;
    let mut kids = std::collections::BTreeSet::new();
    let mut admin_rotations = 0;
    let mut next_rotation = Duration::from_secs(1);
    while started.elapsed() < STREAM {
        if started.elapsed() >= next_rotation {
            let response = http
                .post(format!("{}/admin/keys/rotate", instances[0].address))
                .bearer_auth(&admin_token)
                .send()
                .await
                .unwrap();
            // 409: a scheduled rotation is already staged.
            assert!(matches!(response.status().as_u16(), 200 | 409), "rotate: {}", response.status());
            admin_rotations += usize::from(response.status() == 200);
            next_rotation += Duration::from_secs(3);
        }

        let instance = &instances[issued % INSTANCES];
        let response = http
            .post(format!("{}/oauth2/token", instance.address))
            .header("Authorization", basic_header("batch", &machine_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        kids.insert(decode_unverified(token).0["kid"].as_str().unwrap().to_owned());

        for (index, other) in instances.iter().enumerate() {
            let jwks: Value = http.get(format!("{}/.well-known/jwks.json", other.address)).send().await.unwrap().json().await.unwrap();
            if let Err(error) = verify_with_jwks(token, &jwks) {
                panic!("token {issued} from instance {} failed against instance {index}: {error}", issued % INSTANCES);
            }
        }
        assert!(most_active_keys(&database.url) <= 1, "an algorithm had two active keys");
        issued += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(issued > 50, "only {issued} tokens were issued");
    assert!(admin_rotations > 0, "no admin rotation succeeded");
    assert!(kids.len() >= 3, "the tokens were signed by only {} keys", kids.len());
    eprintln!("issued {issued} tokens signed by {} keys, {admin_rotations} admin rotations", kids.len());
    drop(instances);
}
