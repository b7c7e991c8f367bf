//! The catalog service: the books, each with its rating from the ratings
//! service, called through this instance's sidecar
//! (`ORDO_DEP_RATINGS_URL`). A book whose rating cannot be had is an
//! error (502): the catalog does not make up ratings, so failures of its
//! dependency show unless ordo's policies contain them.
//!
//! Run with `cargo run -p ordo-cli -- up examples/bookstore`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use bookstore::{Answer, BOOKS, Dependency};
use serde_json::{Value, json};

async fn books() -> Json<Value> {
    Json(json!({ "books": BOOKS, "instance": bookstore::instance() }))
}

async fn book(
    State(ratings): State<Arc<Dependency>>,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let Some(book) = BOOKS.iter().find(|b| b.id == id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no book {id}") })),
        );
    };
    match ratings.get(&format!("/ratings/{id}"), &headers).await {
        Answer::Json(StatusCode::OK, rating) => (
            StatusCode::OK,
            Json(json!({
                "book": book,
                "rating": rating,
                "instance": bookstore::instance(),
            })),
        ),
        Answer::Json(status, body) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("ratings answered {status}"), "ratings": body })),
        ),
        Answer::Failed(why) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("ratings failed: {why}") })),
        ),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let ratings = Dependency::from_env("ORDO_DEP_RATINGS_URL").map_err(std::io::Error::other)?;
    let app = Router::new()
        .route("/books", get(books))
        .route("/books/{id}", get(book))
        .with_state(Arc::new(ratings));
    bookstore::serve("catalog", app).await
}
