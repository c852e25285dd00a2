//! The admin API for users and clients, and the audit trail.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    admin_manages_users,
    admin_manages_clients,
    admin_input_is_validated_field_by_field,
    audit_records_actions_and_grants_without_secrets,
);

async fn call(app: &TestApp, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn admin_manages_users(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    use reqwest::Method;

    let created = call(&app, &token, Method::POST, "/admin/users", Some(json!({ "username": "bob", "password": "a long password" }))).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let bob: Value = created.json().await.unwrap();
    assert_eq!(bob["username"], "bob");
    assert_eq!(bob["admin"], false);
    assert!(bob.get("password").is_none() && bob.get("password_hash").is_none());
    let id = bob["id"].as_str().unwrap().to_owned();

    let duplicate = call(&app, &token, Method::POST, "/admin/users", Some(json!({ "username": "bob", "password": "a long password" }))).await;
    assert_eq!(duplicate.status(), 409);

    let listed: Value = call(&app, &token, Method::GET, "/admin/users", None).await.json().await.unwrap();
    assert_eq!(listed["users"].as_array().unwrap().len(), 2);
    let read: Value = call(&app, &token, Method::GET, &format!("/admin/users/{id}"), None).await.json().await.unwrap();
    assert_eq!(read, bob);

    let patched = call(&app, &token, Method::PATCH, &format!("/admin/users/{id}"), Some(json!({ "password": "another long one", "admin": true }))).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(patched.json::<Value>().await.unwrap()["admin"], true);
    let secret = app.add_client("web", "read").await;
    let form = [("grant_type", "password"), ("username", "bob"), ("password", "another long one")];
    assert_eq!(app.token(&form, Some(("web", &secret))).await.status(), 200, "the new password works");

    assert_eq!(call(&app, &token, Method::DELETE, &format!("/admin/users/{id}"), None).await.status(), 204);
    assert_eq!(call(&app, &token, Method::GET, &format!("/admin/users/{id}"), None).await.status(), 404);
    assert_eq!(call(&app, &token, Method::GET, "/admin/users/not-a-uuid", None).await.status(), 404);
    let root = app.issuer.list_users().await.unwrap()[0].id;
    assert_eq!(call(&app, &token, Method::DELETE, &format!("/admin/users/{root}"), None).await.status(), 409, "no self-deletion");
}

async fn admin_manages_clients(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    use reqwest::Method;

    let body = json!({
        "client_id": "reports",
        "grant_types": ["client_credentials"],
        "scope": "reports:read",
        "audiences": ["https://reports.example"],
        "access_token_lifetime": 300,
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": ["https://reports.example/callback"],
    });
    let created = call(&app, &token, Method::POST, "/admin/clients", Some(body)).await;
    assert_eq!(created.status(), 201);
    let client: Value = created.json().await.unwrap();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(client["type"], "confidential");
    assert_eq!(client["audiences"], json!(["https://reports.example"]));

    let read: Value = call(&app, &token, Method::GET, "/admin/clients/reports", None).await.json().await.unwrap();
    assert!(read.get("client_secret").is_none(), "the secret is shown once");
    assert!(!read.to_string().contains("hmac"), "no hash is shown");

    let basic = app.token(&[("grant_type", "client_credentials")], Some(("reports", &secret))).await;
    assert_eq!(basic.status(), 200);
    let post = app.token(&[("grant_type", "client_credentials"), ("client_id", "reports"), ("client_secret", &secret)], None).await;
    assert_eq!(post.status(), 401, "the registered method is client_secret_basic");

    let rotated: Value = call(&app, &token, Method::POST, "/admin/clients/reports/secret", None).await.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(app.token(&[("grant_type", "client_credentials")], Some(("reports", &secret))).await.status(), 401);
    assert_eq!(app.token(&[("grant_type", "client_credentials")], Some(("reports", new_secret))).await.status(), 200);

    let patched = call(&app, &token, Method::PATCH, "/admin/clients/reports", Some(json!({ "scope": "reports:read reports:write", "audiences": null, "disabled": true }))).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["scope"], "reports:read reports:write");
    assert_eq!(patched["audiences"], json!([]));
    assert_eq!(patched["disabled"], true);
    assert_eq!(app.token(&[("grant_type", "client_credentials")], Some(("reports", new_secret))).await.status(), 401);

    assert_eq!(call(&app, &token, Method::DELETE, "/admin/clients/reports", None).await.status(), 204);
    assert_eq!(call(&app, &token, Method::GET, "/admin/clients/reports", None).await.status(), 404);
}

