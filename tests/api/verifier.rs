//! tessera-verifier against a live Tessera and an actix-web resource
//! server in the same process: valid tokens pass, forged ones fail,
//! rotation rejects no valid token, and verification outlives the issuer.

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use tessera::keys::{Algorithm as IssuerAlgorithm, jwt};
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;
use tessera_verifier::actix::{BearerError, BearerToken};
use tessera_verifier::{Algorithm, Verifier, VerifierConfig, VerifyError};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    resource_server_enforces_token_and_scope,
    forged_tokens_are_rejected,
    rotation_rejects_no_valid_token,
    verifier_outlives_stopped_issuer,
);

const AUDIENCE: &str = "https://orders.example";

/// A client whose tokens are meant for the resource server; returns its
/// secret.
async fn add_api_client(app: &TestApp, grant: GrantType) -> String {
    app.add_client_with(ClientSpec {
        client_id: "shop".into(),
        public: false,
        grant_types: vec![grant],
        scopes: Scope::parse("orders:read orders:write").unwrap(),
        audience: Some(AUDIENCE.into()),
        access_token_lifetime: None,
        chosen_secret: None,
        id_token_alg: None,
        jwks: None,
        auth_method: None,
        redirect_uris: Vec::new(),
    })
    .await
    .unwrap()
}

async fn machine_token(app: &TestApp, secret: &str, scope: &str) -> String {
    let response = app.token(&[("grant_type", "client_credentials"), ("scope", scope)], Some(("shop", secret))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn config(app: &TestApp) -> VerifierConfig {
    VerifierConfig::from_issuer(&app.address, AUDIENCE).algorithms(&Algorithm::ALL)
}

async fn list_orders(token: BearerToken) -> Result<HttpResponse, BearerError> {
    token.require_scope("orders:read")?;
    Ok(HttpResponse::Ok().json(json!({ "sub": token.claims.sub })))
}

async fn create_order(token: BearerToken) -> Result<HttpResponse, BearerError> {
    token.require_scope("orders:write")?;
    Ok(HttpResponse::Created().finish())
}

/// Starts a resource server on 127.0.0.1, port 0, and returns its URL.
fn start_resource_server(verifier: Verifier) -> String {
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/orders", web::get().to(list_orders))
            .route("/orders", web::post().to(create_order))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}", server.addrs()[0]);
    tokio::spawn(server.run());
    address
}

async fn resource_server_enforces_token_and_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = add_api_client(&app, GrantType::Password).await;
    let mut form = vec![("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "orders:read")];
    let reader: Value = app.token(&form, Some(("shop", &secret))).await.json().await.unwrap();
    let reader = reader["access_token"].as_str().unwrap().to_owned();
    form.pop();
    let verifier = Verifier::new(config(&app)).await.unwrap();
    let api = start_resource_server(verifier);
    let http = &app.http;

    let listed = http.get(format!("{api}/orders")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let user = &app.issuer.list_users().await.unwrap()[0];
    assert_eq!(listed.json::<Value>().await.unwrap()["sub"], user.id.to_string());

    let create = http.post(format!("{api}/orders")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(create.status(), 403);
    let challenge = create.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("error=\"insufficient_scope\", scope=\"orders:write\""), "{challenge}");

    let anonymous = http.get(format!("{api}/orders")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer realm=\"api\"");

    let garbage = http.get(format!("{api}/orders")).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(garbage.status(), 401);
    let challenge = garbage.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""), "{challenge}");
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Signs claims with Tessera's own active key, to build tokens that are
/// validly signed but wrong in another way.
async fn issuer_signed(app: &TestApp, typ: &str, claims: Value) -> String {
    let signer = app.issuer.ring.signer(IssuerAlgorithm::Es256).unwrap();
    let Value::Object(claims) = claims else { unreachable!() };
    jwt::encode(signer.as_ref(), typ, &claims).unwrap()
}

fn base_claims(app: &TestApp) -> Map<String, Value> {
    let now = chrono::Utc::now().timestamp();
    let Value::Object(claims) = json!({
        "iss": app.address, "sub": "batch", "aud": AUDIENCE, "exp": now + 300, "iat": now,
        "jti": "x", "client_id": "shop", "scope": "orders:read",
    }) else {
        unreachable!()
    };
    claims
}

async fn forged_tokens_are_rejected(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = add_api_client(&app, GrantType::ClientCredentials).await;
    let valid = machine_token(&app, &secret, "orders:read").await;
    let verifier = Verifier::new(config(&app).unknown_kid_refetch_interval(Duration::from_secs(60))).await.unwrap();
    assert!(verifier.verify(&valid).await.is_ok());
    let (header, claims) = decode_unverified(&valid);
    let (signing_input, _) = valid.rsplit_once('.').unwrap();
    let kid = header["kid"].as_str().unwrap();

    // alg none with an empty signature (RFC 8725 §2.1).
    let none = format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid })), b64(&claims));
    // HS256 keyed with the public JWK, the algorithm-confusion attack.
    let hs256 = {
        let input = format!("{}.{}", b64(&json!({ "alg": "HS256", "typ": "at+jwt", "kid": kid })), b64(&claims));
        let key = openssl::pkey::PKey::hmac(app.jwks().await["keys"][0].to_string().as_bytes()).unwrap();
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signer.sign_oneshot_to_vec(input.as_bytes()).unwrap()))
    };
    // A key the JWKS does not list, with a kid of its own.
    let unlisted = {
        let key = tessera::keys::generate(IssuerAlgorithm::Es256).unwrap();
        let input = format!("{}.{}", b64(&json!({ "alg": "ES256", "typ": "at+jwt", "kid": key.kid })), b64(&claims));
        let jwk = josekit::jwk::Jwk::from_bytes(&key.private_jwk).unwrap();
        let signer = josekit::jws::ES256.signer_from_jwk(&jwk).unwrap();
        use josekit::jws::JwsSigner;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()).unwrap()))
    };
    // The payload changed after signing.
    let tampered = {
        let mut changed = claims.clone();
        changed["scope"] = json!("orders:read orders:write");
        let signature = valid.rsplit('.').next().unwrap();
        format!("{}.{}.{signature}", signing_input.split('.').next().unwrap(), b64(&changed))
    };
    // An all-zero ECDSA signature (r = s = 0).
    let zero_signature = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));

    let mut expired_claims = base_claims(&app);
    expired_claims.insert("exp".into(), json!(chrono::Utc::now().timestamp() - 3600));
    let expired = issuer_signed(&app, "at+jwt", Value::Object(expired_claims)).await;
    let mut other_audience = base_claims(&app);
    other_audience.insert("aud".into(), json!("https://other.example"));
    let wrong_audience = issuer_signed(&app, "at+jwt", Value::Object(other_audience)).await;
    // An OpenID Connect ID token (typ JWT) is not an access token, even
    // when its audience and signature are right.
    let mut id_claims = base_claims(&app);
    id_claims.insert("auth_time".into(), json!(chrono::Utc::now().timestamp()));
    let id_token = issuer_signed(&app, "JWT", Value::Object(id_claims)).await;

    let cases = [
        ("alg none", none, VerifyError::DisallowedAlgorithm),
        ("HS256 with the public key", hs256, VerifyError::DisallowedAlgorithm),
        ("unlisted key", unlisted, VerifyError::UnknownKey),
        ("tampered payload", tampered, VerifyError::BadSignature),
        ("all-zero signature", zero_signature, VerifyError::BadSignature),
        ("expired", expired, VerifyError::Expired),
        ("wrong audience", wrong_audience, VerifyError::WrongAudience),
        ("ID token", id_token, VerifyError::WrongType),
    ];
    for (name, token, expected) in cases {
        assert_eq!(verifier.verify(&token).await.err(), Some(expected), "{name}");
    }
}

