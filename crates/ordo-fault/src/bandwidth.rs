//! A body that trickles out at a set rate: the bandwidth fault.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

/// Bytes let through at once, at most (and at least, so a slow rate still
/// moves in sensible pieces).
const PIECE: u64 = 16 * 1024;

pin_project! {
    /// Wraps a body so its data arrives at no more than `bytes_per_second`
    /// (counted from the first poll; trailers pass as they come).
    #[derive(Debug)]
    pub struct Throttled<B> {
        #[pin]
        inner: B,
        rate: u64,
        start: Option<Instant>,
        sent: u64,
        held: Option<Bytes>,
        wait: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> Throttled<B> {
    /// `inner`, at most `bytes_per_second` (at least 1).
    pub fn new(inner: B, bytes_per_second: u64) -> Self {
        Throttled {
            inner,
            rate: bytes_per_second.max(1),
            start: None,
            sent: 0,
            held: None,
            wait: None,
        }
    }

    /// The body being slowed down.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B> Body for Throttled<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let start = *this.start.get_or_insert_with(Instant::now);
        loop {
            if let Some(held) = this.held.as_mut() {
                // Bytes allowed by now (a small piece may go at once).
                let piece = PIECE.min(*this.rate).max(1);
                let allowed = (start.elapsed().as_secs_f64() * *this.rate as f64) as u64 + piece;
                let may = allowed.saturating_sub(*this.sent);
                if may == 0 {
                    // Wait until a whole piece more is allowed.
                    let due =
                        start + Duration::from_secs_f64(*this.sent as f64 / *this.rate as f64);
                    let at = due.max(Instant::now() + Duration::from_millis(1));
                    match this.wait.as_mut() {
                        Some(w) => w.as_mut().reset(at),
                        None => *this.wait = Some(Box::pin(tokio::time::sleep_until(at))),
                    }
                    let w = this.wait.as_mut().expect("set above");
                    ready!(w.as_mut().poll(cx));
                    continue;
                }
                let n = (held.len() as u64).min(may).min(piece) as usize;
                let out = held.split_to(n);
                if held.is_empty() {
                    *this.held = None;
                }
                *this.sent += n as u64;
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => *this.held = Some(data),
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut h = self.inner.size_hint();
        let held = self.held.as_ref().map_or(0, |b| b.len() as u64);
        h.set_lower(h.lower() + held);
        if let Some(u) = h.upper() {
            h.set_upper(u + held);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test(start_paused = true)]
    async fn a_body_takes_as_long_as_its_rate_says() {
        let data = Bytes::from(vec![7u8; 100 * 1024]);
        let body = Throttled::new(Full::new(data.clone()), 10 * 1024);
        let t0 = Instant::now();
        let got = body.collect().await.unwrap().to_bytes();
        let took = t0.elapsed();
        assert_eq!(got, data);
        // 100 KiB at 10 KiB/s, less the first piece sent at once.
        assert!(
            took >= Duration::from_millis(8900) && took <= Duration::from_millis(10_100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_small_body_under_one_piece_goes_at_once() {
        let body = Throttled::new(Full::new(Bytes::from_static(b"hello")), 1024);
        let t0 = Instant::now();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_very_low_rate_still_moves() {
        let body = Throttled::new(Full::new(Bytes::from_static(b"hello")), 1);
        let t0 = Instant::now();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(4) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}
