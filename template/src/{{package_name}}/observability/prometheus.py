"""Prometheus's text format: `GET /metrics` on the app's port, or on a port of its own.

`create_app` makes the registry every gate counts on (`metrics.py` holds the
request instruments); this module turns it into Prometheus's text format and
serves it, protected as `MetricsSettings` says:

- On the app's port (`METRICS__PORT` unset): `router`, a route of the app,
  behind `METRICS__TOKEN` when one is set.
- On a port of its own (`METRICS__PORT`): a `MetricsListener`, a small HTTP
  server on a thread of its own that answers `GET /metrics` only (and, with a
  token, only to a scrape that sends it); the app's port then has no such
  route. With one process, the listener belongs to the app: its lifespan
  starts and stops it (`app_metrics`), and it serves that app's registry.
  With several workers, the supervisor (`serve`) is the one process that binds
  the port (`supervisor_listener`) and serves the sum over every worker; the
  workers never try.

With several worker processes, `PROMETHEUS_MULTIPROC_DIR` is set (the server
makes it with `metrics_directory` when `SERVER__WORKERS` is above 1):
prometheus_client then keeps every value in files there, and every exposition
is the sum over every worker, whichever process makes it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hmac
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Final

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.responses import Response

from ..errors import PROBLEM_JSON, NotFoundError, ServiceError, UnauthorizedError, problem_body
from ..logging import get_logger

if TYPE_CHECKING:
    from pydantic import SecretStr

    from .prometheus_settings import MetricsSettings

MULTIPROCESS_DIRECTORY: Final = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH: Final = "/metrics"
SCRAPE_HINT: Final = "Send the metrics token as Authorization: Bearer <METRICS__TOKEN>."
ONLY_METRICS_HINT: Final = f"Only {METRICS_PATH} is served on this port."
# A connection that has not sent its request within this is closed: a slow or
# idle client never holds one of the listener's threads for long.
REQUEST_TIMEOUT_SECONDS: Final = 10.0
# How often the listener's loop looks for a stop request: the most a stop waits.
STOP_POLL_SECONDS: Final = 0.2

# Makes the text format of every metric, on the listener's thread.
Exposition = Callable[[], bytes]


def multiprocess_directory() -> str | None:
    """Where every worker writes its values, or None when one process serves."""
    return os.environ.get(MULTIPROCESS_DIRECTORY) or None


def exposition(registry: CollectorRegistry) -> bytes:
    """The text format of `registry`, or of every worker's values in multiprocess mode."""
    directory = multiprocess_directory()
    if directory is not None:
        return multiprocess_exposition(directory)
    return generate_latest(registry)


def multiprocess_exposition(directory: str) -> bytes:
    """The text format of the values every worker wrote to `directory`, added up."""
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(combined)


def forget_this_process() -> None:
    """In multiprocess mode, drop this worker's live gauges (requests in flight) as it stops."""
    if multiprocess_directory() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for the workers to share, removed at the end.

    Workers inherit it from the environment, and prometheus_client reads it when
    it is first imported: every worker then writes its values there, and every
    exposition adds them up. Fresh on each start, as prometheus_client
    requires: values left by an earlier run would be counted again.
    """
    with tempfile.TemporaryDirectory(prefix="prometheus-") as directory:
        previous = os.environ.get(MULTIPROCESS_DIRECTORY)
        os.environ[MULTIPROCESS_DIRECTORY] = directory
        try:
            yield directory
        finally:
            if previous is None:
                del os.environ[MULTIPROCESS_DIRECTORY]
            else:
                os.environ[MULTIPROCESS_DIRECTORY] = previous


def authorised(authorization: str | None, token: SecretStr | None) -> bool:
    """Whether an Authorization header carries the bearer token (any does when none is set)."""
    if token is None:
        return True
    scheme, _, credentials = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    # Compared in constant time, so the answer's timing gives nothing away.
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.encode(), expected)


# --- on the app's port -----------------------------------------------------------------

router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus's text format: every metric of this app (of every worker)."""
    settings: MetricsSettings = request.state.settings.metrics
    if not authorised(request.headers.get("authorization"), settings.token):
        raise UnauthorizedError(SCRAPE_HINT)
    registry: CollectorRegistry = request.state.metrics_registry
    return Response(exposition(registry), media_type=CONTENT_TYPE_LATEST)


# --- on a port of its own ----------------------------------------------------------------


class MetricsListenerError(RuntimeError):
    """The metrics listener cannot listen where the settings say (e.g. the port is taken)."""


