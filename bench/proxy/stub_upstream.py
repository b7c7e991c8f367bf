#!/usr/bin/env python3
"""A stand-in for `ordo-upstream` (crates/ordo-test-support), with the same flags and control
interface, for running the harness's scenarios before that binary exists: `./run --stub-upstream`.

    stub_upstream.py --listen 127.0.0.1:PORT [--name N] [--delay-ms N] [--fail-ratio F]
                     [--fail-status 503] [--reset-ratio F] [--capacity N] [--service-ms M]
                     [--threads 1]

- Every request except /__ordo/* is answered 200 "ok" (HTTP/1.1 keep-alive), after
  `delay_ms`; with probability `fail_ratio` the status is `fail_status`; with probability
  `reset_ratio` the connection is reset (RST) instead of answered.
- `--capacity N --service-ms M`: at most N requests are served at once, each holding its slot
  for M ms; the rest wait in an unbounded FIFO queue (so ~N*1000/M requests/s at most).
- `PUT /__ordo/behaviour` with JSON `{"delay_ms":1000}`, `{"fail_ratio":0.5,"fail_status":503}`,
  `{"reset_ratio":1.0}` or `{}` (back to healthy) replaces the behaviour.
- `GET /__ordo/stats`: `{"name":..., "hits":N, "responses":{"200":N,...}, "resets":N}`,
  counting every request except /__ordo/* ones (what ./run expects from ordo-upstream).

Single-threaded asyncio: fine for the scenarios' few hundred to ~2,000 requests/s, not for the
throughput runs (those use nginx).
"""
import argparse
import asyncio
import json
import random
import socket
import struct


class State:
    def __init__(self, a: argparse.Namespace) -> None:
        self.name = a.name
        self.set({"delay_ms": a.delay_ms, "fail_ratio": a.fail_ratio,
                  "fail_status": a.fail_status, "reset_ratio": a.reset_ratio})
        self.slots = asyncio.Semaphore(a.capacity) if a.capacity else None
        self.service_ms = a.service_ms
        self.requests = 0
        self.resets = 0
        self.responses: dict[str, int] = {}

    def set(self, b: dict) -> None:
        self.delay_ms = int(b.get("delay_ms", 0))
        self.fail_ratio = float(b.get("fail_ratio", 0.0))
        self.fail_status = int(b.get("fail_status", 503))
        self.reset_ratio = float(b.get("reset_ratio", 0.0))


REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


def response(status: int, body: bytes, ctype: str = "text/plain") -> bytes:
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\ncontent-type: {ctype}\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


def reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0: close() sends RST.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def handle(st: State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            close = False
            for line in lines[1:]:
                k, _, v = line.partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    length = int(v.strip())
                elif k == "connection" and v.strip().lower() == "close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            if path == "/health":  # as ordo-upstream: not counted, never affected by faults
                writer.write(response(200, b"ok"))
                await writer.drain()
                if close:
                    break
                continue
            if path.startswith("/__ordo/"):
                if path == "/__ordo/behaviour" and method == "PUT":
                    st.set(json.loads(body or b"{}"))
                    out = response(200, b"{}", "application/json")
                elif path == "/__ordo/stats":
                    out = response(200, json.dumps({
                        "name": st.name, "hits": st.requests, "responses": st.responses,
                        "resets": st.resets}).encode(), "application/json")
                else:
                    out = response(404, b"not found")
                writer.write(out)
                await writer.drain()
                if close:
                    break
                continue
            st.requests += 1
            if st.slots is not None:
                async with st.slots:
                    await asyncio.sleep(st.service_ms / 1000)
            if st.delay_ms:
                await asyncio.sleep(st.delay_ms / 1000)
            if st.reset_ratio and random.random() < st.reset_ratio:
                st.resets += 1
                reset(writer)
                return
            status = st.fail_status if st.fail_ratio and random.random() < st.fail_ratio else 200
            st.responses[str(status)] = st.responses.get(str(status), 0) + 1
            writer.write(response(status, b"ok" if status == 200 else b"fail"))
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        if not writer.transport.is_closing():
            writer.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--name", default="up")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--fail-ratio", type=float, default=0.0)
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--reset-ratio", type=float, default=0.0)
    ap.add_argument("--capacity", type=int, default=0)
    ap.add_argument("--service-ms", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)  # accepted; always one thread
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    st = State(a)
    server = await asyncio.start_server(lambda r, w: handle(st, r, w), host, int(port),
                                        backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
