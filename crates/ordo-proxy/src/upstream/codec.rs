//! HTTP/1.1 messages on an upstream connection: the request head written
//! from the client's parts without copying them into a new request, and the
//! response head parsed (httparse) into `http` types whose header values
//! share the read buffer instead of copying it.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use crate::http::headers::Added;

/// Most response header fields accepted from an upstream.
pub(crate) const MAX_HEADERS: usize = 128;
/// Largest response head accepted from an upstream, in bytes.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How a request body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFraming {
    /// No body and no framing header (`GET` without a body).
    None,
    /// `content-length: n`.
    Length(u64),
    /// `transfer-encoding: chunked`: a streamed body of unknown length.
    Chunked,
}

/// Writes a request head into `buf` (cleared first): the method, the
/// origin-form target, every header of `headers` except the client's own
/// framing (`content-length`; `transfer-encoding` is hop-by-hop and already
/// gone) and `expect`, `host` when the client sent none, then the headers
/// this hop adds and its framing.
pub(crate) fn encode_request_head(
    buf: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    added: Added<'_>,
    host: &str,
    framing: RequestFraming,
) {
    buf.clear();
    buf.extend_from_slice(method.as_str().as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(if target.is_empty() { "/" } else { target }.as_bytes());
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    debug_assert_eq!(added.host_in_headers(), headers.contains_key(header::HOST));
    if !added.host_in_headers() {
        put(buf, b"host", host.as_bytes());
    }
    for (name, value) in headers {
        // `expect: 100-continue` was answered to the client already (the
        // body is sent without waiting for the upstream's 100).
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::EXPECT
        {
            continue;
        }
        put(buf, name.as_str().as_bytes(), value.as_bytes());
    }
    for (name, value) in added.iter() {
        put(buf, name.as_str().as_bytes(), value.as_bytes());
    }
    match framing {
        RequestFraming::None => {}
        RequestFraming::Length(n) => {
            let mut digits = itoa_buf();
            put(buf, b"content-length", fmt_u64(n, &mut digits));
        }
        RequestFraming::Chunked => put(buf, b"transfer-encoding", b"chunked"),
    }
    buf.extend_from_slice(b"\r\n");
}

pub(crate) fn put(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.extend_from_slice(name);
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

pub(crate) fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn fmt_u64(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

/// Appends one chunk's size line (`{len:x}\r\n`) for a chunked body.
pub(crate) fn chunk_size_line(buf: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
    buf.extend_from_slice(b"\r\n");
}

/// Why an upstream's response cannot be read as HTTP/1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProtocolError {
    /// httparse refused the head.
    #[error("malformed response head: {0}")]
    Head(httparse::Error),
    /// The head is larger than [`MAX_HEAD_BYTES`].
    #[error("response head over {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// A header name or value the `http` crate refuses.
    #[error("invalid response header")]
    Header,
    /// A status code outside 100..=999.
    #[error("invalid status code")]
    Status,
    /// `content-length` missing a number, or several that disagree.
    #[error("invalid content-length")]
    ContentLength,
    /// A chunked body that does not follow the chunked coding.
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
}

/// A response head: the status line, the headers to pass on, and what
/// the connection-level headers said (they are not among `headers`).
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    /// The end-to-end headers (all of them for a `101`).
    pub(crate) headers: HeaderMap,
    /// `Connection` said `close`.
    close: bool,
    /// `Connection` said `keep-alive`.
    keep_alive: bool,
    /// `Transfer-Encoding` was present: whether its last coding is
    /// `chunked`.
    chunked: Option<bool>,
    /// `Content-Length` came with `Transfer-Encoding` (and was removed: the
    /// body's length is the coding's, not the header's).
    smuggled_length: bool,
    /// What the `Content-Length` fields said, read while building.
    length: Length,
}

/// What a response's `Content-Length` fields said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// No such field.
    Absent,
    /// Every field (and every item of a comma list) is this number.
    Is(u64),
    /// Not a number, or numbers that disagree.
    Invalid,
}

impl Length {
    /// Takes in one more `Content-Length` field.
    pub(crate) fn and(self, value: &[u8]) -> Length {
        let mut now = self;
        for part in value.split(|b| *b == b',') {
            now = match (now, parse_decimal(part.trim_ascii())) {
                (Length::Invalid, _) | (_, None) => Length::Invalid,
                (Length::Absent, Some(n)) => Length::Is(n),
                (Length::Is(m), Some(n)) if m == n => Length::Is(n),
                (Length::Is(_), Some(_)) => Length::Invalid,
            };
        }
        now
    }
}

/// Where one header field of a response head is in the buffer it was
/// parsed from: `(name start, name end, value start, value end)`.
pub(crate) type Field = (u32, u32, u32, u32);

