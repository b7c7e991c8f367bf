//! The chunked transfer coding (RFC 9112 §7.1), decoded from an upstream's
//! read buffer into data frames that share the buffer's memory, and
//! trailers.

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::codec::{MAX_HEAD_BYTES, MAX_HEADERS, ProtocolError};

/// Longest chunk-size line (size, extensions, CRLF) accepted.
const MAX_SIZE_LINE: usize = 4096;

/// What the decoder found in the buffer.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// The last chunk and its trailer section (empty when there was none):
    /// the body is complete.
    End(HeaderMap),
    /// The buffer holds no complete step: read more.
    NeedMore,
}

/// Decodes one chunked body, step by step, from a buffer that fills as the
/// connection is read.
#[derive(Debug, Default)]
pub(crate) struct ChunkedDecoder {
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data, at its CRLF.
    DataEnd,
    /// After the last chunk, at the trailer section.
    Trailers,
    /// The body has ended.
    Done,
}

impl ChunkedDecoder {
    /// Whether the body has ended.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next step's bytes out of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ProtocolError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(eol) = buf.iter().take(MAX_SIZE_LINE).position(|b| *b == b'\n') else {
                        if buf.len() >= MAX_SIZE_LINE {
                            return Err(ProtocolError::Chunked("chunk-size line too long"));
                        }
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&buf[..eol])?;
                    buf.advance(eol + 1);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                State::DataEnd => match buf.first() {
                    None => return Ok(Decoded::NeedMore),
                    Some(b'\n') => {
                        buf.advance(1);
                        self.state = State::Size;
                    }
                    Some(b'\r') if buf.len() < 2 => return Ok(Decoded::NeedMore),
                    Some(b'\r') if buf[1] == b'\n' => {
                        buf.advance(2);
                        self.state = State::Size;
                    }
                    Some(_) => {
                        return Err(ProtocolError::Chunked("chunk data not followed by CRLF"));
                    }
                },
                State::Trailers => {
                    let trailers = match trailer_section(buf)? {
                        Some(t) => t,
                        None => return Ok(Decoded::NeedMore),
                    };
                    self.state = State::Done;
                    return Ok(Decoded::End(trailers));
                }
                State::Done => return Ok(Decoded::End(HeaderMap::new())),
            }
        }
    }
}

/// The size of a chunk-size line (without its `\n`): hex digits, then
/// optional whitespace and extensions, which are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, ProtocolError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .map_or(line, |end| &line[..end]);
    let rest = &line[digits.len()..];
    if digits.is_empty() {
        return Err(ProtocolError::Chunked("chunk size is not a hex number"));
    }
    if !rest.is_empty() && !matches!(rest[0], b';' | b' ' | b'\t') {
        return Err(ProtocolError::Chunked("chunk size is not a hex number"));
    }
    if digits.len() > 15 {
        return Err(ProtocolError::Chunked("chunk size too large"));
    }
    Ok(digits.iter().fold(0u64, |n, d| {
        n * 16 + u64::from(char::from(*d).to_digit(16).expect("checked hex digit"))
    }))
}

/// The trailer section after the last chunk, up to and including its
/// blank line; `None` until all of it is in `buf`.
fn trailer_section(buf: &mut BytesMut) -> Result<Option<HeaderMap>, ProtocolError> {
    // No trailers: just the blank line.
    if buf.starts_with(b"\r\n") {
        buf.advance(2);
        return Ok(Some(HeaderMap::new()));
    }
    if buf.starts_with(b"\n") {
        buf.advance(1);
        return Ok(Some(HeaderMap::new()));
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete((len, fields))) => {
            let mut trailers = HeaderMap::with_capacity(fields.len());
            for f in fields {
                let name = HeaderName::from_bytes(f.name.as_bytes())
                    .map_err(|_| ProtocolError::Chunked("invalid trailer"))?;
                let value = HeaderValue::from_bytes(f.value)
                    .map_err(|_| ProtocolError::Chunked("invalid trailer"))?;
                trailers.append(name, value);
            }
            buf.advance(len);
            Ok(Some(trailers))
        }
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            Err(ProtocolError::Chunked("trailer section too large"))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) => Err(ProtocolError::Chunked("invalid trailer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `wire` fed in pieces cut at `cuts`: the data joined, and the
    /// trailers, or the error.
    fn decode_in_pieces(
        wire: &[u8],
        cuts: &[usize],
    ) -> Result<(Vec<u8>, HeaderMap, usize), ProtocolError> {
        let mut d = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut fed = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        bounds.push(wire.len());
        bounds.sort_unstable();
        for end in bounds {
            buf.extend_from_slice(&wire[fed..end.max(fed)]);
            fed = end.max(fed);
            loop {
                match d.decode(&mut buf)? {
                    Decoded::Data(b) => data.extend_from_slice(&b),
                    Decoded::End(t) => return Ok((data, t, buf.len())),
                    Decoded::NeedMore => break,
                }
            }
        }
        Err(ProtocolError::Chunked("incomplete"))
    }

    #[test]
    fn chunks_extensions_and_trailers() {
        let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 42\r\n\r\nNEXT";
        let (data, trailers, left) = decode_in_pieces(wire, &[]).unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(trailers["x-sum"], "42");
        assert_eq!(left, 4, "bytes after the body stay in the buffer");
    }

    #[test]
    fn bare_newlines_are_accepted() {
        let (data, trailers, _) = decode_in_pieces(b"3\nabc\n0\n\n", &[]).unwrap();
        assert_eq!(data, b"abc");
        assert!(trailers.is_empty());
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for wire in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"5x\r\nhello\r\n0\r\n\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"1000000000000000\r\n",
            b"0\r\nbad trailer\r\n\r\n",
        ] {
            assert!(
                matches!(decode_in_pieces(wire, &[]), Err(ProtocolError::Chunked(_))),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let long = vec![b'1'; MAX_SIZE_LINE + 1];
        assert!(decode_in_pieces(&long, &[]).is_err());
    }

    proptest! {
        /// However the wire is cut into reads, the same data and trailers
        /// come out.
        #[test]
        fn any_split_decodes_the_same(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..8),
            trailer in any::<bool>(),
            cuts in prop::collection::vec(0usize..400, 0..12),
        ) {
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
                expected.extend_from_slice(c);
            }
            wire.extend_from_slice(b"0\r\n");
            if trailer {
                wire.extend_from_slice(b"x-t: v\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            let (data, trailers, left) = decode_in_pieces(&wire, &cuts).unwrap();
            prop_assert_eq!(data, expected);
            prop_assert_eq!(trailers.len(), usize::from(trailer));
            prop_assert_eq!(left, 0);
        }
    }
}
