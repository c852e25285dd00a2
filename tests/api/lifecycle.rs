//! A whole key lifecycle under a manual clock: pending, active, retiring,
//! retired, and revoked, plus a scheduled rotation. At every step each
//! token issued so far that has not expired must verify against the JWKS
//! being served, and tokens of a revoked key must be rejected.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use tessera::clock::{Clock, ManualClock};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(lifecycle_never_breaks_valid_tokens);

/// Tokens issued so far, with their expiry.
struct Issued {
    tokens: Vec<(String, i64)>,
}

impl Issued {
    fn push(&mut self, token: String) {
        let expires_at = decode_unverified(&token).1["exp"].as_i64().unwrap();
        self.tokens.push((token, expires_at));
    }

    /// Checks every unexpired token against the JWKS the app serves now.
    async fn assert_all_verify(&self, app: &TestApp, clock: &ManualClock, step: &str) {
        let jwks = app.jwks().await;
        let now = clock.now().timestamp();
        let mut checked = 0;
        for (token, expires_at) in &self.tokens {
            if *expires_at <= now {
                continue;
            }
            if let Err(error) = verify_with_jwks(token, &jwks) {
                panic!("{step}: a valid token failed against the JWKS: {error}");
            }
            checked += 1;
        }
        assert!(checked > 0, "{step}: no unexpired token was checked");
    }
}

fn kid_of(token: &str) -> String {
    decode_unverified(token).0["kid"].as_str().unwrap().to_owned()
}

/// The published kids, sorted: keys created at the same instant of the
/// manual clock have no other order.
fn published(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"].as_array().unwrap().iter().map(|key| key["kid"].as_str().unwrap().to_owned()).collect();
    kids.sort();
    kids
}

fn sorted(mut kids: Vec<String>) -> Vec<String> {
    kids.sort();
    kids
}

async fn key_states(app: &TestApp) -> Vec<(String, &'static str)> {
    app.issuer.list_keys().await.unwrap().into_iter().map(|key| (key.kid, key.state.as_str())).collect()
}

async fn lifecycle_never_breaks_valid_tokens(backend: Backend) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let Some(app) = TestApp::spawn_with_clock(backend, |settings| settings.key_rotation_interval = 86_400, clock.clone()).await
    else {
        return;
    };
    let settings = app.issuer.settings.clone();
    let staging = i64::from(settings.key_staging_delay);
    let grace = i64::from(settings.retirement_grace());
    let admin = app.admin_token().await;
    let secret = app.admin_secret().await;
    app.add_user("alice", false).await;
    let user_secret = app.add_client("web", "read").await;
    let mut issued = Issued { tokens: Vec::new() };

    // Active K1 signs.
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    let k1 = kid_of(&issued.tokens[0].0);
    issued.assert_all_verify(&app, &clock, "start").await;

    // Stage K2: published at once, not signing.
    let staged: Value = app
        .http
        .post(app.url("/admin/keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k2 = staged["kid"].as_str().unwrap().to_owned();
    assert_eq!(published(&app.jwks().await), sorted(vec![k1.clone(), k2.clone()]));
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    assert_eq!(kid_of(&issued.tokens[1].0), k1, "pending keys do not sign");
    issued.assert_all_verify(&app, &clock, "pending").await;

    // Just before the staging delay ends nothing changes.
    clock.advance(TimeDelta::seconds(staging - 1));
    app.issuer.run_key_schedule("test").await.unwrap();
    assert_eq!(kid_of(&app.password_token("web", &user_secret, "alice", None).await), k1);

    // After it, K2 signs and K1 retires, still published.
    clock.advance(TimeDelta::seconds(1));
    app.issuer.run_key_schedule("test").await.unwrap();
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    assert_eq!(kid_of(issued.tokens.last().map(|t| &t.0).unwrap()), k2);
    assert!(key_states(&app).await.contains(&(k1.clone(), "retiring")));
    issued.assert_all_verify(&app, &clock, "promoted").await;

    // K1 stays published through its grace period, while K1 tokens live.
    clock.advance(TimeDelta::seconds(grace - 1));
    app.issuer.run_key_schedule("test").await.unwrap();
    assert!(published(&app.jwks().await).contains(&k1));
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    issued.assert_all_verify(&app, &clock, "retiring").await;

    // Then K1 is retired and leaves the JWKS; every K1 token has expired.
    clock.advance(TimeDelta::seconds(1));
    app.issuer.run_key_schedule("test").await.unwrap();
    assert!(!published(&app.jwks().await).contains(&k1));
    assert!(key_states(&app).await.contains(&(k1.clone(), "retired")));
    let now = clock.now().timestamp();
    assert!(issued.tokens.iter().filter(|(t, _)| kid_of(t) == k1).all(|(_, exp)| *exp <= now));
    issued.assert_all_verify(&app, &clock, "retired").await;

    // Revoke K2 while it signs: it leaves the JWKS, K3 takes over, and
    // Tessera rejects a K2 token at once.
    let k2_admin = app.password_token("admin-cli", &secret, "root", Some("admin")).await;
    assert_eq!(kid_of(&k2_admin), k2);
    let revocation: Value = app
        .http
        .post(app.url(&format!("/admin/keys/{k2}/revoke")))
        .bearer_auth(&k2_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k3 = revocation["replaced_by"].as_str().unwrap().to_owned();
    assert_eq!(published(&app.jwks().await), vec![k3.clone()]);
    let rejected = app.http.get(app.url("/admin/keys")).bearer_auth(&k2_admin).send().await.unwrap();
    assert_eq!(rejected.status(), 401);
    issued.tokens.retain(|(token, _)| kid_of(token) != k2);
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    issued.assert_all_verify(&app, &clock, "revoked").await;

    // A day after K3 became active, the schedule stages K4 by itself and
    // promotes it after the staging delay.
    clock.advance(TimeDelta::seconds(86_400));
    app.issuer.run_key_schedule("test").await.unwrap();
    let states = key_states(&app).await;
    let pending: Vec<_> = states.iter().filter(|(_, state)| *state == "pending").collect();
    assert_eq!(pending.len(), 1, "{states:?}");
    let k4 = pending[0].0.clone();
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    issued.assert_all_verify(&app, &clock, "scheduled").await;
    clock.advance(TimeDelta::seconds(staging));
    app.issuer.run_key_schedule("test").await.unwrap();
    issued.push(app.password_token("web", &user_secret, "alice", None).await);
    assert_eq!(kid_of(issued.tokens.last().map(|t| &t.0).unwrap()), k4);
    issued.assert_all_verify(&app, &clock, "scheduled promotion").await;

    // Every transition was recorded with its actor.
    let events = app.issuer.db.run(tessera::store::signing_keys::events).await.unwrap();
    let trail: Vec<(String, String, String)> = events
        .iter()
        .filter(|event| event.kid == k2 || event.kid == k4)
        .map(|event| (event.from_state.clone().unwrap_or_default(), event.to_state.clone(), event.actor.clone()))
        .collect();
    let admin_actor = format!("user:{}", app.issuer.list_users().await.unwrap()[1].id);
    assert_eq!(
        trail,
        vec![
            (String::new(), "pending".into(), admin_actor.clone()),
            ("pending".into(), "active".into(), "scheduler".into()),
            ("active".into(), "revoked".into(), admin_actor),
            (String::new(), "pending".into(), "scheduler".into()),
            ("pending".into(), "active".into(), "scheduler".into()),
        ]
    );
}