/// Records where each of `headers`, parsed from `buf`, is in it (`fields`
/// cleared first).
pub(crate) fn field_places(buf: &[u8], headers: &[httparse::Header<'_>], fields: &mut Vec<Field>) {
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
    fields.clear();
    fields.extend(headers.iter().map(|h| {
        let (n, v) = (at(h.name.as_bytes()), at(h.value));
        (n, n + h.name.len() as u32, v, v + h.value.len() as u32)
    }));
}

/// `name`, when `raw` spells it as senders write it: lowercase, or as
/// `title` (`Content-Length`).
pub(crate) fn spelled(raw: &[u8], name: HeaderName, title: &[u8]) -> Option<HeaderName> {
    (raw == title || raw == name.as_str().as_bytes()).then_some(name)
}

/// A response head's status line and length; its fields are in the
/// [`Field`] list it was parsed with.
#[derive(Debug)]
pub(crate) struct ParsedHead {
    /// Bytes the head took, blank line included.
    pub(crate) len: usize,
    code: u16,
    version: u8,
}

/// Parses a response head at the start of `buf`: `Ok(None)` when more
/// bytes are needed. The fields' places go in `fields` (cleared first; a
/// connection keeps the list for its capacity, so the common response
/// allocates nothing here, and nothing of `MAX_HEADERS` size is zeroed or
/// moved).
pub(crate) fn parse_response_head(
    buf: &[u8],
    fields: &mut Vec<Field>,
) -> Result<Option<ParsedHead>, ProtocolError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut res, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(ProtocolError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ProtocolError::Head(e)),
    };
    if len > MAX_HEAD_BYTES {
        return Err(ProtocolError::HeadTooLarge);
    }
    field_places(buf, res.headers, fields);
    Ok(Some(ParsedHead {
        len,
        code: res.code.unwrap_or(0),
        version: res.version.unwrap_or(1),
    }))
}

impl ParsedHead {
    /// The status code (only read before building, to skip 1xx heads).
    pub(crate) fn code(&self) -> u16 {
        self.code
    }

