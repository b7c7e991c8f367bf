//! Making another attempt of a request: cloning it, and knowing whether it
//! is safe to send twice.
//!
//! A retried or hedged request reaches the dependency more than once. For a
//! read that is harmless; for "charge this card" it is not. Retry and
//! hedging therefore never send a request again unless it is idempotent,
//! or they are told to with
//! [`retry_non_idempotent`](super::RetryBuilder::retry_non_idempotent).
//!
//! A request type says how through [`Retryable`]: [`http::Request`]s are
//! idempotent by method (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) unless an
//! [`Idempotency`] extension says otherwise; plain values (strings, numbers,
//! byte vectors) are idempotent. For types you cannot implement the trait
//! on, pass a [`Replay`] of your own.

use std::sync::Arc;

/// Whether a request may be sent more than once, set as an
/// [`http::Request`] extension to override the method's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idempotency {
    /// Safe to send again.
    Idempotent,
    /// Must not be sent again unless retry is told to.
    NonIdempotent,
}

/// A request that can be sent again.
pub trait Retryable: Sized {
    /// A copy for another attempt, or `None` if this request cannot be
    /// copied (a streaming body, say).
    fn try_clone(&self) -> Option<Self>;

    /// Whether sending it twice is harmless.
    fn is_idempotent(&self) -> bool {
        true
    }
}

impl<B: Clone> Retryable for http::Request<B> {
    fn try_clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn is_idempotent(&self) -> bool {
        match self.extensions().get::<Idempotency>() {
            Some(i) => *i == Idempotency::Idempotent,
            None => matches!(
                *self.method(),
                http::Method::GET
                    | http::Method::HEAD
                    | http::Method::OPTIONS
                    | http::Method::TRACE
                    | http::Method::PUT
                    | http::Method::DELETE
            ),
        }
    }
}

macro_rules! plain_retryable {
    ($($t:ty),*) => {$(
        impl Retryable for $t {
            #[inline]
            fn try_clone(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

plain_retryable!(
    (),
    bool,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    String,
    &'static str,
    Vec<u8>,
    Arc<str>,
    Arc<[u8]>
);

/// Decides how to make another attempt of a request; see the module docs.
pub trait Replay<Req> {
    /// A copy for another attempt, or `None`.
    fn clone_request(&self, req: &Req) -> Option<Req>;

    /// Whether sending it twice is harmless.
    fn is_idempotent(&self, req: &Req) -> bool;
}

/// Replays requests by their [`Retryable`] implementation (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct ByRequest;

impl<Req: Retryable> Replay<Req> for ByRequest {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        req.try_clone()
    }

    #[inline]
    fn is_idempotent(&self, req: &Req) -> bool {
        req.is_idempotent()
    }
}

/// Replays any `Clone` request and treats every request as idempotent.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneAll;

impl<Req: Clone> Replay<Req> for CloneAll {
    #[inline]
    fn clone_request(&self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }

    #[inline]
    fn is_idempotent(&self, _req: &Req) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_methods_decide_idempotency_unless_marked() {
        let get = http::Request::get("/").body(()).unwrap();
        assert!(get.is_idempotent());
        let mut post = http::Request::post("/").body(()).unwrap();
        assert!(!post.is_idempotent());
        post.extensions_mut().insert(Idempotency::Idempotent);
        assert!(post.is_idempotent());
        let mut put = http::Request::put("/").body(()).unwrap();
        put.extensions_mut().insert(Idempotency::NonIdempotent);
        assert!(!put.is_idempotent());
    }
}
