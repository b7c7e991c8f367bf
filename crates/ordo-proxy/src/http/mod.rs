//! The HTTP data path: listeners, the request's steps, bodies and header
//! hygiene.

mod body;
mod conn;
mod forward;
pub mod h1;
pub mod headers;
mod pooled;
mod server;
mod tls;
mod watchdog;

pub use crate::upstream::UpstreamBody;
pub(crate) use body::Received;
pub use body::{BodyError, Hold, RequestBody, ResponseBody};
pub use forward::Shared;
pub(crate) use server::{
    ListenerTask, bind_listener, same_socket as server_same_socket, start_listener,
};
pub(crate) use tls::acceptor as tls_acceptor;
