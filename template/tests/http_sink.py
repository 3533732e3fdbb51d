"""A real local HTTP endpoint that records what is posted to it.

Telemetry leaves the service over HTTP (Sentry envelopes, OTLP spans); the tests
point it here and read what arrived, over a real socket:

    with HttpSink("/v1/traces") as sink:
        ...  # configure the exporter with sink.url
    [post] = sink.posts
"""

import gzip
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class Post:
    path: str
    # Names in lower case.
    headers: dict[str, str]
    # Decompressed when it came gzip-encoded.
    body: bytes


class HttpSink:
    """Answers 200 to a POST on `path` and records it; 404 to anything else."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._posts: list[Post] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def posts(self) -> list[Post]:
        with self._lock:
            return list(self._posts)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, post: Post) -> None:
        with self._lock:
            self._posts.append(post)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                found = self.path == sink.path
                if found:
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    sink._record(Post(self.path, headers, body))
                self.send_response(HTTPStatus.OK if found else HTTPStatus.NOT_FOUND)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401 - the base class's signature
                """Keep the test output clean."""

        return Handler
