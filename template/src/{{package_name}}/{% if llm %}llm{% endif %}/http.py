"""The gateway's HTTP client: one session, per-attempt timeouts, classified failures.

Every provider module sends through `post`, so timeouts are applied and
aiohttp's exceptions are turned into `UpstreamError` in one place, the same
way for every provider.
"""

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Final

import aiohttp
import orjson
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from .errors import FailureKind, UpstreamError, kind_of_status
from .settings import LlmSettings, TimeoutSettings
from .sse import SseError

# Provider hosts rarely move; re-resolving them on every new connection costs latency.
DNS_CACHE_SECONDS: Final = 300
# A Retry-After longer than this is read as this. It stays above every
# `LLM__RETRY__RETRY_AFTER_CAP_SECONDS` the settings accept, so the gateway still sees
# "too long to wait" and moves on; it only guards against absurd values.
RETRY_AFTER_MAX_SECONDS: Final = 3600.0
# Answers are a few KB; a body this large is not an answer.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
# Of an error body only the provider's error type is kept: the rest may echo the prompt.
_MAX_ERROR_BODY_BYTES: Final = 16 * 1024
_ERROR_TYPE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_SUCCESS: Final = HTTPStatus.OK


@asynccontextmanager
async def open_http_session(
    settings: LlmSettings, *, tracer_provider: TracerProvider | None = None
) -> AsyncIterator[aiohttp.ClientSession]:
    """The one client session of the app, for every provider: the lifespan opens it.

    Connections are pooled per host, `LLM__MAX_CONNECTIONS` each. Statuses are
    never raised by aiohttp: `post` classifies them. With `tracer_provider`,
    each attempt is a client span, and the provider gets its W3C `traceparent`.
    """
    trace_configs = []
    if tracer_provider is not None:
        trace_configs.append(create_trace_config(tracer_provider=tracer_provider))
    connector = aiohttp.TCPConnector(
        limit=settings.max_connections * len(settings.providers),
        limit_per_host=settings.max_connections,
        ttl_dns_cache=DNS_CACHE_SECONDS,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=attempt_timeout(settings.timeout, stream=False),
        raise_for_status=False,
        trace_configs=trace_configs,
    )
    try:
        yield session
    finally:
        await session.close()


def attempt_timeout(timeouts: TimeoutSettings, *, stream: bool) -> aiohttp.ClientTimeout:
    """The aiohttp timeouts of one attempt.

    aiohttp's `connect` covers waiting for a free pooled connection and opening
    one; `sock_connect` the TCP and TLS handshake alone; `sock_read` the silence
    between two reads. aiohttp has no write timeout, and starts `sock_read` only
    once the request is written: a non-streamed attempt is bounded as a whole by
    `total` = write + read, and `post` gives a stream the same bound until its
    response headers arrive. Beyond that a stream may last as long as it keeps
    sending; the request's deadline bounds it.
    """
    return aiohttp.ClientTimeout(
        total=None if stream else timeouts.write_seconds + timeouts.read_seconds,
        connect=timeouts.pool_seconds + timeouts.connect_seconds,
        sock_connect=timeouts.connect_seconds,
        sock_read=timeouts.read_seconds,
    )


@contextmanager
def classified_errors(provider: str) -> Iterator[None]:
    """Raise what fails inside as an `UpstreamError` of `provider`, classified.

    Cancellation passes through untouched: it is the caller's, not the provider's.
    """
    try:
        yield
    except UpstreamError:
        raise
    except ValidationError as exc:
        raise malformed(provider, describe_invalid(exc)) from exc
    except SseError as exc:
        raise malformed(provider, str(exc)) from exc
    # aiohttp's own timeouts derive from TimeoutError too, and TimeoutError from OSError.
    except TimeoutError as exc:
        message = f"timed out ({type(exc).__name__})"
        raise UpstreamError(FailureKind.TIMEOUT, provider, message) from exc
    except aiohttp.ClientPayloadError as exc:
        message = "the response ended before its body was complete"
        raise UpstreamError(FailureKind.CONNECTION, provider, message) from exc
    except (aiohttp.ClientConnectionError, OSError) as exc:
        message = f"connection failed ({type(exc).__name__})"
        raise UpstreamError(FailureKind.CONNECTION, provider, message) from exc
    except aiohttp.ClientError as exc:
        message = f"request failed ({type(exc).__name__})"
        raise UpstreamError(FailureKind.CONNECTION, provider, message) from exc


