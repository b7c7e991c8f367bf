//! The ratings service: stars and review counts per book, computed from
//! the book's number so every replica agrees. Answers name the instance
//! that served them, so load balancing and failover can be seen.
//!
//! Run with `cargo run -p ordo-cli -- up examples/bookstore` (ordo gives it
//! `PORT`); alone: `PORT=9003 cargo run -p bookstore --bin bookstore-ratings`,
//! then `curl localhost:9003/ratings/1`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

async fn rating(Path(id): Path<u32>) -> (StatusCode, Json<Value>) {
    if !bookstore::BOOKS.iter().any(|b| b.id == id) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no book {id}") })),
        );
    }
    // A fixed spread: 3.0 to 4.9 stars, 100 to 9,999 reviews.
    let h = id.wrapping_mul(2_654_435_761);
    let stars = 3.0 + f64::from(h % 20) / 10.0;
    let reviews = 100 + h % 9_900;
    (
        StatusCode::OK,
        Json(json!({
            "book": id,
            "stars": stars,
            "reviews": reviews,
            "instance": bookstore::instance(),
        })),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = axum::Router::new().route("/ratings/{id}", get(rating));
    bookstore::serve("ratings", app).await
}