class _Handler(BaseHTTPRequestHandler):
    """`GET /metrics` (and HEAD); every other path is 404, every other method 501."""

    server: _Server
    timeout = REQUEST_TIMEOUT_SECONDS

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.partition("?")[0]
        try:
            content = self._metrics(path)
        except ServiceError as error:
            body = problem_body(
                status=error.status,
                title=error.title,
                detail=error.detail,
                problem_type=error.problem_type,
                instance=path,
            )
            problem = orjson.dumps(body)
            self._send(error.status, PROBLEM_JSON, problem, error.headers, with_body=with_body)
            return
        self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, content, with_body=with_body)

    def _metrics(self, path: str) -> bytes:
        """The text format, or the `ServiceError` that answers instead (as in the app)."""
        if path != METRICS_PATH:
            raise NotFoundError(ONLY_METRICS_HINT)
        if not authorised(self.headers.get("Authorization"), self.server.token):
            raise UnauthorizedError(SCRAPE_HINT)
        try:
            return self.server.render()
        except Exception as failure:
            # One 500 answer without the details, which go to the log.
            get_logger("metrics").exception("metrics exposition failed")
            raise ServiceError from failure

    def _send(
        self,
        status: int,
        content_type: str,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        with_body: bool,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if with_body:
            self.wfile.write(content)

    def send_response(self, code: int, message: str | None = None) -> None:
        """As http.server's, without the Server header (the app sends none either)."""
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        """Scrapes are not logged one by one (malformed requests neither)."""


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    # Each connection on a thread that never keeps the process alive.
    daemon_threads = True
    # A restarted service binds again at once; SO_REUSEPORT stays off, so a
    # second listener on the same port fails instead of sharing it.
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], *, render: Exposition, token: SecretStr | None
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.render = render
        self.token = token
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002 - socketserver's signature
        """A connection that failed (a scraper gone mid-answer) is logged, not printed."""
        get_logger("metrics").warning("metrics connection failed", exc_info=True)


class MetricsListener:
    """`GET /metrics` on an address of its own, answered on threads of its own.

    The text format is made on the listener's thread, never on the app's event
    loop. `start` binds the address (or raises `MetricsListenerError`) and
    serves in the background; `stop` stops serving, closes the socket and waits
    for the thread.
    """

    def __init__(
        self, host: str, port: int, *, render: Exposition, token: SecretStr | None
    ) -> None:
        self.host = host
        self.port = port
        self._render = render
        self._token = token
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens: the bound port, once started (port 0 picks a free one)."""
        if self._server is None:
            return (self.host, self.port)
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    def start(self) -> None:
        try:
            server = _Server((self.host, self.port), render=self._render, token=self._token)
        except OSError as error:
            raise MetricsListenerError(bind_problem(self.host, self.port, error)) from None
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            name="metrics-listener",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join()
        self._server = self._thread = None


def bind_problem(host: str, port: int, error: OSError) -> str:
    """What went wrong binding METRICS__HOST:METRICS__PORT, in words an operator can act on."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"METRICS__PORT {port} is already in use on {host}: another process listens "
            "there; choose a free port, or stop that process"
        )
    reason = error.strerror or type(error).__name__
    return f"cannot listen on METRICS__HOST {host}, METRICS__PORT {port}: {reason}"


@contextlib.contextmanager
def serving_metrics(
    address: tuple[str, int], *, render: Exposition, token: SecretStr | None
) -> Iterator[MetricsListener]:
    """Serve GET /metrics on `address` until the block ends; the listener is stopped then."""
    logger = get_logger("metrics")
    listener = MetricsListener(*address, render=render, token=token)
    try:
        listener.start()
    except MetricsListenerError as error:
        logger.error("metrics listener failed", reason=str(error))  # noqa: TRY400 - the reason says it all; no traceback
        raise
    host, port = listener.address
    logger.info("metrics listener started", host=host, port=port, bearer=token is not None)
    try:
        yield listener
    finally:
        listener.stop()
        logger.info("metrics listener stopped", host=host, port=port)


@contextlib.contextmanager
def app_metrics(
    settings: MetricsSettings, server_host: str, registry: CollectorRegistry
) -> Iterator[MetricsListener | None]:
    """What the app's lifespan owns of its metrics, from start to stop.

    With METRICS__PORT and one process, the listener of that port, serving this
    app's registry (yielded; None otherwise). In multiprocess mode there is none:
    the supervisor serves the port, and a worker's registry is only its own
    share; there the worker's live gauges are dropped as it stops.
    """
    address = settings.listen_address(server_host)
    if multiprocess_directory() is not None:
        try:
            yield None
        finally:
            forget_this_process()
        return
    if address is None:
        yield None
        return
    render = functools.partial(exposition, registry)
    with serving_metrics(address, render=render, token=settings.token) as listener:
        yield listener


@contextlib.contextmanager
def supervisor_listener(
    settings: MetricsSettings, server_host: str, directory: str
) -> Iterator[MetricsListener | None]:
    """The supervisor's listener: the sum over every worker writing to `directory`.

    The only process that binds METRICS__PORT when several workers serve.
    """
    address = settings.listen_address(server_host)
    if address is None:
        yield None
        return
    render = functools.partial(multiprocess_exposition, directory)
    with serving_metrics(address, render=render, token=settings.token) as listener:
        yield listener
