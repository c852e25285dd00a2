//! Building and running the HTTP server. `serve` and the tests share this
//! path: bind first (port 0 allowed), then report the bound port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, HttpServer, web};

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::http::{self, Discovery};
use crate::service::{Issuer, OpenMode, StartError};

pub struct Application {
    port: u16,
    issuer: Issuer,
    server: Server,
    refresh: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: std::net::SocketAddr, source: std::io::Error },
}

impl Application {
    /// Opens storage, prepares the signing keys and binds `settings.listen`.
    pub async fn build(settings: Settings) -> Result<Self, ServeError> {
        let address = settings.listen;
        let listener = TcpListener::bind(address).map_err(|source| ServeError::Bind { address, source })?;
        Self::build_on(settings, listener).await
    }

    /// Like `build`, on a listener the caller bound already, so it can know
    /// the port (and so the issuer URL) before the settings are final.
    pub async fn build_on(settings: Settings, listener: TcpListener) -> Result<Self, ServeError> {
        Self::build_with_clock(settings, listener, Arc::new(SystemClock)).await
    }

    /// Like `build_on`, with another time source; tests use a manual clock
    /// to drive key lifecycles.
    pub async fn build_with_clock(settings: Settings, listener: TcpListener, clock: Arc<dyn Clock>) -> Result<Self, ServeError> {
        let address = settings.listen;
        let issuer = tokio::task::spawn_blocking(move || Issuer::open_with(settings, clock, OpenMode::CreateMissing))
            .await
            .map_err(|error| StartError::Database(format!("start-up task failed: {error}")))??;
        issuer.prepare_keys().await?;

        let port = listener.local_addr().map_err(|source| ServeError::Bind { address, source })?.port();

        let discovery = web::Data::new(Discovery::new(&issuer.settings));
        let workers = issuer.settings.http_workers;
        let refresh = issuer.spawn_key_schedule();
        let handle = issuer.clone();
        let issuer = web::Data::new(issuer);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(issuer.clone())
                .app_data(discovery.clone())
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(from_fn(http::log_request))
                .configure(http::routes)
        })
        .workers(workers)
        .listen(listener)
        .map_err(|source| ServeError::Bind { address, source })?
        .run();

        tracing::info!(%address, port, "listening");
        Ok(Self { port, issuer: handle, server, refresh })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The issuer's operations, for tests and tools that run beside the
    /// server.
    pub fn issuer(&self) -> Issuer {
        self.issuer.clone()
    }

    /// A handle that stops the server, for tests that take the issuer down.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGINT or SIGTERM in `serve`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.refresh.abort();
        result
    }
}
