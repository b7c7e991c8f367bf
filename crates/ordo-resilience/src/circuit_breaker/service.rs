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
#[derive(Debug, Clone)]
pub struct CircuitBreakerService<S, C> {
    inner: S,
    circuit: Option<Arc<Circuit>>,
    classifier: C,
}

impl<S, C> CircuitBreakerService<S, C> {
    pub(crate) fn new(inner: S, circuit: Option<Arc<Circuit>>, classifier: C) -> Self {
        CircuitBreakerService {
            inner,
            circuit,
            classifier,
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
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let Some(circuit) = &self.circuit else {
            return ResponseFuture::passthrough(self.inner.call(req));
        };
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
