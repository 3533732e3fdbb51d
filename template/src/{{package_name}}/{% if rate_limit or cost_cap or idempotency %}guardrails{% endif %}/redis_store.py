"""The Redis backend of the guardrail store (redis-py asyncio with hiredis).

Scripts run with EVALSHA, so each call sends the script's hash rather than
its text; a server that does not know a script yet (first call, restart,
failover) is sent it once with SCRIPT LOAD. Every exchange is bounded by
`timeout_seconds`, connecting and waiting for a pooled connection included,
and redis-py's own retries are off: a gate's failure policy, not a retry
loop, decides what happens while Redis is down.

Calls are pipelined. Every call made while the event loop works through what
is ready goes to Redis in one write on one connection, and the replies come
back in order on it. Under load a request's gates and the other requests in
flight share round trips, so a call costs the worker a fraction of the CPU of
a call of its own (bench/README.md of the template has the figures). Each call
stays atomic on its own: a pipeline is not a transaction, only a way to send
several calls at once. The calls are encoded here rather than by redis-py's
general-purpose packer, which costs more than the rest of the exchange.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Tracer
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .settings import StoreSettings
from .store import Argument, Reply, Script, StoreUnavailableError

# Failures that mean "Redis cannot be reached now", as opposed to a script
# error (a bug, which must surface as one).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)
# The most calls one pipeline carries: a larger burst goes out as several
# pipelines on several connections rather than as one long exchange.
MAX_BATCH = 128


@dataclass(frozen=True, slots=True)
class _Call:
    script: Script
    command: bytes
    reply: "asyncio.Future[Reply]"


class _Pool(Protocol):
    # What the exchange needs of redis-py's pool, typed (redis-py leaves it untyped).
    async def get_connection(self) -> AbstractConnection: ...

    async def release(self, connection: AbstractConnection) -> None: ...


def _bulk(value: Argument) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = b"%d" % value
    return b"$%d\r\n%s\r\n" % (len(value), value)


def encode_evalsha(sha: str, keys: Sequence[str], args: Sequence[Argument]) -> bytes:
    """`EVALSHA sha numkeys keys... args...` in the Redis protocol (RESP)."""
    parts = [b"EVALSHA", sha, len(keys), *keys, *args]
    return b"*%d\r\n" % len(parts) + b"".join(map(_bulk, parts))


def _mark_retrieved(reply: "asyncio.Future[Reply]") -> None:
    # A caller that is cancelled while its call is in flight never reads the
    # outcome; reading it here keeps asyncio from reporting it as lost.
    if not reply.cancelled():
        reply.exception()


class RedisStore:
    backend = "redis"

    def __init__(
        self, client: Redis, *, timeout_seconds: float, tracer: Tracer | None = None
    ) -> None:
        self._client = client
        self._timeout = timeout_seconds
        self._tracer = tracer
        self._pending: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Reply:
        if self._tracer is None:
            return await self._run(script, keys, args)
        # A span per call, not per batch: each request's trace shows its own wait.
        with self._client_span(self._tracer, "EVALSHA", script.name):
            return await self._run(script, keys, args)

    async def ping(self) -> None:
        if self._tracer is None:
            await self._ping()
            return
        with self._client_span(self._tracer, "PING"):
            await self._ping()

    @staticmethod
    def _client_span(
        tracer: Tracer, operation: str, procedure: str | None = None
    ) -> AbstractContextManager[object]:
        """A client span named as OpenTelemetry's database conventions name it.

        Keys and arguments are never recorded: they hold principals and
        idempotency keys. The script's name says what ran.
        """
        attributes = {"db.system": "redis", "db.operation.name": operation}
        if procedure is not None:
            attributes["db.stored_procedure.name"] = procedure
        return tracer.start_as_current_span(
            operation if procedure is None else f"{operation} {procedure}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
        )

    async def _run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Reply:
        loop = asyncio.get_running_loop()
        call = _Call(script, encode_evalsha(script.sha, keys, args), loop.create_future())
        call.reply.add_done_callback(_mark_retrieved)
        self._pending.append(call)
        if len(self._pending) == 1:
            # After the callbacks already due, so the calls they make join this batch.
            loop.call_soon(self._send_pending)
        try:
            # Bounded: `_send` settles every call within the timeout.
            reply = await call.reply
        except UNAVAILABLE as error:
            raise StoreUnavailableError(_describe(error, self._timeout)) from error
        return list(reply)

    async def _ping(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.ping()
        except UNAVAILABLE as error:
            raise StoreUnavailableError(_describe(error, self._timeout)) from error

    async def aclose(self) -> None:
        """Let the calls already made finish (each is bounded by the timeout)."""
        while self._pending or self._sending:
            if self._pending:
                self._send_pending()
            sending = list(self._sending)
            await asyncio.gather(*sending, return_exceptions=True)
            # Finished tasks leave the set by a callback that has not run yet.
            self._sending.difference_update(sending)

    def _send_pending(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            task = asyncio.create_task(self._send(pending[start : start + MAX_BATCH]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._replies(batch)
        except BaseException as error:
            # Every caller waits on its call: each must hear how the batch ended.
            failure = error
            if not isinstance(error, Exception):  # cancelled: the store is closing
                failure = RedisConnectionError("the store is closing")
            for call in batch:
                if not call.reply.done():
                    call.reply.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for call, reply in zip(batch, replies, strict=True):
            if call.reply.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                call.reply.set_exception(reply)
            else:
                call.reply.set_result(reply)

    async def _replies(self, batch: Sequence[_Call]) -> list[Reply | ResponseError]:
        """One exchange; calls whose script Redis does not know are loaded and sent again."""
        replies = await self._exchange(batch)
        unknown = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if unknown:
            again = [batch[n] for n in unknown]
            for script in {call.script.sha: call.script for call in again}.values():
                await self._client.script_load(script.lua)
            for n, reply in zip(unknown, await self._exchange(again), strict=True):
                replies[n] = reply
        return replies

    async def _exchange(self, calls: Sequence[_Call]) -> list[Reply | ResponseError]:
        """Send `calls` in one write and read their replies; a script's error is its reply."""
        pool: _Pool = self._client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(b"".join(call.command for call in calls))
            replies: list[Reply | ResponseError] = []
            for _ in calls:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as error:  # read in full: the connection stays in step
                    replies.append(error)
        except BaseException:
            # Cut off mid-exchange: replies may still be on their way.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)
        return replies


