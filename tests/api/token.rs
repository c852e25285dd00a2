//! The token endpoint: grants and client authentication (RFC 6749 §2.3,
//! §4.3, §4.4, §5).

use serde_json::{Value, json};
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    password_grant_issues_rfc9068_token,
    client_secret_post_authenticates,
    basic_credentials_are_form_url_decoded,
    public_client_sends_only_client_id,
    public_client_with_secret_is_invalid_client,
    confidential_client_without_secret_is_invalid_client,
    wrong_basic_secret_gets_401_challenge,
    unknown_client_is_invalid_client,
    two_client_auth_methods_are_invalid_request,
    unknown_user_and_wrong_password_look_alike,
    disabled_user_is_invalid_grant,
    grant_not_registered_is_unauthorized_client,
    unknown_grant_type_is_unsupported,
    missing_password_is_invalid_request,
    scope_beyond_client_is_invalid_scope,
    admin_scope_for_regular_user_is_invalid_scope,
    omitted_scope_defaults_to_client_scopes,
    client_audience_and_lifetime_apply,
    lifetime_setting_applies_by_default,
    client_credentials_token_has_client_subject,
    saturated_hash_pool_returns_503,
);

fn spec(client_id: &str, grants: &[GrantType], scope: &str) -> ClientSpec {
    ClientSpec {
        client_id: client_id.to_owned(),
        public: false,
        grant_types: grants.to_vec(),
        scopes: Scope::parse(scope).unwrap(),
        audience: None,
        access_token_lifetime: None,
        chosen_secret: None,
        id_token_alg: None,
        jwks: None,
        auth_method: None,
        redirect_uris: Vec::new(),
    }
}

fn password_form<'a>(username: &'a str, password: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("grant_type", "password"), ("username", username), ("password", password)]
}

/// Asserts status and the exact RFC 6749 §5.2 error body, and returns the
/// response headers.
async fn assert_oauth_error(response: reqwest::Response, status: u16, code: &str) -> reqwest::header::HeaderMap {
    assert_eq!(response.status(), status);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    headers
}

async fn password_grant_issues_rfc9068_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let user = app.add_user("alice", false).await;
    let secret = app.add_client("web", "read write").await;

    let mut form = password_form("alice", PASSWORD);
    form.push(("scope", "read"));
    let response = app.token(&form, Some(("web", &secret))).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read");
    let (header, claims) = decode_unverified(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    assert_eq!(claims["iss"], json!(app.address));
    assert_eq!(claims["sub"], json!(user.id.to_string()), "sub is the user's id, not the username");
    assert_eq!(claims["aud"], json!(app.address));
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "read");
    let issued_at = claims["iat"].as_i64().expect("iat is an integer");
    assert_eq!(claims["exp"].as_i64().expect("exp is an integer"), issued_at + 900);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
}

async fn client_secret_post_authenticates(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;

    let mut form = password_form("alice", PASSWORD);
    form.extend([("client_id", "web"), ("client_secret", secret.as_str())]);
    let response = app.token(&form, None).await;

    assert_eq!(response.status(), 200);
}

/// RFC 6749 §2.3.1: Basic carries the form-url-encoded id and secret.
async fn basic_credentials_are_form_url_decoded(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let chosen = "p:ss%w rd+plus-long-enough";
    let mut client = spec("web", &[GrantType::Password], "read");
    client.chosen_secret = Some(chosen.to_owned());
    assert_eq!(app.add_client_with(client).await, None, "a chosen secret is not echoed");

    let encoded = "p%3Ass%25w+rd%2Bplus-long-enough";
    let response = app.token(&password_form("alice", PASSWORD), Some(("web", encoded))).await;
    assert_eq!(response.status(), 200);

    let raw = app.token(&password_form("alice", PASSWORD), Some(("web", chosen))).await;
    assert_oauth_error(raw, 401, "invalid_client").await;
}

async fn public_client_sends_only_client_id(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let mut client = spec("spa", &[GrantType::Password], "read");
    client.public = true;
    assert_eq!(app.add_client_with(client).await, None, "a public client has no secret");

    let mut form = password_form("alice", PASSWORD);
    form.push(("client_id", "spa"));
    let response = app.token(&form, None).await;

    assert_eq!(response.status(), 200);
}

