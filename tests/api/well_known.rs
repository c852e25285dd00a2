//! The JWKS (RFC 7517) and the discovery documents (RFC 8414, OpenID
//! Connect Discovery).

use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier};
use serde_json::Value;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    jwks_lists_public_keys_only,
    jwks_etag_answers_304,
    token_verifies_against_jwks,
    discovery_documents_describe_issuer,
    private_keys_are_sealed_at_rest,
    fresh_service_has_no_accounts,
);

const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

async fn jwks_lists_public_keys_only(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let response = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300, stale-while-revalidate=60");
    assert_eq!(response.headers()["content-type"], "application/json");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    assert!(key["kid"].is_string());
    assert!(key["x"].is_string());
    assert!(key["y"].is_string());
    for member in PRIVATE_MEMBERS {
        assert!(!key.contains_key(member), "the JWKS exposes {member}");
    }
}

/// RFC 9110 §13.1.2: a matching If-None-Match gets 304 without a body.
async fn jwks_etag_answers_304(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let first = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
    assert!(etag.ends_with('"'), "a strong ETag: {etag}");

    let cached = app.http.get(app.url("/.well-known/jwks.json")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert_eq!(cached.headers()["cache-control"], "public, max-age=300, stale-while-revalidate=60");
    assert!(cached.bytes().await.unwrap().is_empty());

    let stale = app.http.get(app.url("/.well-known/jwks.json")).header("If-None-Match", "\"other\"").send().await.unwrap();
    assert_eq!(stale.status(), 200);
}

/// The signature checks out with the JWKS key of the header's kid.
async fn token_verifies_against_jwks(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client("web", "read").await;
    let token = app.password_token("web", &secret, "alice", None).await;

    let jwks = app.jwks().await;
    let (header, _) = decode_unverified(&token);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .expect("the token's kid is published");
    let verifier = ES256.verifier_from_jwk(&Jwk::from_bytes(jwk.to_string()).unwrap()).unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).unwrap();

    assert!(verifier.verify(signing_input.as_bytes(), &signature).is_ok());
    let tampered = signing_input.replacen('.', ".e30", 1);
    assert!(verifier.verify(tampered.as_bytes(), &signature).is_err());
}

async fn discovery_documents_describe_issuer(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let openid: Value = app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    let oauth: Value = app.http.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();

    assert_eq!(openid, oauth);
    assert_eq!(openid["issuer"], app.address.as_str());
    assert_eq!(openid["token_endpoint"], app.url("/oauth2/token"));
    assert_eq!(openid["jwks_uri"], app.url("/.well-known/jwks.json"));
    assert_eq!(openid["grant_types_supported"], serde_json::json!(["password", "client_credentials", "refresh_token"]));
    assert_eq!(
        openid["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    assert_eq!(openid["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
    for member in ["scopes_supported", "response_types_supported", "subject_types_supported"] {
        assert!(openid[member].is_array(), "{member} is missing");
    }
}

/// The stored private key is AES-256-GCM ciphertext: neither the private
/// JWK nor any of its members appear in the row.
async fn private_keys_are_sealed_at_rest(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    let keys = app.issuer.list_keys().await.unwrap();

    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key.master_key_id.len(), 16, "the sealing master key is recorded");
    let sealed = String::from_utf8_lossy(&key.sealed_private_key);
    for marker in ["\"d\"", "\"kty\"", "\"crv\"", "P-256"] {
        assert!(!sealed.contains(marker), "the sealed key contains {marker}");
    }
    assert!(!key.public_jwk.contains("\"d\""));
}

/// No user or client exists until an operator adds one.
async fn fresh_service_has_no_accounts(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };

    assert!(app.issuer.list_users().await.unwrap().is_empty());
    assert!(app.issuer.list_clients().await.unwrap().is_empty());
    let form = [("grant_type", "password"), ("username", "admin"), ("password", "admin"), ("client_id", "admin")];
    assert_eq!(app.token(&form, None).await.status(), 401);
}
