//! What the bookstore's three services share: serving on `$PORT` until
//! `SIGTERM`, calling a dependency through the sidecar URL ordo gives in
//! the environment (passing the FIT and request-id headers on, as every
//! service in an ordo fleet should), and the books.
//!
//! Run them all with `cargo run -p ordo-cli -- up examples/bookstore`.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use ordo_resilience::fit::FitLayer;

/// The request-id header, passed from each request to the calls it makes.
pub const REQUEST_ID: &str = "x-request-id";

/// A book of the catalog.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Book {
    /// Its number in URLs.
    pub id: u32,
    /// Its title.
    pub title: &'static str,
    /// Who wrote it.
    pub author: &'static str,
    /// When it came out.
    pub year: u16,
}

/// The catalog: a fixed shelf.
pub const BOOKS: [Book; 6] = [
    Book {
        id: 1,
        title: "Release It!",
        author: "Michael T. Nygard",
        year: 2018,
    },
    Book {
        id: 2,
        title: "Site Reliability Engineering",
        author: "Beyer, Jones, Petoff, Murphy",
        year: 2016,
    },
    Book {
        id: 3,
        title: "Chaos Engineering",
        author: "Casey Rosenthal, Nora Jones",
        year: 2020,
    },
    Book {
        id: 4,
        title: "Designing Data-Intensive Applications",
        author: "Martin Kleppmann",
        year: 2017,
    },
    Book {
        id: 5,
        title: "The Art of Capacity Planning",
        author: "John Allspaw",
        year: 2008,
    },
    Book {
        id: 6,
        title: "Building Microservices",
        author: "Sam Newman",
        year: 2021,
    },
];

/// This instance's name, as ordo set it (`ratings-2`), for answers that
/// show which instance served them.
pub fn instance() -> String {
    std::env::var("ORDO_INSTANCE").unwrap_or_else(|_| "local".to_owned())
}

/// Serves `app` on `127.0.0.1:$PORT` until `SIGTERM` or Ctrl-C, then
/// finishes the requests in flight. `/health` answers 200.
pub async fn serve(name: &str, app: Router) -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| std::io::Error::other("set PORT to the port to listen on"))?;
    let app = app
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(FitLayer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{name} ({}) listening on 127.0.0.1:{port}", instance());
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await?;
    println!("{name} ({}) stopped", instance());
    Ok(())
}

async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// A service this one calls, through its sidecar.
#[derive(Debug, Clone)]
pub struct Dependency {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What a dependency answered, or why it did not.
#[derive(Debug)]
pub enum Answer {
    /// It answered with this status and JSON body.
    Json(StatusCode, serde_json::Value),
    /// The call failed: the sidecar could not be reached or broke off.
    Failed(String),
}

impl Dependency {
    /// The dependency whose sidecar URL is in `$var` (`ORDO_DEP_RATINGS_URL`).
    pub fn from_env(var: &str) -> Result<Dependency, String> {
        let base = std::env::var(var).map_err(|_| {
            format!("{var} is not set: run this service with `ordo up`, which sets it")
        })?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(1)));
        let client = Client::builder(TokioExecutor::new()).build(http);
        Ok(Dependency {
            base: base.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// `GET path`, passing on the FIT context and the request id of the
    /// request being handled.
    pub async fn get(&self, path: &str, incoming: &HeaderMap) -> Answer {
        let mut req = http::Request::get(format!("{}{path}", self.base));
        if let Some(fit) = ordo_resilience::fit::current() {
            req = req.header(ordo_resilience::fit::HEADER, fit);
        }
        if let Some(id) = incoming.get(REQUEST_ID) {
            req = req.header(REQUEST_ID, id.clone());
        }
        let req = match req.body(Full::new(Bytes::new())) {
            Ok(r) => r,
            Err(e) => return Answer::Failed(e.to_string()),
        };
        let res = match self.client.request(req).await {
            Ok(r) => r,
            Err(e) => return Answer::Failed(format!("{}: {e}", self.base)),
        };
        let status = res.status();
        match res.into_body().collect().await {
            Ok(body) => {
                let bytes = body.to_bytes();
                let json = serde_json::from_slice(&bytes).unwrap_or_else(
                    |_| serde_json::json!({ "text": String::from_utf8_lossy(&bytes) }),
                );
                Answer::Json(status, json)
            }
            Err(e) => Answer::Failed(format!("{}: {e}", self.base)),
        }
    }
}
