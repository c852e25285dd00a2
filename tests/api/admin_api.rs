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