/// A stream of fresh tokens keeps verifying while keys rotate, staged and
/// scheduled, with short cache timings so several rotations happen.
async fn rotation_rejects_no_valid_token(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.jwks_max_age = 1;
        settings.jwks_stale_while_revalidate = 0;
        settings.key_refresh_interval = 1;
        settings.clock_skew = 1;
        settings.key_staging_delay = 3;
        settings.key_rotation_interval = 4;
    })
    .await
    else {
        return;
    };
    let secret = add_api_client(&app, GrantType::ClientCredentials).await;
    let verifier = Verifier::new(config(&app).unknown_kid_refetch_interval(Duration::from_secs(1))).await.unwrap();

    let started = Instant::now();
    let mut kids = std::collections::BTreeSet::new();
    let mut verified = 0;
    let mut rotated = false;
    while started.elapsed() < Duration::from_secs(9) {
        if !rotated && started.elapsed() > Duration::from_secs(1) {
            app.issuer.rotate(IssuerAlgorithm::Es256, false, "test").await.unwrap();
            rotated = true;
        }
        let token = machine_token(&app, &secret, "orders:read").await;
        if let Err(error) = verifier.verify(&token).await {
            panic!("token {verified} was rejected at {:?}: {error}", started.elapsed());
        }
        kids.insert(decode_unverified(&token).0["kid"].as_str().unwrap().to_owned());
        verified += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(kids.len() >= 2, "no rotation took effect: {kids:?}");
    assert!(verified > 100, "only {verified} tokens were verified");
}

/// With the issuer down, tokens signed by cached keys keep verifying past
/// the JWKS max-age, within max_stale.
async fn verifier_outlives_stopped_issuer(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.jwks_max_age = 1;
        settings.key_staging_delay = 0;
    })
    .await
    else {
        return;
    };
    let secret = add_api_client(&app, GrantType::ClientCredentials).await;
    let token = machine_token(&app, &secret, "orders:read").await;
    let verifier = Verifier::new(
        config(&app).max_stale(Duration::from_secs(600)).http_timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let api = start_resource_server(verifier.clone());

    app.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert!(app.http.get(app.url("/.well-known/jwks.json")).send().await.is_err(), "the issuer is down");
    assert!(verifier.verify(&token).await.is_ok());
    let response = app.http.get(format!("{api}/orders")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
