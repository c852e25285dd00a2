//! A resource server that accepts Tessera's access tokens, verified offline
//! with tessera-verifier.
//!
//! `GET /orders` needs scope `orders:read`, `POST /orders` needs
//! `orders:write`. Settings come from the environment:
//! - `TESSERA_ISSUER`: the issuer to trust (default http://127.0.0.1:8080);
//!   its JWKS is found through discovery.
//! - `API_AUDIENCE`: the `aud` tokens must carry (default
//!   https://orders.example).
//! - `API_LISTEN`: the address to serve on (default 127.0.0.1:9090).
//!
//! Run: `cargo run --example resource_server`.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use tessera_verifier::actix::{BearerError, BearerToken};
use tessera_verifier::{Algorithm, Verifier, VerifierConfig};

async fn list_orders(token: BearerToken) -> Result<HttpResponse, BearerError> {
    token.require_scope("orders:read")?;
    Ok(HttpResponse::Ok().json(json!({ "orders": [], "for": token.claims.sub })))
}

async fn create_order(token: BearerToken) -> Result<HttpResponse, BearerError> {
    token.require_scope("orders:write")?;
    Ok(HttpResponse::Created().json(json!({ "created_by": token.claims.sub })))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("info")).init();
    let issuer = std::env::var("TESSERA_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let audience = std::env::var("API_AUDIENCE").unwrap_or_else(|_| "https://orders.example".into());
    let listen = std::env::var("API_LISTEN").unwrap_or_else(|_| "127.0.0.1:9090".into());

    let config = VerifierConfig::from_issuer(&issuer, &audience).algorithms(&Algorithm::ALL);
    let verifier = match Verifier::new(config).await {
        Ok(verifier) => verifier,
        Err(error) => {
            eprintln!("error: cannot load the keys of {issuer}: {error}");
            std::process::exit(1);
        }
    };
    tracing::info!(%issuer, %audience, %listen, "resource server ready");

    let verifier = web::Data::new(verifier);
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/orders", web::get().to(list_orders))
            .route("/orders", web::post().to(create_order))
    })
    .bind(listen)?
    .run()
    .await
}