async fn admin_input_is_validated_field_by_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    use reqwest::Method;

    let cases = [
        ("/admin/users", json!({ "username": "x", "password": "long enough!", "role": "admin" }), "unknown field `role`"),
        ("/admin/users", json!({ "username": "x" }), "missing field `password`"),
        ("/admin/users", json!({ "username": "x", "password": "short" }), "at least 8 characters"),
        ("/admin/users", json!({ "username": "x", "password": "long enough!", "admin": "yes" }), "line 1"),
        ("/admin/clients", json!({ "client_id": "c", "grant_types": ["implicit"] }), "invalid grant_types"),
        ("/admin/clients", json!({ "client_id": "c", "type": "public", "grant_types": ["client_credentials"] }), "public client cannot use client_credentials"),
        ("/admin/clients", json!({ "client_id": "c", "id_token_alg": "HS256" }), "invalid id_token_alg"),
        ("/admin/clients", json!({ "client_id": "c", "redirect_uris": ["javascript:alert(1)"] }), "invalid redirect_uris"),
        ("/admin/clients", json!({ "client_id": "c", "access_token_lifetime": 999999 }), "invalid access token lifetime"),
        ("/admin/clients", json!({ "client_id": "c", "type": "private_key_jwt", "jwks": { "keys": [] } }), "no RSA, EC"),
    ];
    for (path, body, expected) in cases {
        let response = call(&app, &token, Method::POST, path, Some(body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request");
        let description = error["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{body}: {description}");
        assert!(!description.contains("long enough"), "a value was echoed: {description}");
    }
    let not_json = app.http.post(app.url("/admin/users")).bearer_auth(&token).body("username=x").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(app.issuer.list_users().await.unwrap().len(), 1, "nothing was created");
}

async fn audit_records_actions_and_grants_without_secrets(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let token = app.admin_token().await;
    use reqwest::Method;
    call(&app, &token, Method::POST, "/admin/users", Some(json!({ "username": "carol", "password": "carol's secret pw" }))).await;
    let secret = app.add_client("web", "read").await;
    let wrong = [("grant_type", "password"), ("username", "carol"), ("password", "wrong password")];
    assert_eq!(app.token(&wrong, Some(("web", &secret))).await.status(), 400);

    let response = call(&app, &token, Method::GET, "/admin/audit?limit=10", None).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for secret_text in ["carol's secret pw", "wrong password", secret.as_str(), "correct horse"] {
        assert!(!text.contains(secret_text), "the audit trail contains a secret");
    }
    let events: Value = serde_json::from_str(&text).unwrap();
    let summary: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| (event["action"].as_str().unwrap().to_owned(), event["outcome"].as_str().unwrap().to_owned()))
        .collect();
    assert!(summary.contains(&("user.create".into(), "success".into())), "{summary:?}");
    assert!(summary.contains(&("token.password".into(), "invalid_grant".into())), "{summary:?}");
    assert!(summary.contains(&("token.password".into(), "success".into())), "{summary:?}");
    let creation = events["events"].as_array().unwrap().iter().find(|event| event["action"] == "user.create").unwrap();
    assert!(creation["actor"].as_str().unwrap().starts_with("user:"));
}

mod hardening {
    //! Regressions found by adversarial review of the admin API and the
    //! newer endpoints.

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use super::call;
    use crate::backend_tests;
    use crate::helpers::*;

    backend_tests!(
        nul_in_assertion_subject_is_invalid_client,
        admin_paths_with_odd_client_ids_are_404,
        admin_cannot_disable_or_demote_self,
        client_jwks_with_secret_material_is_rejected,
        password_change_ends_refresh_families,
    );

    async fn nul_in_assertion_subject_is_invalid_client(backend: Backend) {
        let Some(app) = TestApp::spawn(backend).await else { return };
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"x\u0000","iss":"x"}"#);
        let assertion = format!("{header}.{claims}.AAAA");