    /// Builds the head from `head`, the bytes it was parsed from (frozen),
    /// and the `fields` found there: every header value is a slice of
    /// `head`, so none is copied. The
    /// hop-by-hop headers are read here and left out (except on a `101`,
    /// whose `Upgrade` and `Connection` the client needs), so the common
    /// response needs no stripping later.
    pub(crate) fn build(
        &self,
        head: &Bytes,
        fields: &[Field],
    ) -> Result<ResponseHead, ProtocolError> {
        let status = StatusCode::from_u16(self.code).map_err(|_| ProtocolError::Status)?;
        let version = if self.version == 0 {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        let switching = status == StatusCode::SWITCHING_PROTOCOLS;
        let mut out = ResponseHead {
            status,
            version,
            // One more for the `x-request-id` the proxy adds.
            headers: crate::spare_maps::take(fields.len() + 1),
            close: false,
            keep_alive: false,
            chunked: None,
            smuggled_length: false,
            length: Length::Absent,
        };
        for &(ns, ne, vs, ve) in fields {
            let raw_name = &head[ns as usize..ne as usize];
            let name = match common_name(raw_name) {
                Some(n) => n,
                None => HeaderName::from_bytes(raw_name).map_err(|_| ProtocolError::Header)?,
            };
            let raw = &head[vs as usize..ve as usize];
            let keep = if name == header::CONTENT_LENGTH {
                out.length = out.length.and(raw);
                true
            } else if name == header::CONNECTION {
                // Pass it on only when it names other headers, for the
                // proxy's hygiene step to remove them.
                let mut names_others = false;
                for token in tokens(raw) {
                    if token.eq_ignore_ascii_case(b"close") {
                        out.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        out.keep_alive = true;
                    } else if !token.eq_ignore_ascii_case(b"upgrade") {
                        names_others = true;
                    }
                }
                names_others || switching
            } else if name == header::TRANSFER_ENCODING {
                // Several fields are one list: the last one's last coding
                // is the message's last.
                let last = tokens(raw).last();
                out.chunked = Some(last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")));
                false
            } else {
                switching || !is_hop_by_hop(&name)
            };
            if keep {
                let value = HeaderValue::from_maybe_shared(head.slice(vs as usize..ve as usize))
                    .map_err(|_| ProtocolError::Header)?;
                out.headers.append(name, value);
            }
        }
        if out.chunked.is_some() && out.length != Length::Absent {
            out.headers.remove(header::CONTENT_LENGTH);
            out.smuggled_length = true;
        }
        Ok(out)
    }
}

/// The names upstreams send on most responses, matched on their bytes as
/// servers write them (`Content-Length` or `content-length`) before
/// `HeaderName`'s general parser, which costs several times more per name.
/// Any other spelling goes to the general parser.
fn common_name(raw: &[u8]) -> Option<HeaderName> {
    let (name, title): (HeaderName, &[u8]) = match raw.len() {
        4 => (header::DATE, b"Date"),
        6 => (header::SERVER, b"Server"),
        10 => (header::CONNECTION, b"Connection"),
        12 => (header::CONTENT_TYPE, b"Content-Type"),
        13 => (header::CACHE_CONTROL, b"Cache-Control"),
        14 => (header::CONTENT_LENGTH, b"Content-Length"),
        17 => (header::TRANSFER_ENCODING, b"Transfer-Encoding"),
        _ => return None,
    };
    spelled(raw, name, title)
}

/// Hop-by-hop response headers other than `Connection` and
/// `Transfer-Encoding` (RFC 9110 §7.6.1), and `Upgrade` outside a `101`.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    *name == header::TE
        || *name == header::UPGRADE
        || *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The comma-separated tokens of a header value, trimmed, empty ones left
/// out.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    /// No body: a response to `HEAD`, or a 1xx, 204 or 304.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked coding.
    Chunked,
    /// Everything until the upstream closes the connection.
    UntilClose,
}

/// The response's body framing, and whether the connection may carry
/// another request after it.
pub(crate) fn response_framing(
    request_method: &Method,
    head: &ResponseHead,
) -> Result<(ResponseFraming, bool), ProtocolError> {
    let keep_alive = match head.version {
        Version::HTTP_10 => head.keep_alive && !head.close,
        _ => !head.close,
    };
    let status = head.status.as_u16();
    if *request_method == Method::HEAD
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok((ResponseFraming::Empty, keep_alive));
    }
    if let Some(chunked) = head.chunked {
        // With transfer-encoding, content-length is ignored (and removed,
        // see `build`) and the connection must not be reused (RFC 9112
        // §6.3, item 3); nor after a transfer-encoding from an HTTP/1.0
        // server (§6.1).
        let clean = !head.smuggled_length && head.version != Version::HTTP_10;
        return Ok(if chunked {
            (ResponseFraming::Chunked, keep_alive && clean)
        } else {
            (ResponseFraming::UntilClose, false)
        });
    }
    // Every value (repeated fields, comma lists) must be the same number.
    match head.length {
        Length::Is(n) => Ok((ResponseFraming::Length(n), keep_alive)),
        Length::Absent => Ok((ResponseFraming::UntilClose, false)),
        Length::Invalid => Err(ProtocolError::ContentLength),
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> ResponseHead {
        let bytes = Bytes::copy_from_slice(text.as_bytes());
        let mut fields = Vec::new();
        let parsed = parse_response_head(&bytes, &mut fields).unwrap().unwrap();
        assert_eq!(parsed.len, text.len());
        parsed.build(&bytes.slice(..parsed.len), &fields).unwrap()
    }

    #[test]
    fn request_head_replaces_the_clients_framing_with_this_hops() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example.com"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let mut buf = Vec::new();
        encode_request_head(
            &mut buf,
            &Method::POST,
            "/p?q=1",
            &h,
            Added::default().with_host(true),
            "10.0.0.1:80",
            RequestFraming::Length(5),
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "POST /p?q=1 HTTP/1.1\r\nhost: example.com\r\nx-a: 1\r\nx-a: 2\r\ncontent-length: 5\r\n\r\n"
        );
    }

