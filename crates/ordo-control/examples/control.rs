//! A control plane on a free port, with one instance registered through the client.
//!
//! Run with `cargo run -p ordo-control --example control [DATA_DIR]`; it prints the API's
//! address and a `curl` line to try, then serves until Ctrl-C:
//!
//! ```text
//! control plane at http://127.0.0.1:41235 (data in /tmp/ordo-control-example/control.db)
//! registered ratings-1 at index 2
//! try: curl -s http://127.0.0.1:41235/v1/services/ratings/instances
//! ```

use std::time::Duration;

use ordo_control::{ControlClient, ControlOptions, ControlPlane, Registration};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        std::env::temp_dir()
            .join("ordo-control-example")
            .display()
            .to_string()
    });
    let plane = ControlPlane::open(ControlOptions::new(dir)).await?;
    let (addr, server) = plane.serve("127.0.0.1:0").await?;
    println!(
        "control plane at http://{addr} (data in {})",
        plane.database().display()
    );

    let client = ControlClient::new(&format!("http://{addr}"))?.with_actor("example");
    let me = Registration::new("ratings-1", "ratings", "127.0.0.1:8081")
        .metadata("version", "1.0.0")
        .lease(Duration::from_secs(3600));
    client.register(&me).await?;
    let listing = client.instances(Some("ratings"), None).await?;
    println!("registered ratings-1 at index {}", listing.index);
    println!("try: curl -s http://{addr}/v1/services/ratings/instances");

    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
