"""Prometheus's text format: `GET /metrics`, behind `METRICS__TOKEN` when one is set.

`create_app` makes the registry every gate counts on (`metrics.py` holds the
request instruments); this module turns it into Prometheus's text format and
serves it.

With several worker processes, `PROMETHEUS_MULTIPROC_DIR` is set (the server
makes it with `metrics_directory` when `SERVER__WORKERS` is above 1):
prometheus_client then keeps every value in files there, and every exposition
is the sum over every worker, whichever process makes it.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import tempfile
from typing import TYPE_CHECKING, Final

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.responses import Response

from ..errors import UnauthorizedError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pydantic import SecretStr

    from .prometheus_settings import MetricsSettings

MULTIPROCESS_DIRECTORY: Final = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH: Final = "/metrics"
SCRAPE_HINT: Final = "Send the metrics token as Authorization: Bearer <METRICS__TOKEN>."


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


router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus's text format: every metric of this app (of every worker)."""
    settings: MetricsSettings = request.state.settings.metrics
    if not authorised(request.headers.get("authorization"), settings.token):
        raise UnauthorizedError(SCRAPE_HINT)
    registry: CollectorRegistry = request.state.metrics_registry
    return Response(exposition(registry), media_type=CONTENT_TYPE_LATEST)
