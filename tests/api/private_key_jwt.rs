//! private_key_jwt client authentication (RFC 7523 §2.2, OpenID Connect
//! Core §9).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jws::{ES256, JwsSigner};
use serde_json::{Value, json};
use tessera::oauth::{GrantType, Scope};
use tessera::service::clients::ClientSpec;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(private_key_jwt_authenticates_once_per_assertion);

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn assertion(signer: &dyn JwsSigner, kid: &str, claims: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "kid": kid, "typ": "JWT" }).to_string());
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()).unwrap()))
}

async fn private_key_jwt_authenticates_once_per_assertion(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let mut private = Jwk::generate_ec_key(EcCurve::P256).unwrap();
    private.set_key_id("client-key-1");
    let mut public = private.to_public_key().unwrap();
    public.set_key_id("client-key-1");
    let signer = ES256.signer_from_jwk(&private).unwrap();
    let jwks = json!({ "keys": [serde_json::from_str::<Value>(&public.to_string()).unwrap()] });
    app.add_client_with(ClientSpec {
        client_id: "signer".into(),
        public: false,
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Scope::parse("jobs").unwrap(),
        audience: None,
        access_token_lifetime: None,
        chosen_secret: None,
        id_token_alg: None,
        jwks: Some(jwks.to_string()),
        auth_method: None,
        redirect_uris: Vec::new(),
    })
    .await;

    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, exp: i64, jti: &str| json!({ "iss": "signer", "sub": "signer", "aud": aud, "exp": exp, "iat": now, "jti": jti });
    let token_endpoint = app.url("/oauth2/token");
    let request = |client_assertion: String| {
        let app = &app;
        async move {
            app.token(&[("grant_type", "client_credentials"), ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", &client_assertion)], None)
                .await
        }
    };

    let good = assertion(&signer, "client-key-1", claims(&token_endpoint, now + 60, "a-1"));
    let response = request(good.clone()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(decode_unverified(body["access_token"].as_str().unwrap()).1["sub"], "signer");

    assert_eq!(request(good).await.status(), 401, "a jti is accepted once");
    let issuer_aud = assertion(&signer, "client-key-1", claims(&app.address, now + 60, "a-2"));
    assert_eq!(request(issuer_aud).await.status(), 200, "the issuer is an accepted audience");

    let other_key = ES256.signer_from_jwk(&Jwk::generate_ec_key(EcCurve::P256).unwrap()).unwrap();
    let failures = [
        ("wrong audience", assertion(&signer, "client-key-1", claims("https://elsewhere.example", now + 60, "b-1"))),
        ("expired", assertion(&signer, "client-key-1", claims(&token_endpoint, now - 600, "b-2"))),
        ("too long-lived", assertion(&signer, "client-key-1", claims(&token_endpoint, now + 3600, "b-3"))),
        ("unregistered key", assertion(&other_key, "client-key-1", claims(&token_endpoint, now + 60, "b-4"))),
        ("unknown kid", assertion(&signer, "nope", claims(&token_endpoint, now + 60, "b-5"))),
        (
            "iss differs from sub",
            assertion(&signer, "client-key-1", json!({ "iss": "other", "sub": "signer", "aud": token_endpoint, "exp": now + 60, "jti": "b-6" })),
        ),
        ("no jti", assertion(&signer, "client-key-1", json!({ "iss": "signer", "sub": "signer", "aud": token_endpoint, "exp": now + 60 }))),
    ];
    for (name, client_assertion) in failures {
        let response = request(client_assertion).await;
        assert_eq!(response.status(), 401, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{name}");
    }

    let with_secret = app.token(&[("grant_type", "client_credentials")], Some(("signer", "guess"))).await;
    assert_eq!(with_secret.status(), 401, "a private_key_jwt client has no secret");
    let wrong_type = app
        .token(&[("grant_type", "client_credentials"), ("client_assertion_type", "urn:other"), ("client_assertion", "x")], None)
        .await;
    assert_eq!(wrong_type.status(), 400);
}
