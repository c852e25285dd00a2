//! The refresh_token grant (RFC 6749 §6): rotation on every use, reuse
//! detection that revokes the family (RFC 9700 §4.14.2), scope narrowing,
//! and the lifetimes.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use tessera::clock::ManualClock;
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    refresh_rotates_and_detects_reuse,
    refresh_narrows_but_never_widens_scope,
    refresh_is_bound_to_client_and_user,
    refresh_tokens_expire,
    refresh_token_only_for_allowed_clients,
    parallel_refresh_chains_all_succeed,
);

async fn add_client(app: &TestApp, client_id: &str, grants: &[GrantType]) -> String {
    app.add_client_with(ClientSpec {
        client_id: client_id.into(),
        public: false,
        grant_types: grants.to_vec(),
        scopes: Scope::parse("read write").unwrap(),
        audience: None,
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

async fn login(app: &TestApp, client_id: &str, secret: &str) -> Value {
    let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "read write")];
    let response = app.token(&form, Some((client_id, secret))).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, client_id: &str, secret: &str, token: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.token(&form, Some((client_id, secret))).await
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

const BOTH: [GrantType; 2] = [GrantType::Password, GrantType::RefreshToken];

async fn refresh_rotates_and_detects_reuse(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = add_client(&app, "web", &BOTH).await;
    let first = login(&app, "web", &secret).await;
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(first_refresh.len(), 43);

    let response = refresh(&app, "web", &secret, &first_refresh, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(second["scope"], "read write");
    let (_, claims) = decode_unverified(second["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], app.issuer.list_users().await.unwrap()[0].id.to_string());

    // Replaying the used token fails and revokes the family, so the newer
    // token dies with it.
    assert_eq!(error_of(refresh(&app, "web", &secret, &first_refresh, None).await).await, (400, "invalid_grant".into()));
    assert_eq!(error_of(refresh(&app, "web", &secret, &second_refresh, None).await).await, (400, "invalid_grant".into()));

    // A new login starts a new family that works.
    let third = login(&app, "web", &secret).await;
    assert_eq!(refresh(&app, "web", &secret, third["refresh_token"].as_str().unwrap(), None).await.status(), 200);
}

async fn refresh_narrows_but_never_widens_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = add_client(&app, "web", &BOTH).await;
    let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "read")];
    let granted: Value = app.token(&form, Some(("web", &secret))).await.json().await.unwrap();
    let token = granted["refresh_token"].as_str().unwrap().to_owned();

    let wider = refresh(&app, "web", &secret, &token, Some("read write")).await;
    assert_eq!(error_of(wider).await, (400, "invalid_scope".into()));

    // The rejected attempt did not use the token up.
    let same = refresh(&app, "web", &secret, &token, Some("read")).await;
    assert_eq!(same.status(), 200);
    let body: Value = same.json().await.unwrap();
    assert_eq!(body["scope"], "read");
}

async fn refresh_is_bound_to_client_and_user(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let web = add_client(&app, "web", &BOTH).await;
    let other = add_client(&app, "other", &BOTH).await;
    let token = login(&app, "web", &web).await["refresh_token"].as_str().unwrap().to_owned();

    assert_eq!(error_of(refresh(&app, "other", &other, &token, None).await).await, (400, "invalid_grant".into()));
    assert_eq!(error_of(refresh(&app, "web", &web, "unknown-token", None).await).await, (400, "invalid_grant".into()));

    app.issuer.disable_user("alice".into()).await.unwrap();
    assert_eq!(error_of(refresh(&app, "web", &web, &token, None).await).await, (400, "invalid_grant".into()));

    app.issuer.disable_client("web".into()).await.unwrap();
    assert_eq!(error_of(refresh(&app, "web", &web, &token, None).await).await, (401, "invalid_client".into()));
}

/// Each token lives refresh_token_lifetime; the family ends
/// refresh_token_max_lifetime after it started, however often it is used.
async fn refresh_tokens_expire(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let Some(app) = TestApp::spawn_with_clock(
        backend,
        |settings| {
            settings.refresh_token_lifetime = 3600;
            settings.refresh_token_max_lifetime = 3 * 3600;
        },
        clock.clone(),
    )
    .await
    else {
        return;
    };
    app.add_user("alice", false).await;
    let secret = add_client(&app, "web", &BOTH).await;

    let stale = login(&app, "web", &secret).await["refresh_token"].as_str().unwrap().to_owned();
    clock.advance(TimeDelta::seconds(3601));
    assert_eq!(error_of(refresh(&app, "web", &secret, &stale, None).await).await, (400, "invalid_grant".into()));

    let mut token = login(&app, "web", &secret).await["refresh_token"].as_str().unwrap().to_owned();
    // Three uses 3000 s apart stay within both lifetimes (9000 s of 10800).
    for _ in 0..3 {
        clock.advance(TimeDelta::seconds(3000));
        let response = refresh(&app, "web", &secret, &token, None).await;
        assert_eq!(response.status(), 200, "refresh failed within the family lifetime");
        token = response.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();
    }
    // The last token would live until 12600 s, but the family ends at 10800.
    clock.advance(TimeDelta::seconds(1900));
    assert_eq!(error_of(refresh(&app, "web", &secret, &token, None).await).await, (400, "invalid_grant".into()));
}

async fn refresh_token_only_for_allowed_clients(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let password_only = add_client(&app, "web", &[GrantType::Password]).await;
    let machine = add_client(&app, "batch", &[GrantType::ClientCredentials, GrantType::RefreshToken]).await;

    assert!(login(&app, "web", &password_only).await.get("refresh_token").is_none());
    let response = app.token(&[("grant_type", "client_credentials")], Some(("batch", &machine))).await;
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "client_credentials never gets a refresh token");
    let denied = refresh(&app, "web", &password_only, "anything", None).await;
    assert_eq!(error_of(denied).await, (400, "unauthorized_client".into()));
}

/// Several clients refreshing at once, while the audit writer writes too,
/// must all succeed: on SQLite a transaction that read before writing used
/// to fail at once with "database is locked" (503).
async fn parallel_refresh_chains_all_succeed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = add_client(&app, "web", &BOTH).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(login(&app, "web", &secret).await["refresh_token"].as_str().unwrap().to_owned());
    }

    let chains = tokens.into_iter().map(|mut token| {
        let (app, secret) = (&app, secret.clone());
        async move {
            for step in 0..10 {
                let response = refresh(app, "web", &secret, &token, None).await;
                assert_eq!(response.status(), 200, "refresh {step} failed");
                token = response.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();
            }
        }
    });
    futures_util::future::join_all(chains).await;
}
