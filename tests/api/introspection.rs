//! Introspection (RFC 7662), revocation (RFC 7009) and userinfo (OpenID
//! Connect Core §5.3).

use serde_json::{Value, json};
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    introspection_reports_active_and_inactive_tokens,
    introspection_requires_confidential_client,
    revocation_kills_refresh_family,
    revocation_of_access_token_is_unsupported,
    userinfo_needs_openid_scope,
);

async fn setup(app: &TestApp) -> String {
    app.add_user("alice", false).await;
    app.add_client_with(ClientSpec {
        client_id: "web".into(),
        public: false,
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        scopes: Scope::parse("openid profile read").unwrap(),
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

async fn login(app: &TestApp, secret: &str, scope: &str) -> Value {
    let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", scope)];
    app.token(&form, Some(("web", secret))).await.json().await.unwrap()
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = app.http.post(app.url(path)).form(form);
    if let Some((id, secret)) = basic {
        request = request.header("Authorization", basic_header(id, secret));
    }
    request.send().await.unwrap()
}

async fn introspection_reports_active_and_inactive_tokens(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = setup(&app).await;
    let granted = login(&app, &secret, "read").await;
    let access = granted["access_token"].as_str().unwrap();
    let refresh = granted["refresh_token"].as_str().unwrap();
    let user_id = app.issuer.list_users().await.unwrap()[0].id.to_string();

    let response = post(&app, "/oauth2/introspect", &[("token", access)], Some(("web", &secret))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    assert_eq!(body["client_id"], "web");
    assert_eq!(body["sub"], user_id.as_str());
    assert_eq!(body["iss"], app.address.as_str());

    let body: Value = post(&app, "/oauth2/introspect", &[("token", refresh), ("token_type_hint", "refresh_token")], Some(("web", &secret)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(body["sub"], user_id.as_str());

    let tampered = format!("{}x", access);
    for token in ["garbage", tampered.as_str()] {
        let body: Value = post(&app, "/oauth2/introspect", &[("token", token)], Some(("web", &secret))).await.json().await.unwrap();
        assert_eq!(body, json!({ "active": false }), "{token}");
    }
}

async fn introspection_requires_confidential_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = setup(&app).await;
    let access = login(&app, &secret, "read").await["access_token"].as_str().unwrap().to_owned();

    let anonymous = post(&app, "/oauth2/introspect", &[("token", access.as_str())], None).await;
    assert_eq!(anonymous.status(), 400);
    let wrong = post(&app, "/oauth2/introspect", &[("token", access.as_str())], Some(("web", "wrong"))).await;
    assert_eq!(wrong.status(), 401);
    let missing = post(&app, "/oauth2/introspect", &[], Some(("web", &secret))).await;
    assert_eq!(missing.status(), 400);
}

/// RFC 7009: revoking a refresh token ends its family; unknown tokens are
/// not an error; another client's token is refused.
async fn revocation_kills_refresh_family(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = setup(&app).await;
    let other = app.add_client("other", "read").await;
    let refresh = login(&app, &secret, "read").await["refresh_token"].as_str().unwrap().to_owned();

    let foreign = post(&app, "/oauth2/revoke", &[("token", refresh.as_str())], Some(("other", &other))).await;
    assert_eq!(foreign.status(), 400);
    let unauthenticated = post(&app, "/oauth2/revoke", &[("token", refresh.as_str())], Some(("web", "wrong"))).await;
    assert_eq!(unauthenticated.status(), 401);
    let missing = post(&app, "/oauth2/revoke", &[], Some(("web", &secret))).await;
    assert_eq!(missing.status(), 400);

    let revoked = post(&app, "/oauth2/revoke", &[("token", refresh.as_str())], Some(("web", &secret))).await;
    assert_eq!(revoked.status(), 200);
    assert!(revoked.bytes().await.unwrap().is_empty());
    let unknown = post(&app, "/oauth2/revoke", &[("token", "no-such-token")], Some(("web", &secret))).await;
    assert_eq!(unknown.status(), 200);

    let refreshed = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())], Some(("web", &secret))).await;
    assert_eq!(refreshed.status(), 400);
    let body: Value = post(&app, "/oauth2/introspect", &[("token", refresh.as_str())], Some(("web", &secret))).await.json().await.unwrap();
    assert_eq!(body["active"], false);
}

async fn revocation_of_access_token_is_unsupported(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = setup(&app).await;
    let access = login(&app, &secret, "read").await["access_token"].as_str().unwrap().to_owned();

    let response = post(&app, "/oauth2/revoke", &[("token", access.as_str()), ("token_type_hint", "access_token")], Some(("web", &secret))).await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_token_type");
}

async fn userinfo_needs_openid_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = setup(&app).await;
    let with_openid = login(&app, &secret, "openid profile").await["access_token"].as_str().unwrap().to_owned();
    let without = login(&app, &secret, "read").await["access_token"].as_str().unwrap().to_owned();
    let user_id = app.issuer.list_users().await.unwrap()[0].id.to_string();

    for request in [app.http.get(app.url("/oauth2/userinfo")), app.http.post(app.url("/oauth2/userinfo"))] {
        let response = request.bearer_auth(&with_openid).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "sub": user_id, "preferred_username": "alice" }));
    }

    let forbidden = app.http.get(app.url("/oauth2/userinfo")).bearer_auth(&without).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    let anonymous = app.http.get(app.url("/oauth2/userinfo")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer realm=\"tessera\"");
}