def _describe(error: BaseException, timeout: float) -> str:
    # redis-py's messages name host and port, never the password of the URL.
    if isinstance(error, TimeoutError) and not str(error):
        return f"no answer within {timeout:g}s"
    return f"{type(error).__name__}: {error}"


def create_client(settings: StoreSettings) -> Redis:
    """A client that never retries on its own; `RedisStore` bounds every exchange.

    No socket timeout: the store's own timeout covers the whole exchange, and
    a second one per read and write would only cost time on every call.
    """
    assert settings.redis_url is not None  # noqa: S101 - StoreSettings requires it for redis
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=settings.max_connections,
        # Waiting for a free connection counts against the same bound.
        timeout=settings.timeout_seconds,
        socket_connect_timeout=settings.timeout_seconds,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool, retry=Retry(NoBackoff(), retries=0))


@asynccontextmanager
async def open_redis_store(
    settings: StoreSettings, *, tracer_provider: TracerProvider | None = None
) -> AsyncIterator[RedisStore]:
    """Connect lazily: the service starts (degraded) even while Redis is down.

    With `tracer_provider`, every store call is a client span of its request.
    """
    client = create_client(settings)
    tracer = None if tracer_provider is None else tracer_provider.get_tracer(__name__)
    store = RedisStore(client, timeout_seconds=settings.timeout_seconds, tracer=tracer)
    try:
        yield store
    finally:
        await store.aclose()
        # The pool was passed in, so the client would leave its connections open.
        await client.aclose(close_connection_pool=True)
