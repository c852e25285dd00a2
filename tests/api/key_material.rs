//! Importing existing keys, and re-sealing keys under a new master key.

use std::net::TcpListener;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use josekit::jws::{ES256, ES384, EdDSA, JwsSigner, PS256, RS256};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use serde_json::{Value, json};
use tessera::config::MasterKeyText;
use tessera::keys::Algorithm;
use tessera::service::Issuer;
use tessera::startup::Application;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    imported_keys_keep_kid_and_old_tokens,
    rewrap_moves_keys_to_new_master_key,
    revoked_key_material_cannot_return,
    unloadable_active_key_stops_signing,
);

/// PEM private keys of every supported type, as another issuer might hold
/// them, with the algorithm each is imported for.
fn legacy_keys() -> Vec<(Algorithm, Vec<u8>)> {
    let rsa = Rsa::generate(2048).unwrap();
    let p256 = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
    let ed25519 = PKey::generate_ed25519().unwrap();
    vec![
        // Traditional PKCS#1 and SEC1 encodings, and PKCS#8.
        (Algorithm::Rs256, rsa.private_key_to_pem().unwrap()),
        (Algorithm::Ps256, PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap().private_key_to_pem_pkcs8().unwrap()),
        (Algorithm::Es256, p256.private_key_to_pem().unwrap()),
        (Algorithm::Es384, PKey::from_ec_key(p384).unwrap().private_key_to_pem_pkcs8().unwrap()),
        (Algorithm::EdDsa, ed25519.private_key_to_pem_pkcs8().unwrap()),
    ]
}

/// Signs a token as the previous issuer would have, with its kid.
fn sign_as_previous_issuer(alg: Algorithm, pem: &[u8], kid: &str) -> String {
    let signer: Box<dyn JwsSigner> = match alg {
        Algorithm::Rs256 => Box::new(RS256.signer_from_pem(pem).unwrap()),
        Algorithm::Ps256 => {
            let mut jwk = RS256.key_pair_from_pem(pem).unwrap().to_jwk_key_pair();
            jwk.set_algorithm("PS256");
            Box::new(PS256.signer_from_jwk(&jwk).unwrap())
        }
        Algorithm::Es256 => Box::new(ES256.signer_from_pem(pem).unwrap()),
        Algorithm::Es384 => Box::new(ES384.signer_from_pem(pem).unwrap()),
        Algorithm::EdDsa => Box::new(EdDSA.signer_from_pem(pem).unwrap()),
    };
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg.as_str(), "typ": "at+jwt", "kid": kid }).to_string());
    let claims = URL_SAFE_NO_PAD.encode(json!({ "sub": "legacy", "exp": 4_000_000_000_i64 }).to_string());
    let input = format!("{header}.{claims}");
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn imported_keys_keep_kid_and_old_tokens(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.additional_algs = vec![Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es384, Algorithm::EdDsa];
    })
    .await
    else {
        return;
    };

    for (alg, pem) in legacy_keys() {
        let kid = format!("legacy-{alg}");
        let old_token = sign_as_previous_issuer(alg, &pem, &kid);

        let imported = app.issuer.import_key(pem.clone(), Some(alg), Some(kid.clone()), false, "test").await.unwrap();

        assert_eq!(imported.kid, kid);
        assert_eq!(imported.alg, alg);
        assert_eq!(imported.state.as_str(), "pending");
        let jwks = app.jwks().await;
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|key| key["kid"] == kid.as_str()).unwrap();
        assert_eq!(jwk["alg"], alg.as_str());
        assert!(jwk.get("d").is_none());
        verify_with_jwks(&old_token, &jwks).unwrap_or_else(|error| panic!("{alg}: {error}"));
    }

    // The imported ES256 key signs once promoted.
    let rotation = app.issuer.rotate(Algorithm::Es256, true, "test").await.unwrap();
    assert_eq!(rotation.kid, "legacy-ES256");
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;
    let token = app.password_token("web", &secret, "alice", None).await;
    assert_eq!(decode_unverified(&token).0["kid"], "legacy-ES256");
    verify_with_jwks(&token, &app.jwks().await).unwrap();
}

fn master_key_text() -> MasterKeyText {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).unwrap();
    MasterKeyText(STANDARD.encode(bytes))
}

