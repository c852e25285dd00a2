//! OpenID Connect ID tokens (Core §2, §3.1.3.7): issued with the `openid`
//! scope, signed with the client's algorithm, never accepted where an
//! access token is expected.

use serde_json::Value;
use tessera::keys::Algorithm;
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(openid_scope_brings_id_token, id_token_uses_client_algorithm, id_token_is_not_an_access_token);

fn spec(id_token_alg: Option<Algorithm>) -> ClientSpec {
    ClientSpec {
        client_id: "rp".into(),
        public: false,
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        scopes: Scope::parse("openid profile admin read").unwrap(),
        audience: None,
        access_token_lifetime: None,
        chosen_secret: None,
        id_token_alg,
        jwks: None,
        auth_method: None,
        redirect_uris: Vec::new(),
    }
}

async fn login(app: &TestApp, secret: &str, user: &str, scope: &str) -> Value {
    let form = [("grant_type", "password"), ("username", user), ("password", PASSWORD), ("scope", scope)];
    let response = app.token(&form, Some(("rp", secret))).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn openid_scope_brings_id_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let user = app.add_user("alice", false).await;
    let secret = app.add_client_with(spec(None)).await.unwrap();

    let without = login(&app, &secret, "alice", "read").await;
    assert!(without.get("id_token").is_none());

    let granted = login(&app, &secret, "alice", "openid profile").await;
    let id_token = granted["id_token"].as_str().expect("an id_token");
    verify_with_jwks(id_token, &app.jwks().await).unwrap();
    let (header, claims) = decode_unverified(id_token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["aud"], "rp");
    assert_eq!(claims["azp"], "rp");
    assert_eq!(claims["preferred_username"], "alice");
    let issued_at = claims["iat"].as_i64().unwrap();
    assert!(claims["exp"].as_i64().unwrap() > issued_at);
    assert_eq!(claims["auth_time"].as_i64().unwrap(), issued_at);

    // A refresh keeps the original auth_time.
    let refreshed: Value = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", granted["refresh_token"].as_str().unwrap())], Some(("rp", &secret)))
        .await
        .json()
        .await
        .unwrap();
    let (_, refreshed_claims) = decode_unverified(refreshed["id_token"].as_str().unwrap());
    assert_eq!(refreshed_claims["auth_time"], claims["auth_time"]);
}

async fn id_token_uses_client_algorithm(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| settings.additional_algs = vec![Algorithm::Rs256]).await else { return };
    app.add_user("alice", false).await;
    let secret = app.add_client_with(spec(Some(Algorithm::Rs256))).await.unwrap();

    let granted = login(&app, &secret, "alice", "openid").await;

    let (id_header, _) = decode_unverified(granted["id_token"].as_str().unwrap());
    assert_eq!(id_header["alg"], "RS256");
    verify_with_jwks(granted["id_token"].as_str().unwrap(), &app.jwks().await).unwrap();
    let (access_header, _) = decode_unverified(granted["access_token"].as_str().unwrap());
    assert_eq!(access_header["alg"], "ES256", "access tokens keep signing_alg");

    let mut disabled = spec(Some(Algorithm::Es384));
    disabled.client_id = "other".into();
    let error = app.issuer.create_client(disabled).await.err().unwrap();
    assert!(error.to_string().contains("not enabled"), "{error}");
}

/// RFC 9068 §4 and RFC 8725 §3.11: an ID token must not pass as an access
/// token, even with a right signature.
async fn id_token_is_not_an_access_token(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    app.add_user("root", true).await;
    let secret = app.add_client_with(spec(None)).await.unwrap();
    let granted = login(&app, &secret, "root", "openid admin").await;
    let id_token = granted["id_token"].as_str().unwrap();

    let admin = app.http.get(app.url("/admin/keys")).bearer_auth(id_token).send().await.unwrap();
    assert_eq!(admin.status(), 401);
    let userinfo = app.http.get(app.url("/oauth2/userinfo")).bearer_auth(id_token).send().await.unwrap();
    assert_eq!(userinfo.status(), 401);
    let access = app.http.get(app.url("/admin/keys")).bearer_auth(granted["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(access.status(), 200);
}
