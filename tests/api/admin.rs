//! The admin API: bearer-token protection (RFC 6750) and key rotation.

use serde_json::Value;
use tessera::oauth::{GrantType, Scope};
use tessera::service::accounts::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    admin_call_without_token_gets_bearer_challenge,
    admin_call_with_invalid_token_is_401,
    admin_call_without_admin_scope_is_403,
    admin_token_for_other_audience_is_rejected,
    disabled_admin_token_is_rejected,
    rotation_keeps_previous_key_published,
    rotation_to_another_algorithm_publishes_it,
    rotation_with_unknown_alg_is_400,
    retired_key_leaves_jwks,
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

async fn rotation_keeps_previous_key_published(backend: Backend) {
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
    assert_eq!(rotation["state"], "active");
    assert_eq!(rotation["previous"]["kid"], old_kid.as_str());
    assert_eq!(rotation["previous"]["state"], "retiring");

    let jwks = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_ne!(jwks.headers()["etag"], old_etag, "the ETag changes with the key set");
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(kids(&jwks), vec![old_kid.clone(), new_kid.clone()]);

    let secret = app.add_client("web", "read").await;
    app.add_user("alice", false).await;
    let fresh = app.password_token("web", &secret, "alice", None).await;
    assert_eq!(decode_unverified(&fresh).0["kid"], new_kid.as_str());

    // The old token still opens the admin API: its key is still published.
    assert_eq!(rotate(&app, &token, "").await.status(), 200);
}

async fn rotation_to_another_algorithm_publishes_it(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;

    let response = rotate(&app, &token, "?alg=RS256").await;

    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    assert_eq!(rotation["alg"], "RS256");
    assert!(rotation["previous"].is_null(), "no RS256 key existed before");
    let jwks = app.jwks().await;
    let rsa = jwks["keys"].as_array().unwrap().iter().find(|key| key["alg"] == "RS256").unwrap();
    assert_eq!(rsa["kty"], "RSA");
    assert!(rsa.get("d").is_none());
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
}

async fn rotation_with_unknown_alg_is_400(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;

    for query in ["?alg=HS256", "?alg=none", "?kid=x"] {
        let response = rotate(&app, &token, query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    assert_eq!(app.jwks().await["keys"].as_array().unwrap().len(), 1, "nothing was rotated");
}

/// Once its grace period has passed, a retiring key is no longer
/// published. The grace period is moved into the past in the database, as
/// waiting for it in real time would take an hour.
async fn retired_key_leaves_jwks(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    let old_kid = decode_unverified(&token).0["kid"].as_str().unwrap().to_owned();
    rotate(&app, &token, "").await;

    let past = tessera::store::now() - chrono::TimeDelta::seconds(1);
    let kid = old_kid.clone();
    app.issuer
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use tessera::store::schema::signing_keys;
            diesel::update(signing_keys::table.find(kid)).set(signing_keys::retire_after.eq(past)).execute(conn)
        })
        .await
        .unwrap();
    assert!(app.issuer.reload_ring().await.unwrap());

    assert!(!kids(&app.jwks().await).contains(&old_kid));
    let keys = app.issuer.list_keys().await.unwrap();
    let old = keys.iter().find(|key| key.kid == old_kid).unwrap();
    assert_eq!(old.state.as_str(), "retired");
    assert!(old.retired_at.is_some());
}

async fn key_list_shows_states_without_private_material(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    rotate(&app, &token, "").await;

    let response = app.http.get(app.url("/admin/keys")).bearer_auth(&token).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for forbidden in ["sealed", "private", "\"d\""] {
        assert!(!text.contains(forbidden), "the key list contains {forbidden}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let states: Vec<&str> = body["keys"].as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["retiring", "active"]);
    assert!(body["keys"][0]["retire_after"].as_str().unwrap().ends_with('Z'));
}
