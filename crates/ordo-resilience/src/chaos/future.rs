//! The chaos service's response future: the call, a made-up result, or a
//! delay before either.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

pin_project! {
    /// See [`ChaosService`](super::ChaosService).
    pub struct ResponseFuture<S, Req, T, E>
    where
        S: Service<Req, Response = T, Error = E>,
    {
        #[pin]
        state: State<S, Req, T, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, T, E>
    where
        S: Service<Req, Response = T, Error = E>,
    {
        Calling { #[pin] call: S::Future },
        Injected { result: Option<Result<T, E>> },
        Delaying {
            #[pin]
            sleep: Sleep,
            ready: Option<(S, Req)>,
            result: Option<Result<T, E>>,
        },
    }
}

impl<S, Req, T, E> fmt::Debug for ResponseFuture<S, Req, T, E>
where
    S: Service<Req, Response = T, Error = E>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("chaos::ResponseFuture")
    }
}

impl<S, Req, T, E> ResponseFuture<S, Req, T, E>
where
    S: Service<Req, Response = T, Error = E>,
{
    pub(crate) fn passed(call: S::Future) -> Self {
        ResponseFuture {
            state: State::Calling { call },
        }
    }

    pub(crate) fn injected(result: Result<T, E>) -> Self {
        ResponseFuture {
            state: State::Injected {
                result: Some(result),
            },
        }
    }

    pub(crate) fn delayed(
        delay: Duration,
        ready: Option<(S, Req)>,
        result: Option<Result<T, E>>,
    ) -> Self {
        ResponseFuture {
            state: State::Delaying {
                sleep: tokio::time::sleep(delay),
                ready,
                result,
            },
        }
    }
}

impl<S, Req, T, E> Future for ResponseFuture<S, Req, T, E>
where
    S: Service<Req, Response = T, Error = E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { call } => return call.poll(cx),
                StateProj::Injected { result } => {
                    return Poll::Ready(result.take().expect("polled after completion"));
                }
                StateProj::Delaying {
                    sleep,
                    ready,
                    result,
                } => {
                    ready!(sleep.poll(cx));
                    if let Some(r) = result.take() {
                        return Poll::Ready(r);
                    }
                    let (mut svc, req) = ready.take().expect("a call or a result waits");
                    let call = svc.call(req);
                    this.state.set(State::Calling { call });
                }
            }
        }
    }
}
