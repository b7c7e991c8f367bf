//! TEMP scaffold (not committed).
#[path = "../proxy/admin.rs"]
mod admin;
#[path = "../proxy/deadline.rs"]
mod deadline;
#[path = "../proxy/h2.rs"]
mod h2;
#[path = "../proxy/hygiene.rs"]
mod hygiene;
#[path = "../proxy/support.rs"]
mod support;
#[path = "../proxy/upgrade.rs"]
mod upgrade;
