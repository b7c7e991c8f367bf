//! The edge service: what users call. `/` lists the books, `/books/{id}`
//! shows one with its rating; both come from the catalog, called through
//! this instance's sidecar (`ORDO_DEP_CATALOG_URL`). Errors of the
//! catalog are passed on with their status.
//!
//! Run with `cargo run -p ordo-cli -- up examples/bookstore`, then
//! `curl http://127.0.0.1:8080/books/1`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use bookstore::{Answer, Dependency};
use serde_json::{Value, json};

type Catalog = State<Arc<Dependency>>;

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

async fn index(State(catalog): Catalog, headers: HeaderMap) -> (StatusCode, Json<Value>) {
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
        .route("/", get(index))
        .route("/books/{id}", get(book))
        .with_state(Arc::new(catalog));
    bookstore::serve("edge", app).await
}
