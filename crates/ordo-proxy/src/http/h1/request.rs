//! A client's HTTP/1.x request head: parsed with httparse into `http`'s
//! request parts, whose header values share the read buffer instead of
//! copying it, and what the head says about the body after it and the
//! connection (RFC 9112 §6, §9).

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Uri, Version};

use crate::upstream::{Field, Length, field_places, spelled, tokens};

/// Header slots on the stack; a listener that allows more takes them from
/// the heap for each head.
const STACK_SLOTS: usize = 128;

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// The chunked coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) parts: Parts,
    pub(crate) framing: Framing,
    /// The client does not keep the connection after this exchange:
    /// `Connection: close`, or HTTP/1.0 without `keep-alive`.
    pub(crate) close: bool,
    /// `Expect: 100-continue`.
    pub(crate) expect_continue: bool,
    /// An HTTP/1.1 request with `Upgrade` named in `Connection`.
    pub(crate) upgrade: bool,
}

/// Why a head is refused: answered with `400` or `431`, and the
/// connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not a valid HTTP/1.x request head; the reason, for the log.
    Malformed(&'static str),
    /// Over the listener's header bytes or header count.
    TooLarge,
}

/// The listener's limits on a head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_bytes: usize,
    pub(crate) max_headers: usize,
}

/// Parses the request head at the start of `buf` and takes its bytes out
/// of it: `Ok(None)` when more bytes are needed. `fields` is the
/// connection's list of field places (kept for its capacity).
pub(crate) fn parse(
    buf: &mut BytesMut,
    limits: Limits,
    fields: &mut Vec<Field>,
) -> Result<Option<RequestHead>, HeadError> {
    let Some(line) = scan(buf, limits, fields)? else {
        return Ok(None);
    };
    let head = buf.split_to(line.len).freeze();
    build(&head, &line, fields).map(Some)
}

/// The request line's places, found by [`scan`].
struct Line {
    /// Bytes the head took, blank line included.
    len: usize,
    method: (usize, usize),
    target: (usize, usize),
    /// The minor version: `0` or `1`.
    minor: u8,
}

fn scan(buf: &[u8], limits: Limits, fields: &mut Vec<Field>) -> Result<Option<Line>, HeadError> {
    // Clients may send empty lines before a request (RFC 9112 §2.2);
    // httparse skips them.
    // No more slots than the byte limit can hold fields (`a:` and a line
    // end, 3 bytes at least): a large `max_headers` costs nothing it cannot
    // use.
    let wanted = limits.max_headers.min(limits.max_bytes / 3);
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_SLOTS];
    let mut heap = Vec::new();
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if wanted <= STACK_SLOTS {
        &mut stack[..wanted]
    } else {
        heap.resize_with(wanted, MaybeUninit::uninit);
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, buf, slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_bytes => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => return Err(HeadError::Malformed("unsupported version")),
        Err(_) => return Err(HeadError::Malformed("malformed request head")),
    };
    if len > limits.max_bytes {
        return Err(HeadError::TooLarge);
    }
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| s.as_ptr() as usize - base;
    let span = |s: &[u8]| (at(s), at(s) + s.len());
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed("malformed request line"));
    };
    field_places(buf, req.headers, fields);
    Ok(Some(Line {
        len,
        method: span(method.as_bytes()),
        target: span(target.as_bytes()),
        minor,
    }))
}

