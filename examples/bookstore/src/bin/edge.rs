//! The edge service: what users call. `/` is the home page, a featured
//! book with its rating (each request features the next book, so every
//! request reaches all three services); `/books` lists the books;
//! `/books/{id}` shows one with its rating. All come from the catalog,
//! called through this instance's sidecar (`ORDO_DEP_CATALOG_URL`); errors
//! of the catalog are passed on with their status.
//!
//! Run with `cargo run -p ordo-cli -- up examples/bookstore`, then
//! `curl http://127.0.0.1:8080/books/1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use bookstore::{Answer, Dependency};
use serde_json::{Value, json};

type Catalog = State<Arc<Dependency>>;

/// Which book the home page features next.
static FEATURED: AtomicU32 = AtomicU32::new(0);

async fn pass_on(
    catalog: &Dependency,
    path: &str,
    headers: &HeaderMap,
) -> (StatusCode, Json<Value>) {
    match catalog.get(path, headers).await {
        Answer::Json(status, mut body) => {
            if let Some(obj) = body.as_object_mut() {
                obj.insert("edge".into(), json!(bookstore::instance()));
            }
            (status, Json(body))
        }
        Answer::Failed(why) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("catalog failed: {why}") })),
        ),
    }
}

async fn home(State(catalog): Catalog, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let n = bookstore::BOOKS.len() as u32;
    let id = FEATURED.fetch_add(1, Ordering::Relaxed) % n + 1;
    pass_on(&catalog, &format!("/books/{id}"), &headers).await
}

async fn list(State(catalog): Catalog, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    pass_on(&catalog, "/books", &headers).await
}

async fn book(
    State(catalog): Catalog,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    pass_on(&catalog, &format!("/books/{id}"), &headers).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let catalog = Dependency::from_env("ORDO_DEP_CATALOG_URL").map_err(std::io::Error::other)?;
    let app = Router::new()
        .route("/", get(home))
        .route("/books", get(list))
        .route("/books/{id}", get(book))
        .with_state(Arc::new(catalog));
    bookstore::serve("edge", app).await
}
