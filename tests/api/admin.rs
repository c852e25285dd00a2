//! The admin API: bearer-token protection (RFC 6750) and key rotation.

use serde_json::Value;
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    admin_call_without_token_gets_bearer_challenge,
    admin_call_with_invalid_token_is_401,
    admin_call_without_admin_scope_is_403,
    admin_token_for_other_audience_is_rejected,
    disabled_admin_token_is_rejected,
    staged_rotation_publishes_pending_key,
    forced_rotation_signs_at_once,
    forced_rotation_promotes_staged_key,
    rotation_of_disabled_algorithm_is_400,
    additional_algorithm_has_own_ring,
    rotation_with_unknown_alg_is_400,
    revoked_key_leaves_jwks_and_tokens_fail,
    revocation_elsewhere_is_enforced_at_once,
    jwk_by_kid_returns_one_key,
    key_list_shows_states_without_private_material,
);

async fn rotate(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/admin/keys/rotate{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|key| key["kid"].as_str().unwrap().to_owned()).collect()
}

/// RFC 6750 §3.1: a request without a token gets a challenge and no error
/// code in it.
async fn admin_call_without_token_gets_bearer_challenge(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let response = app.http.post(app.url("/admin/keys/rotate")).send().await.unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"tessera\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

async fn admin_call_with_invalid_token_is_401(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let (header, payload) = token.split_once('.').unwrap();
    let forged = format!("{header}.{}", payload.replacen('e', "f", 1));

    for bad in ["not-a-jwt", "a.b.c", forged.as_str()] {
        let response = rotate(&app, bad, "").await;
        assert_eq!(response.status(), 401, "{bad}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer realm=\"tessera\", error=\"invalid_token\""), "{challenge}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

async fn admin_call_without_admin_scope_is_403(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("root", true).await;
    let secret = app.add_client("web", "read admin").await;
    let token = app.password_token("web", &secret, "root", Some("read")).await;

    let response = rotate(&app, &token, "").await;

    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

/// A token minted for another resource server must not open the admin API
/// (RFC 9068 §4: the audience must match).
async fn admin_token_for_other_audience_is_rejected(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("root", true).await;
    let secret = app
        .add_client_with(ClientSpec {
            client_id: "orders".into(),
            public: false,
            grant_types: vec![GrantType::Password],
            scopes: Scope::parse("admin").unwrap(),
            audience: Some("https://orders.example".into()),
            access_token_lifetime: None,
            chosen_secret: None,
            id_token_alg: None,
            jwks: None,
            auth_method: None,
            redirect_uris: Vec::new(),
        })
        .await
        .unwrap();
    let token = app.password_token("orders", &secret, "root", Some("admin")).await;

    let response = rotate(&app, &token, "").await;

    assert_eq!(response.status(), 401);
}

async fn disabled_admin_token_is_rejected(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    app.issuer.disable_user("root".into()).await.unwrap();

    let response = rotate(&app, &token, "").await;

    assert_eq!(response.status(), 401);
}

/// A staged rotation publishes the new key at once and keeps signing with
/// the current one until the staging delay has passed.
async fn staged_rotation_publishes_pending_key(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let old_kid = decode_unverified(&token).0["kid"].as_str().unwrap().to_owned();
    let old_etag = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().headers()["etag"].clone();

    let response = rotate(&app, &token, "").await;

    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    let new_kid = rotation["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(rotation["alg"], "ES256");
    assert_eq!(rotation["state"], "pending");
    assert!(rotation["promote_after"].as_str().unwrap().ends_with('Z'));
    assert!(rotation.get("previous").is_none());

    let jwks = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_ne!(jwks.headers()["etag"], old_etag, "the ETag changes with the key set");
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(kids(&jwks), vec![old_kid.clone(), new_kid.clone()]);

    let fresh = app.password_token("admin-cli", &app.admin_secret().await, "root", Some("admin")).await;
    assert_eq!(decode_unverified(&fresh).0["kid"], old_kid.as_str(), "a pending key does not sign");

    let again = rotate(&app, &token, "").await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "conflict");
}

async fn forced_rotation_signs_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let old_kid = decode_unverified(&token).0["kid"].as_str().unwrap().to_owned();

    let response = rotate(&app, &token, "?force=true").await;

    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    let new_kid = rotation["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotation["state"], "active");
    assert_eq!(rotation["previous"]["kid"], old_kid.as_str());
    assert_eq!(rotation["previous"]["state"], "retiring");
    assert!(rotation["warning"].as_str().unwrap().contains("cached JWKS"));
    assert_eq!(kids(&app.jwks().await), vec![old_kid.clone(), new_kid.clone()]);

    let fresh = app.password_token("admin-cli", &app.admin_secret().await, "root", Some("admin")).await;
    assert_eq!(decode_unverified(&fresh).0["kid"], new_kid.as_str());
    // The old token still opens the admin API: its key is still published.
    assert_eq!(app.http.get(app.url("/admin/keys")).bearer_auth(&token).send().await.unwrap().status(), 200);
}

/// A forced rotation promotes the staged key, which verifiers already know,
/// rather than a new one.
async fn forced_rotation_promotes_staged_key(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let staged: Value = rotate(&app, &token, "").await.json().await.unwrap();

    let forced: Value = rotate(&app, &token, "?force=true").await.json().await.unwrap();

    assert_eq!(forced["kid"], staged["kid"]);
    assert_eq!(forced["state"], "active");
    assert_eq!(app.jwks().await["keys"].as_array().unwrap().len(), 2);
}

async fn rotation_of_disabled_algorithm_is_400(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;

    let response = rotate(&app, &token, "?alg=RS256").await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "RS256 is not enabled: add it to signing_alg or additional_algs");
}

/// Each enabled algorithm has its own key ring, and the JWKS lists all.
async fn additional_algorithm_has_own_ring(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.additional_algs = vec![tessera::keys::Algorithm::Rs256];
    })
    .await
    else {
        return;
    };
    let token = app.admin_token().await;
    let algs = |jwks: &Value| -> Vec<String> {
        jwks["keys"].as_array().unwrap().iter().map(|key| key["alg"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(algs(&app.jwks().await), ["ES256", "RS256"]);
    assert_eq!(decode_unverified(&token).0["alg"], "ES256", "access tokens use signing_alg");

    let response = rotate(&app, &token, "?alg=RS256&force=true").await;

    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    assert_eq!(rotation["alg"], "RS256");
    let jwks = app.jwks().await;
    assert_eq!(algs(&jwks), ["ES256", "RS256", "RS256"]);
    let rsa = jwks["keys"].as_array().unwrap().iter().find(|key| key["kid"] == rotation["kid"]).unwrap();
    assert_eq!(rsa["kty"], "RSA");
    assert!(rsa.get("d").is_none());
}

async fn rotation_with_unknown_alg_is_400(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;

    for query in ["?alg=HS256", "?alg=none", "?kid=x", "?force=yes"] {
        let response = rotate(&app, &token, query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    assert_eq!(app.jwks().await["keys"].as_array().unwrap().len(), 1, "nothing was rotated");
}

/// Revoking the active key withdraws it at once, a new key signs in its
/// place, and no token it signed is accepted any more.
async fn revoked_key_leaves_jwks_and_tokens_fail(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let kid = decode_unverified(&token).0["kid"].as_str().unwrap().to_owned();
    let second_admin_token = app.password_token("admin-cli", &app.admin_secret().await, "root", Some("admin")).await;

    let response = app.http.post(app.url(&format!("/admin/keys/{kid}/revoke"))).bearer_auth(&token).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let revocation: Value = response.json().await.unwrap();
    assert_eq!(revocation["kid"], kid.as_str());
    assert_eq!(revocation["state"], "revoked");
    assert_eq!(revocation["previous_state"], "active");
    let replacement = revocation["replaced_by"].as_str().unwrap().to_owned();
    assert_eq!(kids(&app.jwks().await), vec![replacement.clone()]);

    let rejected = app.http.get(app.url("/admin/keys")).bearer_auth(&second_admin_token).send().await.unwrap();
    assert_eq!(rejected.status(), 401);
    let by_kid = app.http.get(app.url(&format!("/.well-known/jwks/{kid}"))).send().await.unwrap();
    assert_eq!(by_kid.status(), 404);

    let fresh = app.password_token("admin-cli", &app.admin_secret().await, "root", Some("admin")).await;
    assert_eq!(decode_unverified(&fresh).0["kid"], replacement.as_str());
    let again = app.http.post(app.url(&format!("/admin/keys/{kid}/revoke"))).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(again.status(), 404, "a key is revoked once");
    let unknown = app.http.post(app.url("/admin/keys/nope/revoke")).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

/// A revocation made on another instance (here: straight in the database)
/// is enforced before this instance reloads its ring.
async fn revocation_elsewhere_is_enforced_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let kid = decode_unverified(&token).0["kid"].as_str().unwrap().to_owned();

    app.issuer
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use tessera::store::schema::signing_keys;
            diesel::update(signing_keys::table.find(kid)).set(signing_keys::state.eq("revoked")).execute(conn)
        })
        .await
        .unwrap();

    let response = app.http.get(app.url("/admin/keys")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

async fn jwk_by_kid_returns_one_key(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let jwks = app.jwks().await;
    let kid = kids(&jwks)[0].clone();

    let response = app.http.get(app.url(&format!("/.well-known/jwks/{kid}"))).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300, stale-while-revalidate=60");
    let jwk: Value = response.json().await.unwrap();
    assert_eq!(jwk, jwks["keys"][0]);
    let missing = app.http.get(app.url("/.well-known/jwks/unknown")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

async fn key_list_shows_states_without_private_material(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    rotate(&app, &token, "?force=true").await;
    rotate(&app, &token, "").await;

    let response = app.http.get(app.url("/admin/keys")).bearer_auth(&token).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for forbidden in ["sealed", "private", "\"d\""] {
        assert!(!text.contains(forbidden), "the key list contains {forbidden}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys = body["keys"].as_array().unwrap();
    let states: Vec<&str> = keys.iter().map(|k| k["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["retiring", "active", "pending"]);
    assert!(keys[0]["retire_after"].as_str().unwrap().ends_with('Z'));
    assert!(keys[2]["promote_after"].as_str().unwrap().ends_with('Z'));
}
