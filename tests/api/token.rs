//! The token endpoint: the password grant and client authentication
//! (RFC 6749 §4.3, §2.3, §5).

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(password_grant_issues_rfc9068_token);

async fn password_grant_issues_rfc9068_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let user = app.add_user("alice", false).await;
    let secret = app.add_client("web", "read write").await;

    let response = app
        .token(&[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "read")], Some(("web", &secret)))
        .await;

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
    assert_eq!(claims["iss"], json!(app.address));
    assert_eq!(claims["sub"], json!(user.id.to_string()));
    assert_eq!(claims["aud"], json!(app.address));
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "read");
    let issued_at = claims["iat"].as_i64().expect("iat is an integer");
    assert_eq!(claims["exp"].as_i64().expect("exp is an integer"), issued_at + 900);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
}
