//! Each instance's loopback port: found by binding `127.0.0.1:0`, read, and
//! closed, then kept across the instance's in-place restarts.
//!
//! The platform never hands out a port twice (it remembers the last few
//! thousand), so a replacement is reachable at a new address and a client
//! still talking to the old one is refused rather than answered by a stranger.

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, TcpListener};

use crate::PlatformError;

/// How many ports handed out are remembered.
const REMEMBER: usize = 4096;
/// How many binds to try for a port not handed out before.
const TRIES: usize = 64;

/// The ports a platform handed out.
#[derive(Debug, Default)]
pub(super) struct Ports {
    order: VecDeque<u16>,
    seen: HashSet<u16>,
}

impl Ports {
    /// A free port this platform has not handed out recently.
    pub(super) fn take(&mut self) -> Result<u16, PlatformError> {
        for _ in 0..TRIES {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .map_err(|e| PlatformError::io("finding a free port on 127.0.0.1", e))?;
            let port = listener
                .local_addr()
                .map_err(|e| PlatformError::io("reading a bound port", e))?
                .port();
            if self.seen.insert(port) {
                self.order.push_back(port);
                if self.order.len() > REMEMBER
                    && let Some(old) = self.order.pop_front()
                {
                    self.seen.remove(&old);
                }
                return Ok(port);
            }
        }
        Err(PlatformError::io(
            "finding a free port on 127.0.0.1",
            std::io::Error::other(format!("{TRIES} binds gave only ports already handed out")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_same_port_twice() {
        let mut ports = Ports::default();
        let taken: HashSet<u16> = (0..50).map(|_| ports.take().unwrap()).collect();
        assert_eq!(taken.len(), 50);
    }
}
