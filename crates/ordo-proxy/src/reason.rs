//! Why ordo itself answered a request instead of an upstream: the
//! `x-ordo-reason` header of every response the proxy generates.

use http::{HeaderValue, StatusCode};

/// The header naming the reason on a generated response.
pub const REASON_HEADER: &str = "x-ordo-reason";
/// Set (to `true`) on a route's configured fallback response.
pub const FALLBACK_HEADER: &str = "x-ordo-fallback";

/// Why the proxy answered by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No route of the listener matched the request (404).
    NoRoute,
    /// The route's or every endpoint's circuit breaker is open (503).
    CircuitOpen,
    /// The route's bulkhead is full (503).
    BulkheadFull,
    /// The route's adaptive concurrency limit is reached (503).
    ConcurrencyLimited,
    /// The cluster has no endpoint that is healthy and not ejected (503).
    NoHealthyEndpoint,
    /// The endpoint refused or did not accept the connection (503).
    ConnectFailure,
    /// The connection broke before the response headers (502).
    UpstreamReset,
    /// The upstream's response was not valid HTTP (502).
    UpstreamProtocolError,
    /// The route's timeout or the last attempt's timeout fired (504).
    UpstreamTimeout,
    /// A retry was due but the retry budget had nothing left; the last
    /// attempt's failure is returned (503).
    RetryBudgetExhausted,
    /// The request body is larger than the listener accepts (413).
    BodyTooLarge,
    /// The client did not send its request body in time (408).
    RequestTimeout,
    /// The request could not be forwarded as it is (400).
    BadRequest,
    /// The request's header block is over the listener's `max_header_bytes`
    /// or `max_headers` (431).
    HeadersTooLarge,
    /// A `CONNECT` request: ordo forwards requests, it does not open
    /// tunnels (501).
    ConnectNotSupported,
}

impl Reason {
    /// Every reason, for metrics.
    pub const ALL: [Reason; 15] = [
        Reason::NoRoute,
        Reason::CircuitOpen,
        Reason::BulkheadFull,
        Reason::ConcurrencyLimited,
        Reason::NoHealthyEndpoint,
        Reason::ConnectFailure,
        Reason::UpstreamReset,
        Reason::UpstreamProtocolError,
        Reason::UpstreamTimeout,
        Reason::RetryBudgetExhausted,
        Reason::BodyTooLarge,
        Reason::RequestTimeout,
        Reason::BadRequest,
        Reason::HeadersTooLarge,
        Reason::ConnectNotSupported,
    ];

    /// The header value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::NoRoute => "no-route",
            Reason::CircuitOpen => "circuit-open",
            Reason::BulkheadFull => "bulkhead-full",
            Reason::ConcurrencyLimited => "concurrency-limited",
            Reason::NoHealthyEndpoint => "no-healthy-endpoint",
            Reason::ConnectFailure => "connect-failure",
            Reason::UpstreamReset => "upstream-reset",
            Reason::UpstreamProtocolError => "upstream-protocol-error",
            Reason::UpstreamTimeout => "upstream-timeout",
            Reason::RetryBudgetExhausted => "retry-budget-exhausted",
            Reason::BodyTooLarge => "request-body-too-large",
            Reason::RequestTimeout => "request-timeout",
            Reason::BadRequest => "bad-request",
            Reason::HeadersTooLarge => "request-headers-too-large",
            Reason::ConnectNotSupported => "connect-not-supported",
        }
    }

    /// The status of the generated response.
    pub const fn status(self) -> StatusCode {
        match self {
            Reason::NoRoute => StatusCode::NOT_FOUND,
            Reason::UpstreamReset | Reason::UpstreamProtocolError => StatusCode::BAD_GATEWAY,
            Reason::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Reason::BadRequest => StatusCode::BAD_REQUEST,
            Reason::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Reason::ConnectNotSupported => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether the client caused it (no route, a bad or slow request, a
    /// body or header block too large, a `CONNECT`): such answers are
    /// never replaced by a route's fallback, which stands in for a failing
    /// upstream.
    pub const fn is_client_side(self) -> bool {
        matches!(
            self,
            Reason::NoRoute
                | Reason::BodyTooLarge
                | Reason::RequestTimeout
                | Reason::BadRequest
                | Reason::HeadersTooLarge
                | Reason::ConnectNotSupported
        )
    }

    /// The header value, ready to insert.
    pub const fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    /// The body of the generated response: one line a person can act on.
    pub const fn message(self) -> &'static str {
        match self {
            Reason::NoRoute => "no route of this listener matches the request\n",
            Reason::CircuitOpen => {
                "the circuit breaker is open: the upstream is failing, requests are held back\n"
            }
            Reason::BulkheadFull => "too many requests in flight on this route (bulkhead full)\n",
            Reason::ConcurrencyLimited => "the route's adaptive concurrency limit is reached\n",
            Reason::NoHealthyEndpoint => "the cluster has no healthy endpoint\n",
            Reason::ConnectFailure => "could not connect to an upstream endpoint\n",
            Reason::UpstreamReset => "the upstream closed the connection before answering\n",
            Reason::UpstreamProtocolError => "the upstream's response is not valid HTTP\n",
            Reason::UpstreamTimeout => "the upstream did not answer in time\n",
            Reason::RetryBudgetExhausted => "the upstream failed and the retry budget is spent\n",
            Reason::BodyTooLarge => "the request body is too large\n",
            Reason::RequestTimeout => "the request body did not arrive in time\n",
            Reason::BadRequest => "the request cannot be forwarded\n",
            Reason::HeadersTooLarge => "the request's header block is over the listener's limit\n",
            Reason::ConnectNotSupported => {
                "CONNECT is not supported: ordo forwards requests, not tunnels\n"
            }
        }
    }
}