        let response = app
            .token(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", &assertion),
                ],
                None,
            )
            .await;

        assert_eq!(response.status(), 401);
    }

    async fn admin_paths_with_odd_client_ids_are_404(backend: Backend) {
        let Some(app) = TestApp::spawn(backend).await else { return };
        let token = app.admin_token().await;
        let long = "a".repeat(5000);
        for path in ["/admin/clients/a%00b", "/admin/clients/a%00b/secret", &format!("/admin/clients/{long}")] {
            let method = if path.ends_with("/secret") { reqwest::Method::POST } else { reqwest::Method::GET };
            let response = call(&app, &token, method, path, None).await;
            assert_eq!(response.status(), 404, "{}", &path[..path.len().min(40)]);
            let text = response.text().await.unwrap();
            assert!(!text.contains(&long), "the path was echoed");
        }
    }

    async fn admin_cannot_disable_or_demote_self(backend: Backend) {
        let Some(app) = TestApp::spawn(backend).await else { return };
        let token = app.admin_token().await;
        let me = app.issuer.list_users().await.unwrap()[0].id;
        for body in [json!({ "disabled": true }), json!({ "admin": false })] {
            let response = call(&app, &token, reqwest::Method::PATCH, &format!("/admin/users/{me}"), Some(body)).await;
            assert_eq!(response.status(), 409);
        }
        assert_eq!(call(&app, &token, reqwest::Method::GET, "/admin/users", None).await.status(), 200);
    }

    async fn client_jwks_with_secret_material_is_rejected(backend: Backend) {
        let Some(app) = TestApp::spawn(backend).await else { return };
        let token = app.admin_token().await;
        let public = json!({ "kty": "EC", "crv": "P-256", "kid": "p",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" });
        for extra in [json!({ "kty": "oct", "k": "c3VwZXJzZWNyZXQ", "kid": "s" }), json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "AQ", "q": "AQ" })] {
            let body = json!({ "client_id": "pk", "type": "private_key_jwt", "grant_types": ["client_credentials"], "jwks": { "keys": [public, extra] } });
            let response = call(&app, &token, reqwest::Method::POST, "/admin/clients", Some(body)).await;
            assert_eq!(response.status(), 400);
            let text = response.text().await.unwrap();
            assert!(!text.contains("c3VwZXJzZWNyZXQ"));
        }
    }

    /// RFC 9700 §4.14.2: a credential change ends the sessions it
    /// authenticated.
    async fn password_change_ends_refresh_families(backend: Backend) {
        let Some(app) = TestApp::spawn(backend).await else { return };
        let token = app.admin_token().await;
        let bob: Value = call(&app, &token, reqwest::Method::POST, "/admin/users", Some(json!({ "username": "bob", "password": "a long password" })))
            .await
            .json()
            .await
            .unwrap();
        let secret = app
            .add_client_with(tessera::service::clients::ClientSpec {
                client_id: "web".into(),
                public: false,
                grant_types: vec![tessera::oauth::GrantType::Password, tessera::oauth::GrantType::RefreshToken],
                scopes: tessera::oauth::Scope::parse("read").unwrap(),
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
        let login: Value = app
            .token(&[("grant_type", "password"), ("username", "bob"), ("password", "a long password")], Some(("web", &secret)))
            .await
            .json()
            .await
            .unwrap();
        let refresh = login["refresh_token"].as_str().unwrap();
        let access = login["access_token"].as_str().unwrap();

        let id = bob["id"].as_str().unwrap();
        call(&app, &token, reqwest::Method::PATCH, &format!("/admin/users/{id}"), Some(json!({ "password": "a brand new password" }))).await;

        let refreshed = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some(("web", &secret))).await;
        assert_eq!(refreshed.status(), 400);

        call(&app, &token, reqwest::Method::PATCH, &format!("/admin/users/{id}"), Some(json!({ "disabled": true }))).await;
        let introspected: Value = app
            .http
            .post(app.url("/oauth2/introspect"))
            .header("Authorization", basic_header("web", &secret))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(introspected, json!({ "active": false }), "a disabled user's token is inactive");
    }
}