async fn public_client_with_secret_is_invalid_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let mut client = spec("spa", &[GrantType::Password], "read");
    client.public = true;
    app.add_client_with(client).await;

    let mut form = password_form("alice", PASSWORD);
    form.extend([("client_id", "spa"), ("client_secret", "anything")]);
    let headers = assert_oauth_error(app.token(&form, None).await, 401, "invalid_client").await;

    assert!(headers.get("www-authenticate").is_none(), "no Basic was used, so no challenge");
}

async fn confidential_client_without_secret_is_invalid_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    app.add_client("web", "read").await;

    let mut form = password_form("alice", PASSWORD);
    form.push(("client_id", "web"));
    assert_oauth_error(app.token(&form, None).await, 401, "invalid_client").await;
}

/// RFC 6749 §5.2: a client that used Basic gets 401 with a challenge.
async fn wrong_basic_secret_gets_401_challenge(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    app.add_client("web", "read").await;

    let response = app.token(&password_form("alice", PASSWORD), Some(("web", "wrong"))).await;
    let headers = assert_oauth_error(response, 401, "invalid_client").await;

    assert_eq!(headers["www-authenticate"], "Basic realm=\"tessera\"");
}

async fn unknown_client_is_invalid_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;

    let response = app.token(&password_form("alice", PASSWORD), Some(("nobody", "secret"))).await;
    assert_oauth_error(response, 401, "invalid_client").await;
}

/// RFC 6749 §2.3: a client must not use more than one method.
async fn two_client_auth_methods_are_invalid_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;

    let mut form = password_form("alice", PASSWORD);
    form.push(("client_secret", secret.as_str()));
    let response = app.token(&form, Some(("web", &secret))).await;
    assert_oauth_error(response, 400, "invalid_request").await;
}

async fn unknown_user_and_wrong_password_look_alike(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;

    let wrong_password = app.token(&password_form("alice", "not the password"), Some(("web", &secret))).await;
    let unknown_user = app.token(&password_form("mallory", "not the password"), Some(("web", &secret))).await;

    assert_eq!(wrong_password.status(), 400);
    assert_eq!(unknown_user.status(), 400);
    let wrong_password: Value = wrong_password.json().await.unwrap();
    let unknown_user: Value = unknown_user.json().await.unwrap();
    assert_eq!(wrong_password["error"], "invalid_grant");
    assert_eq!(wrong_password, unknown_user);
}

async fn disabled_user_is_invalid_grant(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;
    app.issuer.disable_user("alice".into()).await.unwrap();

    let response = app.token(&password_form("alice", PASSWORD), Some(("web", &secret))).await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

async fn grant_not_registered_is_unauthorized_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client_with(spec("machine", &[GrantType::ClientCredentials], "read")).await.unwrap();

    let response = app.token(&password_form("alice", PASSWORD), Some(("machine", &secret))).await;
    assert_oauth_error(response, 400, "unauthorized_client").await;
}

async fn unknown_grant_type_is_unsupported(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = app.add_client("web", "read").await;

    let form = [("grant_type", "authorization_code"), ("code", "x")];
    let response = app.token(&form, Some(("web", &secret))).await;
    assert_oauth_error(response, 400, "unsupported_grant_type").await;
}

async fn missing_password_is_invalid_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = app.add_client("web", "read").await;

    let form = [("grant_type", "password"), ("username", "alice")];
    let response = app.token(&form, Some(("web", &secret))).await;
    assert_oauth_error(response, 400, "invalid_request").await;
}

async fn scope_beyond_client_is_invalid_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;

    let mut form = password_form("alice", PASSWORD);
    form.push(("scope", "read delete"));
    assert_oauth_error(app.token(&form, Some(("web", &secret))).await, 400, "invalid_scope").await;
}

async fn admin_scope_for_regular_user_is_invalid_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read admin").await;

    let mut form = password_form("alice", PASSWORD);
    form.push(("scope", "admin"));
    assert_oauth_error(app.token(&form, Some(("web", &secret))).await, 400, "invalid_scope").await;
}

async fn omitted_scope_defaults_to_client_scopes(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("root", true).await;
    let secret = app.add_client("web", "read write admin").await;

    let response = app.token(&password_form("root", PASSWORD), Some(("web", &secret))).await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read write", "admin must be requested explicitly");
}

