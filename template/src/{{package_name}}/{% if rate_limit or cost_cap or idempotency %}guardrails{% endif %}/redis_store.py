"""The Redis backend of the guardrail store (redis-py asyncio with hiredis).

Scripts run with EVALSHA, so each call sends the script's hash rather than
its text; a server that does not know a script yet (first call, restart,
failover) is sent it once with SCRIPT LOAD. Every call is bounded by
`timeout_seconds`, connecting and waiting for a pooled connection included,
and redis-py's own retries are off: a gate's failure policy, not a retry
loop, decides what happens while Redis is down.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .settings import StoreSettings
from .store import Argument, Reply, Script, StoreUnavailableError

# Failures that mean "Redis cannot be reached now", as opposed to a script
# error (a bug, which must surface as one).
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)


class RedisStore:
    backend = "redis"

    def __init__(self, client: Redis, *, timeout_seconds: float) -> None:
        self._client = client
        self._timeout = timeout_seconds

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Reply:
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    reply = await self._client.evalsha(script.sha, len(keys), *keys, *args)
                except NoScriptError:
                    await self._client.script_load(script.lua)
                    reply = await self._client.evalsha(script.sha, len(keys), *keys, *args)
        except UNAVAILABLE as error:
            raise StoreUnavailableError(_describe(error, self._timeout)) from error
        return list(reply)

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.ping()
        except UNAVAILABLE as error:
            raise StoreUnavailableError(_describe(error, self._timeout)) from error


def _describe(error: BaseException, timeout: float) -> str:
    # redis-py's messages name host and port, never the password of the URL.
    if isinstance(error, TimeoutError) and not str(error):
        return f"no answer within {timeout:g}s"
    return f"{type(error).__name__}: {error}"


def create_client(settings: StoreSettings) -> Redis:
    """A client whose every wait is bounded and which never retries on its own."""
    assert settings.redis_url is not None  # noqa: S101 - StoreSettings requires it for redis
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=settings.max_connections,
        # Waiting for a free connection counts against the same bound.
        timeout=settings.timeout_seconds,
        socket_timeout=settings.timeout_seconds,
        socket_connect_timeout=settings.timeout_seconds,
        retry=Retry(NoBackoff(), retries=0),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool, retry=Retry(NoBackoff(), retries=0))


@asynccontextmanager
async def open_redis_store(settings: StoreSettings) -> AsyncIterator[RedisStore]:
    """Connect lazily: the service starts (degraded) even while Redis is down."""
    client = create_client(settings)
    try:
        yield RedisStore(client, timeout_seconds=settings.timeout_seconds)
    finally:
        # The pool was passed in, so the client would leave its connections open.
        await client.aclose(close_connection_pool=True)
