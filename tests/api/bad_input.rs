//! Hostile and malformed input: each gets a clear 4xx in the protocol's
//! own format, never a 500 or a hang, and leaves stored data intact.

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    oversized_body_is_413,
    oversized_chunked_body_is_413,
    wrong_content_type_is_invalid_request,
    repeated_parameter_is_invalid_request,
    non_utf8_body_is_invalid_request,
    huge_password_is_rejected_before_hashing,
    malformed_basic_header_is_invalid_client,
    non_ascii_authorization_is_invalid_client,
    get_on_token_endpoint_is_405,
    unknown_path_is_json_404,
    bad_input_leaves_accounts_working,
    nul_in_basic_client_id_is_invalid_client,
    repeated_authorization_header_is_invalid_request,
    head_and_405_follow_http_semantics,
);

async fn post_token_raw(app: &TestApp, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.http
        .post(app.url("/oauth2/token"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("a JSON error body");
    body["error"].as_str().unwrap().to_owned()
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn oversized_body_is_413(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let body = format!("grant_type=password&username=a&password={}", "x".repeat(64 * 1024));

    let response = post_token_raw(&app, FORM, body).await;

    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "invalid_request");
}

/// A body without Content-Length is still capped while it streams in.
async fn oversized_chunked_body_is_413(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..64).map(|_| Ok(vec![b'a'; 1024])).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

    let response = post_token_raw(&app, FORM, body).await;

    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "invalid_request");
}

async fn wrong_content_type_is_invalid_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    for content_type in ["application/json", "text/plain", "multipart/form-data; boundary=x"] {
        let response = post_token_raw(&app, content_type, r#"{"grant_type":"password"}"#).await;
        assert_eq!(response.status(), 400, "{content_type}");
        assert_eq!(error_code(response).await, "invalid_request");
    }
    let missing = app.http.post(app.url("/oauth2/token")).body("grant_type=password").send().await.unwrap();
    assert_eq!(missing.status(), 400);
}

/// RFC 6749 §3.2: request parameters must not be included more than once.
async fn repeated_parameter_is_invalid_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let response = post_token_raw(&app, FORM, "grant_type=password&username=a&username=b&password=x&client_id=c").await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], "the parameter username is repeated");
}

async fn non_utf8_body_is_invalid_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    for body in [b"grant_type=password&username=%FF%FE&password=x".to_vec(), b"grant_type=\xff".to_vec()] {
        let response = post_token_raw(&app, FORM, body).await;
        assert_eq!(response.status(), 400);
        assert_eq!(error_code(response).await, "invalid_request");
    }
}

async fn huge_password_is_rejected_before_hashing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = app.add_client("web", "read").await;
    let password = "p".repeat(4000);

    let response = app
        .token(&[("grant_type", "password"), ("username", "alice"), ("password", &password)], Some(("web", &secret)))
        .await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], "the password is longer than 1024 bytes");
}

async fn malformed_basic_header_is_invalid_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    for header in ["Basic", "Basic !!!notbase64", "Basic bm9jb2xvbg==", "Digest abc", "Basic Og=="] {
        let response = app
            .http
            .post(app.url("/oauth2/token"))
            .header("Authorization", header)
            .form(&[("grant_type", "password"), ("username", "a"), ("password", "b")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        assert_eq!(error_code(response).await, "invalid_client");
    }
}

async fn non_ascii_authorization_is_invalid_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let value = reqwest::header::HeaderValue::from_bytes(b"Basic \xe9\xe9").unwrap();

    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("Authorization", value)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "invalid_client");
}

async fn get_on_token_endpoint_is_405(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let response = app.http.get(app.url("/oauth2/token?grant_type=password")).send().await.unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(error_code(response).await, "invalid_request");
    let jwks_post = app.http.post(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(jwks_post.status(), 405);
    assert_eq!(jwks_post.headers()["allow"], "GET, HEAD");
    assert_eq!(error_code(jwks_post).await, "method_not_allowed");
}

async fn unknown_path_is_json_404(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let response = app.http.get(app.url("/admin/../../etc/passwd")).send().await.unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
}

/// After a burst of hostile requests, the stored user and client still work.
async fn bad_input_leaves_accounts_working(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;

    let hostile: [&[u8]; 5] = [
        b"grant_type=password&username=alice&password=%00",
        b"grant_type=password&username=alice'%20OR%201=1--&password=x&client_id=web",
        b"grant_type=password&username=alice&password=wrong&client_id=web&client_id=web",
        b"\x00\x01\x02",
        b"=&=&&&==",
    ];
    for body in hostile {
        let response = post_token_raw(&app, FORM, body.to_vec()).await;
        assert!(response.status().is_client_error(), "{}", response.status());
    }

    let token = app.password_token("web", &secret, "alice", None).await;
    assert!(!token.is_empty());
    assert_eq!(app.issuer.list_users().await.unwrap().len(), 1);
    assert_eq!(app.issuer.list_clients().await.unwrap().len(), 1);
}

/// PostgreSQL rejects NUL in text, so it must be stopped before a query.
async fn nul_in_basic_client_id_is_invalid_client(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    for (id, secret) in [("web%00", "x"), ("web\0", "x"), ("web", "x\0y")] {
        let response = app.token(&[("grant_type", "client_credentials")], Some((id, secret))).await;
        assert_eq!(response.status(), 401, "{id:?}");
        assert_eq!(error_code(response).await, "invalid_client");
    }
}

async fn repeated_authorization_header_is_invalid_request(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let secret = app.add_client("web", "read").await;

    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("Authorization", basic_header("web", &secret))
        .header("Authorization", basic_header("web", "wrong"))
        .form(&[("grant_type", "password"), ("username", "a"), ("password", "b")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "the authorization header is repeated");
}

async fn head_and_405_follow_http_semantics(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let head = app.http.head(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("etag"));
    assert!(head.bytes().await.unwrap().is_empty());

    let rotate = app.http.get(app.url("/admin/keys/rotate")).send().await.unwrap();
    assert_eq!(rotate.status(), 405);
    assert_eq!(rotate.headers()["allow"], "POST");

    let token = app.admin_token().await;
    let keys = app.http.get(app.url("/admin/keys")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(keys.headers()["cache-control"], "no-store");
}