async fn client_audience_and_lifetime_apply(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let mut client = spec("orders-ui", &[GrantType::Password], "orders:read");
    client.audience = Some("https://orders.example".into());
    client.access_token_lifetime = Some(120);
    let secret = app.add_client_with(client).await.unwrap();

    let response = app.token(&password_form("alice", PASSWORD), Some(("orders-ui", &secret))).await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    let (_, claims) = decode_unverified(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://orders.example");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
}

async fn lifetime_setting_applies_by_default(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| settings.access_token_lifetime = 60).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;

    let response = app.token(&password_form("alice", PASSWORD), Some(("web", &secret))).await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let (_, claims) = decode_unverified(body["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);
}

async fn client_credentials_token_has_client_subject(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = app.add_client_with(spec("batch", &[GrantType::ClientCredentials], "reports admin")).await.unwrap();

    let response = app.token(&[("grant_type", "client_credentials")], Some(("batch", &secret))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "reports");
    let (_, claims) = decode_unverified(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "batch");
    assert_eq!(claims["client_id"], "batch");

    let admin = app.token(&[("grant_type", "client_credentials"), ("scope", "admin")], Some(("batch", &secret))).await;
    assert_oauth_error(admin, 400, "invalid_scope").await;
}

/// With one hashing worker and no queue, a burst of logins must be turned
/// away with 503 at once rather than queue; unknown users count too, since
/// their path also runs one argon2 verification.
async fn saturated_hash_pool_returns_503(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.hash_workers = 1;
        settings.hash_queue = 0;
    })
    .await
    else {
        return;
    };
    let secret = app.add_client("web", "read").await;

    let requests = (0..24).map(|i| {
        let username = format!("nobody-{i}");
        let app = &app;
        let secret = secret.clone();
        async move { app.token(&password_form(&username, "wrong password"), Some(("web", &secret))).await }
    });
    let responses = futures_util::future::join_all(requests).await;

    let mut busy = 0;
    for response in responses {
        match response.status().as_u16() {
            400 => {}
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(busy > 0, "no request was turned away while the pool was full");
}

mod resource_indicators {
    //! RFC 8707: the `resource` parameter picks the access token's `aud`.

    use serde_json::Value;
    use tessera::oauth::{GrantType, Scope};
    use tessera::service::clients::ClientSpec;

    use crate::backend_tests;
    use crate::helpers::*;

    backend_tests!(resource_selects_registered_audience);

    async fn resource_selects_registered_audience(backend: Backend) {
        let Some(app) = TestApp::spawn(backend).await else { return };
        let secret = app
            .add_client_with(ClientSpec {
                client_id: "gateway".into(),
                public: false,
                grant_types: vec![GrantType::ClientCredentials],
                scopes: Scope::parse("read").unwrap(),
                audience: Some("https://orders.example https://billing.example".into()),
                access_token_lifetime: None,
                chosen_secret: None,
                id_token_alg: None,
                jwks: None,
                auth_method: None,
                redirect_uris: Vec::new(),
            })
            .await
            .unwrap();
        let aud = |body: &Value| decode_unverified(body["access_token"].as_str().unwrap()).1["aud"].clone();

        let default: Value = app.token(&[("grant_type", "client_credentials")], Some(("gateway", &secret))).await.json().await.unwrap();
        assert_eq!(aud(&default), "https://orders.example", "the first audience is the default");

        for parameter in ["resource", "audience"] {
            let form = [("grant_type", "client_credentials"), (parameter, "https://billing.example")];
            let chosen: Value = app.token(&form, Some(("gateway", &secret))).await.json().await.unwrap();
            assert_eq!(aud(&chosen), "https://billing.example", "{parameter}");
        }

        let unknown = app
            .token(&[("grant_type", "client_credentials"), ("resource", "https://evil.example")], Some(("gateway", &secret)))
            .await;
        assert_eq!(unknown.status(), 400);
        let body: Value = unknown.json().await.unwrap();
        assert_eq!(body["error"], "invalid_target");

        let conflicting = app
            .token(
                &[("grant_type", "client_credentials"), ("resource", "https://orders.example"), ("audience", "https://billing.example")],
                Some(("gateway", &secret)),
            )
            .await;
        assert_eq!(conflicting.status(), 400);
    }
}