/// After `rewrap`, an instance that has only the new master key serves the
/// same keys and accepts the same generated client secrets.
async fn rewrap_moves_keys_to_new_master_key(backend: Backend) {
    let old_key = master_key_text();
    let new_key = master_key_text();
    let old = old_key.clone();
    let Some(app) = TestApp::spawn_with(backend, move |settings| {
        settings.master_key = Some(old);
        settings.additional_algs = vec![Algorithm::Rs256];
    })
    .await
    else {
        return;
    };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;
    let kids_before = app.jwks().await;

    let mut settings = (*app.issuer.settings).clone();
    settings.master_key = Some(new_key.clone());
    settings.previous_master_key = None;
    let failure = Issuer::open(settings.clone()).err().expect("the new master key alone cannot open the stored keys");
    assert!(failure.to_string().contains("cannot be unsealed"), "{failure}");

    let mut rotating = settings.clone();
    rotating.previous_master_key = Some(old_key);
    let rewrapped = Issuer::open(rotating).unwrap().rewrap().await.unwrap();
    assert_eq!(rewrapped, 3, "two signing keys and the client secret key");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    settings.listen = listener.local_addr().unwrap();
    let application = Application::build_on(settings, listener).await.unwrap();
    tokio::spawn(application.run_until_stopped());
    let jwks: Value = app.http.get(format!("{address}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks, kids_before);
    let response = app
        .http
        .post(format!("{address}/oauth2/token"))
        .header("Authorization", basic_header("web", &secret))
        .form(&[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A revoked key's material cannot come back under a new kid, and one key
/// cannot be stored twice.
async fn revoked_key_material_cannot_return(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let pem = legacy_keys().into_iter().find(|(alg, _)| *alg == Algorithm::Es256).unwrap().1;

    app.issuer.import_key(pem.clone(), None, Some("legacy".into()), false, "test").await.unwrap();
    let twice = app.issuer.import_key(pem.clone(), None, Some("again".into()), false, "test").await.unwrap_err();
    assert!(twice.to_string().contains("already stored as kid legacy"), "{twice}");

    app.issuer.revoke("legacy", "test").await.unwrap();
    let revived = app.issuer.import_key(pem, None, None, false, "test").await.unwrap_err();
    assert!(revived.to_string().contains("already stored as kid legacy (revoked)"), "{revived}");
}

/// An active key this instance cannot unseal (another master key sealed
/// it) must not leave the instance signing with an older key: the ring
/// follows the database, and the token endpoint answers 503.
async fn unloadable_active_key_stops_signing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = app.add_client_with(tessera::service::clients::ClientSpec {
        client_id: "batch".into(),
        public: false,
        grant_types: vec![tessera::oauth::GrantType::ClientCredentials],
        scopes: tessera::oauth::Scope::parse("jobs").unwrap(),
        audience: None,
        access_token_lifetime: None,
        chosen_secret: None,
        id_token_alg: None,
        jwks: None,
        auth_method: None,
        redirect_uris: Vec::new(),
    })
    .await
    .unwrap();

    // A key sealed by another instance's master key becomes active.
    let foreign = tessera::keys::MasterKey::generate();
    let generated = tessera::keys::generate(Algorithm::Es256).unwrap();
    let now = app.issuer.now();
    let key = tessera::keys::StoredKey {
        kid: generated.kid.clone(),
        alg: Algorithm::Es256,
        state: tessera::keys::KeyState::Active,
        sealed_private_key: foreign.seal(&generated.kid, &generated.private_jwk).unwrap(),
        master_key_id: foreign.id().to_owned(),
        public_jwk: generated.public_jwk.to_string(),
        created_at: now,
        activated_at: Some(now),
        retire_after: None,
        retired_at: None,
        promote_after: None,
        revoked_at: None,
    };
    let retire_after = now + chrono::TimeDelta::seconds(3600);
    app.issuer
        .db
        .run(move |conn| tessera::store::signing_keys::activate_new(conn, &key, retire_after, "test"))
        .await
        .unwrap();

    let reload = app.issuer.reload_ring().await.unwrap_err();
    assert!(reload.to_string().contains("cannot be unsealed"), "{reload}");
    let kids: Vec<String> = app.jwks().await["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    assert!(kids.contains(&generated.kid), "the ring follows the database");
    let response = app.token(&[("grant_type", "client_credentials")], Some(("batch", &secret))).await;
    assert_eq!(response.status(), 503);
}
