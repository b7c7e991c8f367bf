"""A real Redis client and server through `ordo toxiproxy`, driven by a
published Toxiproxy client library (toxiproxy-python, from PyPI), not by code
of ours: each toxic does to Redis traffic what Toxiproxy's docs say.

Run by tests/toxiproxy/run, which installs the libraries, starts redis-server
and `ordo toxiproxy` on free loopback ports, and passes them in the
environment: ORDO_TOXIPROXY_PORT, REDIS_PORT.
"""

import os
import socket
import time
import unittest

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from toxiproxy import Toxiproxy

API_PORT = int(os.environ["ORDO_TOXIPROXY_PORT"])
REDIS_PORT = int(os.environ["REDIS_PORT"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisThroughToxics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Toxiproxy()
        cls.server.update_api_consumer("127.0.0.1", API_PORT)
        assert cls.server.running(), "ordo toxiproxy answers on its API port"
        cls.server.destroy_all()
        cls.port = free_port()
        cls.proxy = cls.server.create(
            name="redis",
            upstream="127.0.0.1:%d" % REDIS_PORT,
            listen="127.0.0.1:%d" % cls.port,
        )

    def setUp(self):
        self.server.reset()
        self.client().set("small", "v")
        self.client().set("big", "x" * 100_000)

    def client(self, timeout=5):
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # No retries: each test sees what one connection went through.
            retry=Retry(NoBackoff(), 0),
        )

    def timed(self, f):
        t = time.monotonic()
        result = f()
        return result, time.monotonic() - t

    def test_the_proxy_is_listed_and_passes_traffic(self):
        proxies = self.server.proxies()
        self.assertIn("redis", proxies)
        self.assertEqual(proxies["redis"].upstream, "127.0.0.1:%d" % REDIS_PORT)
        self.assertTrue(proxies["redis"].enabled)
        self.assertEqual(self.client().get("small"), b"v")
        self.assertTrue(self.server.version().startswith(b"ordo-"))

    def test_latency(self):
        self.proxy.add_toxic(type="latency", attributes={"latency": 300, "jitter": 20})
        c = self.client()
        c.ping()  # connect first: the toxic acts on the replies
        value, took = self.timed(lambda: c.get("small"))
        self.assertEqual(value, b"v")
        self.assertGreaterEqual(took, 0.27)
        self.assertIn("latency_downstream", self.proxy.toxics())
        self.proxy.destroy_toxic("latency_downstream")
        _, took = self.timed(lambda: c.get("small"))
        self.assertLess(took, 0.25, "the toxic is gone from the open connection too")

    def test_latency_with_zero_toxicity_never_applies(self):
        self.proxy.add_toxic(type="latency", toxicity=0.0, attributes={"latency": 1000})
        _, took = self.timed(lambda: self.client().get("small"))
        self.assertLess(took, 0.9)

    def test_bandwidth(self):
        # 100 kB at 100 KB/s: about a second.
        self.proxy.add_toxic(type="bandwidth", attributes={"rate": 100})
        value, took = self.timed(lambda: self.client().get("big"))
        self.assertEqual(len(value), 100_000)
        self.assertGreaterEqual(took, 0.8)
        self.assertLess(took, 4.0)

    def test_slicer(self):
        self.proxy.add_toxic(
            type="slicer",
            attributes={"average_size": 500, "size_variation": 100, "delay": 2000},
        )
        value, took = self.timed(lambda: self.client().get("big"))
        self.assertEqual(value, b"x" * 100_000)
        # About 200 slices, 2 ms apart.
        self.assertGreaterEqual(took, 0.3)

    def test_timeout(self):
        self.proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 300})
        t = time.monotonic()
        with self.assertRaises((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            self.client().get("small")
        took = time.monotonic() - t
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 4.0, "closed by the toxic, not by the client's timeout")

    def test_reset_peer(self):
        self.proxy.add_toxic(type="reset_peer", attributes={"timeout": 0})
        with self.assertRaises(redis.exceptions.ConnectionError):
            self.client().get("small")

    def test_limit_data(self):
        self.proxy.add_toxic(type="limit_data", attributes={"bytes": 1000})
        c = self.client()
        with self.assertRaises(redis.exceptions.ConnectionError):
            c.get("big")

    def test_slow_close(self):
        self.proxy.add_toxic(type="slow_close", attributes={"delay": 400})
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"QUIT\r\n")
        t = time.monotonic()
        got = b""
        while True:
            chunk = s.recv(1024)
            if not chunk:
                break
            got += chunk
        self.assertEqual(got, b"+OK\r\n")
        self.assertGreaterEqual(time.monotonic() - t, 0.35)
        s.close()

    def test_down(self):
        with self.proxy.down():
            with self.assertRaises(redis.exceptions.ConnectionError):
                self.client(timeout=1).get("small")
        self.assertEqual(self.client().get("small"), b"v")

    def test_reset_removes_every_toxic(self):
        self.proxy.add_toxic(type="latency", attributes={"latency": 1000})
        self.server.reset()
        self.assertEqual(self.proxy.toxics(), {})
        _, took = self.timed(lambda: self.client().get("small"))
        self.assertLess(took, 0.9)


if __name__ == "__main__":
    unittest.main(verbosity=2)