    #[test]
    fn request_head_names_the_endpoint_when_the_client_sent_no_host() {
        let mut buf = Vec::new();
        encode_request_head(
            &mut buf,
            &Method::GET,
            "",
            &HeaderMap::new(),
            Added::default(),
            "10.0.0.1:80",
            RequestFraming::Chunked,
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "GET / HTTP/1.1\r\nhost: 10.0.0.1:80\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn common_names_as_servers_write_them_are_the_standard_ones() {
        assert_eq!(common_name(b"Content-Length"), Some(header::CONTENT_LENGTH));
        assert_eq!(common_name(b"server"), Some(header::SERVER));
        // Other spellings: left to the general parser.
        assert_eq!(common_name(b"DATE"), None);
        assert_eq!(common_name(b"x-custom"), None);
        // Right length, other name: left to the general parser.
        assert_eq!(common_name(b"content-lengtX"), None);
        assert_eq!(common_name(b"x-tag1"), None);
    }

    #[test]
    fn content_length_fields_must_agree() {
        assert_eq!(Length::Absent.and(b"5"), Length::Is(5));
        assert_eq!(Length::Absent.and(b"5, 5").and(b" 5 "), Length::Is(5));
        assert_eq!(Length::Absent.and(b"5").and(b"6"), Length::Invalid);
        assert_eq!(Length::Absent.and(b"5,"), Length::Invalid);
        assert_eq!(Length::Absent.and(b"-1"), Length::Invalid);
        assert_eq!(Length::Invalid.and(b"5"), Length::Invalid);
    }

    #[test]
    fn numbers_in_decimal_and_hex() {
        let mut d = itoa_buf();
        assert_eq!(fmt_u64(0, &mut d), b"0");
        assert_eq!(fmt_u64(u64::MAX, &mut d), b"18446744073709551615");
        let mut buf = Vec::new();
        chunk_size_line(&mut buf, 0);
        chunk_size_line(&mut buf, 0x1a2b);
        assert_eq!(buf, b"0\r\n1a2b\r\n");
    }

    #[test]
    fn a_partial_head_asks_for_more_and_an_endless_one_is_refused() {
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nx: y\r\n", &mut Vec::new()),
            Ok(None)
        ));
        let mut long = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        long.resize(MAX_HEAD_BYTES + 1, b'a');
        assert!(matches!(
            parse_response_head(&long, &mut Vec::new()),
            Err(ProtocolError::HeadTooLarge)
        ));
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 2x0 OK\r\n\r\n", &mut Vec::new()),
            Err(ProtocolError::Head(_))
        ));
    }

    #[test]
    fn header_values_share_the_head() {
        let h = head("HTTP/1.1 201 Created\r\nX-One: a\r\nx-one: b\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.status, StatusCode::CREATED);
        assert_eq!(h.version, Version::HTTP_11);
        let ones: Vec<_> = h.headers.get_all("x-one").iter().collect();
        assert_eq!(ones, ["a", "b"]);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let get = Method::GET;
        let f = |text: &str, m: &Method| response_framing(m, &head(text));
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n", &get),
            Ok((ResponseFraming::Length(12), true))
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n",
                &Method::HEAD
            ),
            Ok((ResponseFraming::Empty, true))
        );
        assert_eq!(
            f(
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 12\r\n\r\n",
                &get
            ),
            Ok((ResponseFraming::Empty, true))
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
                &get
            ),
            Ok((ResponseFraming::Chunked, true))
        );
        // Both framings: chunked wins, content-length goes, and the
        // connection is not reused.
        let both =
            head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n");
        assert!(!both.headers.contains_key(header::CONTENT_LENGTH));
        assert_eq!(
            response_framing(&get, &both),
            Ok((ResponseFraming::Chunked, false))
        );
        assert_eq!(
            f(
                "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n",
                &get
            ),
            Ok((ResponseFraming::Chunked, false))
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", &get),
            Ok((ResponseFraming::UntilClose, false))
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\n\r\n", &get),
            Ok((ResponseFraming::UntilClose, false))
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\ncontent-length: 4, 4\r\ncontent-length: 4\r\n\r\n",
                &get
            ),
            Ok((ResponseFraming::Length(4), true))
        );
        for bad in ["4, 5", "-1", "", "0x10", "99999999999999999999"] {
            let text = format!("HTTP/1.1 200 OK\r\ncontent-length: {bad}\r\n\r\n");
            assert_eq!(f(&text, &get), Err(ProtocolError::ContentLength), "{bad}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_read_and_left_out() {
        let h = head(
            "HTTP/1.1 200 OK\r\nconnection: keep-alive\r\nkeep-alive: timeout=5\r\n\
             transfer-encoding: chunked\r\nupgrade: h2c\r\nx-kept: 1\r\n\r\n",
        );
        let names: Vec<_> = h.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
        assert_eq!(
            response_framing(&Method::GET, &h),
            Ok((ResponseFraming::Chunked, true))
        );
        // A Connection header that names other headers stays, for the
        // proxy's hygiene step to remove them too.
        let h = head("HTTP/1.1 200 OK\r\nconnection: close, x-secret\r\nx-secret: 1\r\n\r\n");
        assert!(h.headers.contains_key("connection"));
        // A 101 keeps its Upgrade and Connection for the client.
        let h = head(
            "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
        );
        assert_eq!(h.headers.len(), 2);
        // Split transfer-encoding fields: the last coding counts.
        let h = head(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        assert_eq!(
            response_framing(&Method::GET, &h),
            Ok((ResponseFraming::Chunked, true))
        );
    }

    #[test]
    fn keep_alive_by_version_and_connection_header() {
        let get = Method::GET;
        let reuse = |text: &str| response_framing(&get, &head(text)).unwrap().1;
        assert!(reuse("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!reuse(
            "HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n"
        ));
        assert!(!reuse("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(reuse(
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
        ));
    }
}
