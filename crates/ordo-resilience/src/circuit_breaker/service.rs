//! The circuit breaker service.

use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use super::{Circuit, CircuitBreaker, CircuitOpen, ResponseFuture};
use crate::classify::Classify;
use crate::error::ResilienceError;

/// A service guarded by a circuit; made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// An open circuit is noticed in `poll_ready`: the service reports ready
/// at once, without waiting for the inner service's capacity (a bulkhead's
/// slot, a rate limiter's permit) that the call would not use, and the call
/// is rejected.
#[derive(Debug)]
pub struct CircuitBreakerService<S, C> {
    inner: S,
    circuit: Option<Arc<Circuit>>,
    classifier: C,
    rejecting: Option<CircuitOpen>,
}

impl<S: Clone, C: Clone> Clone for CircuitBreakerService<S, C> {
    fn clone(&self) -> Self {
        // A rejection decided in poll_ready belongs to the service that
        // polled.
        CircuitBreakerService {
            inner: self.inner.clone(),
            circuit: self.circuit.clone(),
            classifier: self.classifier.clone(),
            rejecting: None,
        }
    }
}

impl<S, C> CircuitBreakerService<S, C> {
    pub(crate) fn new(inner: S, circuit: Option<Arc<Circuit>>, classifier: C) -> Self {
        CircuitBreakerService {
            inner,
            circuit,
            classifier,
            rejecting: None,
        }
    }

    /// The handle on this service's circuit.
    pub fn breaker(&self) -> CircuitBreaker {
        CircuitBreaker::from_circuit(
            self.circuit
                .clone()
                .expect("only a stack builds a layer without a policy, and never shows it"),
        )
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, C, Req> Service<Req> for CircuitBreakerService<S, C>
where
    S: Service<Req>,
    S::Error: From<CircuitOpen> + ResilienceError,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(circuit) = &self.circuit {
            self.rejecting = circuit.peek_rejection();
            if self.rejecting.is_some() {
                return Poll::Ready(Ok(()));
            }
        }
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(circuit) = &self.circuit else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
        if let Some(open) = self.rejecting.take() {
            circuit.rejected();
            return ResponseFuture::rejected(open);
        }
        match circuit.try_acquire() {
            Ok(permit) => {
                let start = circuit.times_calls().then(Instant::now);
                let fut = self.inner.call(req);
                ResponseFuture::admitted(
                    fut,
                    circuit.clone(),
                    permit,
                    self.classifier.clone(),
                    start,
                )
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}