fn build(head: &Bytes, line: &Line, fields: &[Field]) -> Result<RequestHead, HeadError> {
    let method = Method::from_bytes(&head[line.method.0..line.method.1])
        .map_err(|_| HeadError::Malformed("invalid method"))?;
    let uri = Uri::from_maybe_shared(head.slice(line.target.0..line.target.1))
        .map_err(|_| HeadError::Malformed("invalid request target"))?;
    let version = if line.minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Room for what the proxy adds (request id, forwarding headers).
    let mut headers = crate::spare_maps::take(fields.len() + 3);
    let mut length = Length::Absent;
    let mut chunked = None;
    let (mut close, mut keep_alive, mut upgrade_token) = (false, false, false);
    let (mut expect_continue, mut has_upgrade) = (false, false);
    for &(ns, ne, vs, ve) in fields {
        let raw_name = &head[ns as usize..ne as usize];
        let name = match common_name(raw_name) {
            Some(n) => n,
            None => HeaderName::from_bytes(raw_name)
                .map_err(|_| HeadError::Malformed("invalid header name"))?,
        };
        let raw = &head[vs as usize..ve as usize];
        if name == header::CONTENT_LENGTH {
            length = length.and(raw);
        } else if name == header::TRANSFER_ENCODING {
            // Several fields are one list: the last one's last coding is
            // the message's last.
            chunked = Some(
                tokens(raw)
                    .last()
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")),
            );
        } else if name == header::CONNECTION {
            for token in tokens(raw) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                upgrade_token |= token.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name == header::EXPECT {
            expect_continue |= raw.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        } else if name == header::UPGRADE {
            has_upgrade = true;
        }
        let value = HeaderValue::from_maybe_shared(head.slice(vs as usize..ve as usize))
            .map_err(|_| HeadError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    let framing = match (chunked, length) {
        // Both framings in one message is how requests are smuggled past
        // a proxy that reads one and a server that reads the other: refused
        // (RFC 9112 §6.3 allows it), not repaired.
        (Some(_), Length::Is(_) | Length::Invalid) => {
            return Err(HeadError::Malformed(
                "both transfer-encoding and content-length",
            ));
        }
        (Some(_), _) if version == Version::HTTP_10 => {
            return Err(HeadError::Malformed(
                "transfer-encoding in an HTTP/1.0 request",
            ));
        }
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => {
            return Err(HeadError::Malformed(
                "transfer-encoding whose last coding is not chunked",
            ));
        }
        (None, Length::Invalid) => return Err(HeadError::Malformed("invalid content-length")),
        (None, Length::Is(0) | Length::Absent) => Framing::None,
        (None, Length::Is(n)) => Framing::Length(n),
    };
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = headers;
    Ok(RequestHead {
        parts,
        framing,
        close: close || (version == Version::HTTP_10 && !keep_alive),
        expect_continue: expect_continue && version == Version::HTTP_11,
        upgrade: upgrade_token && has_upgrade && version == Version::HTTP_11,
    })
}

/// The names clients send on most requests, matched on their bytes as
/// clients write them (`User-Agent` or `user-agent`) before `HeaderName`'s
/// general parser, which costs several times more per name. Any other
/// spelling goes to the general parser.
fn common_name(raw: &[u8]) -> Option<HeaderName> {
    let (name, title): (HeaderName, &[u8]) = match raw.len() {
        4 => (header::HOST, b"Host"),
        6 => (header::ACCEPT, b"Accept"),
        10 if raw[0] | 0x20 == b'u' => (header::USER_AGENT, b"User-Agent"),
        10 => (header::CONNECTION, b"Connection"),
        12 => (header::CONTENT_TYPE, b"Content-Type"),
        14 => (header::CONTENT_LENGTH, b"Content-Length"),
        15 => (header::ACCEPT_ENCODING, b"Accept-Encoding"),
        17 => (header::TRANSFER_ENCODING, b"Transfer-Encoding"),
        _ => return None,
    };
    spelled(raw, name, title)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bytes: 8192,
        max_headers: 16,
    };

    fn parse_str(text: &str) -> Result<Option<RequestHead>, HeadError> {
        let mut buf = BytesMut::from(text.as_bytes());
        parse(&mut buf, LIMITS, &mut Vec::new())
    }

    fn head(text: &str) -> RequestHead {
        parse_str(text).unwrap().unwrap()
    }

    #[test]
    fn a_plain_get_keeps_its_headers_and_leaves_what_follows() {
        let mut buf = BytesMut::from(
            &b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nX-Tag: 1\r\n\r\nGET /next"[..],
        );
        let h = parse(&mut buf, LIMITS, &mut Vec::new()).unwrap().unwrap();
        assert_eq!(h.parts.method, Method::GET);
        assert_eq!(h.parts.uri, "/a?b=1");
        assert_eq!(h.parts.version, Version::HTTP_11);
        assert_eq!(h.parts.headers["host"], "x");
        assert_eq!(h.parts.headers["user-agent"], "t");
        assert_eq!(h.parts.headers["x-tag"], "1");
        assert_eq!(
            (h.framing, h.close, h.upgrade),
            (Framing::None, false, false)
        );
        assert_eq!(&buf[..], b"GET /next");
    }

    #[test]
    fn a_partial_head_asks_for_more_and_takes_nothing() {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: x\r\n"[..]);
        assert!(parse(&mut buf, LIMITS, &mut Vec::new()).unwrap().is_none());
        assert_eq!(buf.len(), 25);
    }

    #[test]
    fn framing_follows_the_headers() {
        let h = head("POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5));
        let h = head("POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(h.framing, Framing::None);
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("POST / HTTP/1.1\r\ncontent-length: 7, 7\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(7));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for text in [
            "POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
            "POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n",
        ] {
            assert!(
                matches!(parse_str(text), Err(HeadError::Malformed(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn connection_semantics_follow_the_version() {
        assert!(!head("GET / HTTP/1.1\r\n\r\n").close);
        assert!(head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").close);
        assert!(head("GET / HTTP/1.0\r\n\r\n").close);
        assert!(!head("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n").close);
        let h = head("GET / HTTP/1.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n");
        assert!(h.upgrade);
        assert!(!head("GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n").upgrade);
        let h = head("PUT / HTTP/1.1\r\ncontent-length: 1\r\nexpect: 100-Continue\r\n\r\n");
        assert!(h.expect_continue);
    }

    #[test]
    fn oversized_and_malformed_heads_are_told_apart() {
        let many: String = (0..20).map(|i| format!("x-h{i}: v\r\n")).collect();
        assert_eq!(
            parse_str(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err(),
            HeadError::TooLarge
        );
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        assert_eq!(parse_str(&long).unwrap_err(), HeadError::TooLarge);
        for text in [
            "GET / HTTP/2.0\r\n\r\n",
            "G E T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nbad header\r\n\r\n",
            "GET / HTTP/1.1\r\nx: a\0b\r\n\r\n",
        ] {
            assert!(
                matches!(parse_str(text), Err(HeadError::Malformed(_))),
                "{text:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any bytes at all: an answer (a head, more needed, or an
            /// error), never a panic.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
                let mut buf = BytesMut::from(&bytes[..]);
                let _ = parse(&mut buf, LIMITS, &mut Vec::new());
            }

            /// A head that arrives in two reads parses as it does whole,
            /// and the first read alone asks for more.
            #[test]
            fn a_head_split_anywhere_parses_as_whole(
                method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
                path in "/[a-z0-9/._-]{0,30}",
                headers in prop::collection::vec(("x-[a-z]{1,10}", "[ -~]{0,20}"), 0..6),
                cut in 0usize..400,
            ) {
                let mut text = format!("{method} {path} HTTP/1.1\r\nhost: h\r\n");
                for (name, value) in &headers {
                    text.push_str(&format!("{name}: {value}\r\n"));
                }
                text.push_str("\r\n");
                let whole = head(&text);
                let cut = cut % text.len();
                let mut buf = BytesMut::from(&text.as_bytes()[..cut]);
                let mut fields = Vec::new();
                prop_assert!(parse(&mut buf, LIMITS, &mut fields).unwrap().is_none());
                buf.extend_from_slice(&text.as_bytes()[cut..]);
                let split = parse(&mut buf, LIMITS, &mut fields).unwrap().unwrap();
                prop_assert_eq!(&split.parts.method, &whole.parts.method);
                prop_assert_eq!(&split.parts.uri, &whole.parts.uri);
                prop_assert_eq!(&split.parts.headers, &whole.parts.headers);
                prop_assert_eq!(split.parts.headers.len(), headers.len() + 1);
                prop_assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn common_names_match_as_clients_write_them() {
        assert_eq!(common_name(b"User-Agent"), Some(header::USER_AGENT));
        assert_eq!(common_name(b"connection"), Some(header::CONNECTION));
        assert_eq!(common_name(b"HOST"), None);
        assert_eq!(common_name(b"x-tag"), None);
    }
}
