"""A tiny HTTP proxy on 127.0.0.1 in front of a real server (moto's S3, MLflow), which
answers some requests itself to play a fault of the network or the server:

- ``LOSE``: answer 200 without forwarding (an upload the client believes landed and the
  server never got, as a dropped multipart part does with pyarrow);
- ``TIMEOUT``: forward, then answer 504 (the server acted; the client sees a gateway
  timeout and retries).

``rule(method, path)`` picks the fault of each request (None: forward). Every request is
recorded in ``seen`` as ``(method, path, fault, status)``.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOSE = "lose"
TIMEOUT = "timeout"
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class FaultProxy:
    def __init__(self, upstream: str, rule: Callable[[str, str], str | None]):
        target = urlsplit(upstream)
        self.rule = rule
        self.seen: list[tuple[str, str, str | None, int]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # the test's output stays readable
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(
                self, status: int, headers: dict[str, str], body: bytes, length: str | None = None
            ) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", length or str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _relay(self) -> None:
                body = self._body()
                with proxy._lock:
                    fault = proxy.rule(self.command, self.path)
                if fault == LOSE:
                    proxy.seen.append((self.command, self.path, fault, 200))
                    self._answer(200, {"ETag": '"0"'}, b"")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    reply = conn.getresponse()
                    data = reply.read()
                    length = reply.getheader("Content-Length")
                    out = {
                        k: v
                        for k, v in reply.getheaders()
                        if k.lower() not in _HOP and k.lower() != "content-length"
                    }
                finally:
                    conn.close()
                if fault == TIMEOUT:
                    proxy.seen.append((self.command, self.path, fault, 504))
                    self._answer(504, {"Content-Type": "text/plain"}, b"gateway timeout")
                    return
                proxy.seen.append((self.command, self.path, None, reply.status))
                self._answer(reply.status, out, data, length if self.command == "HEAD" else None)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def first(method: str, predicate: Callable[[str], bool], fault: str):
    """A rule that gives ``fault`` to the first ``method`` request whose path matches."""
    done: list[bool] = []

    def rule(got_method: str, path: str) -> str | None:
        if done or got_method != method or not predicate(path):
            return None
        done.append(True)
        return fault

    return rule