@asynccontextmanager
async def post(  # noqa: PLR0913 - one keyword per part of a request, all needed
    session: aiohttp.ClientSession,
    provider: str,
    url: str,
    *,
    body: Mapping[str, object],
    headers: Mapping[str, str],
    timeouts: TimeoutSettings,
    stream: bool,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POST `body` as JSON and yield the response once its status says success.

    A status that is not 2xx is raised as an `UpstreamError` classified by
    `kind_of_status`, with the provider's Retry-After. Failures inside the
    block are classified too. On leaving, a response whose body was not read to
    the end is closed, not returned to the pool: closing the connection is what
    tells the provider to stop generating.
    """
    timeout = attempt_timeout(timeouts, stream=stream)
    request_headers = {"Content-Type": "application/json", **headers}
    with classified_errors(provider):
        async with asyncio.timeout(timeouts.write_seconds + timeouts.read_seconds):
            response = await session.post(
                url,
                data=orjson.dumps(body),
                headers=request_headers,
                timeout=timeout,
                # An API that redirects a POST is misconfigured: its 3xx is a refusal.
                allow_redirects=False,
            )
        try:
            if not _SUCCESS <= response.status < _SUCCESS + 100:
                raise await _status_error(response, provider)
            yield response
        finally:
            if response.content.is_eof():
                response.release()
            else:
                response.close()


async def read_body(response: aiohttp.ClientResponse, provider: str) -> bytes:
    """The whole body of a response; one too large for an answer is MALFORMED."""
    body = await _read_at_most(response, MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        message = f"the body exceeds {MAX_BODY_BYTES} bytes"
        raise UpstreamError(FailureKind.MALFORMED, provider, message)
    return body


def malformed(provider: str, what: str) -> UpstreamError:
    """A 2xx response that is not what the provider's API promises."""
    return UpstreamError(FailureKind.MALFORMED, provider, f"malformed response: {what}")


def describe_invalid(error: ValidationError) -> str:
    """Where a body broke its schema and how; never the values, which may echo the prompt."""
    problems = [
        f"{'.'.join(map(str, detail['loc'])) or 'body'}: {detail['type']}"
        for detail in error.errors(include_url=False, include_input=False)[:3]
    ]
    return ", ".join(problems)


def require_event_stream(response: aiohttp.ClientResponse, provider: str) -> None:
    """A stream was asked for: anything but an event stream is not one."""
    if response.content_type != "text/event-stream":
        message = f"expected an event stream, got {response.content_type}"
        raise malformed(provider, message)


def truncated(provider: str) -> UpstreamError:
    """A stream that ended without its terminal event: the connection broke, not success."""
    message = "the stream ended before its final event"
    return UpstreamError(FailureKind.CONNECTION, provider, message)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds a provider asked to wait: `Retry-After` (seconds or an HTTP date), capped.

    OpenAI's `retry-after-ms` is more precise and wins when present.
    """
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return min(milliseconds / 1000, RETRY_AFTER_MAX_SECONDS)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is None:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            # "-0000": UTC, as every HTTP date is.
            moment = moment.replace(tzinfo=UTC)
        seconds = max(0.0, moment.timestamp() - (time.time() if now is None else now))
    return min(seconds, RETRY_AFTER_MAX_SECONDS)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # NaN and infinities are not waits; a negative wait is none.
    return max(0.0, number) if math.isfinite(number) else None


async def _status_error(response: aiohttp.ClientResponse, provider: str) -> UpstreamError:
    status = response.status
    message = f"HTTP {status}"
    try:
        error_type = _error_type(await _read_at_most(response, _MAX_ERROR_BODY_BYTES))
    except (aiohttp.ClientError, OSError):
        # The status says enough; a body that breaks off changes nothing.
        error_type = None
    if error_type is not None:
        message = f"{message} {error_type}"
    return UpstreamError(
        kind_of_status(status),
        provider,
        message,
        status=status,
        retry_after=parse_retry_after(response.headers),
    )


def _error_type(body: bytes) -> str | None:
    """The provider's error type (`{"error": {"type": ...}}`, both APIs), never its message."""
    try:
        parsed: object = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None
    return error_type(error.get("type")) or error_type(error.get("code"))


def error_type(value: object) -> str | None:
    """A provider's error type or code, when it looks like one (a short identifier)."""
    if isinstance(value, str) and _ERROR_TYPE.fullmatch(value):
        return value
    return None


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    while len(body) < limit and (chunk := await response.content.read(limit - len(body))):
        body += chunk
    return bytes(body)
