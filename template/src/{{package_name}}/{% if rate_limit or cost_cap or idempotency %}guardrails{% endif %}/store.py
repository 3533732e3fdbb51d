"""The shared state of the guardrails: one small interface, two backends.

A gate describes each atomic check-and-update once, as a `Script`: the Lua
that Redis runs atomically, and its Python twin that the in-memory backend
runs. The twin never awaits, so on one event loop it is as atomic as the Lua
is in Redis. The gates' tests run every rule against both backends, which
keeps the twins equal.

Redis is the backend for staging and production: one script call is one
round trip, and it holds exactly across processes and replicas. Memory is the
embedded default for development and unit tests; each process then has its
own limits, which is why production refuses it.
"""

import hashlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .settings import StoreSettings

if TYPE_CHECKING:
    # The OpenTelemetry SDK only where the Redis store is opened: the cost cap's
    # settings import this module, and the health check loads them every 15 s.
    from opentelemetry.sdk.trace import TracerProvider

# What scripts take and return: Redis integers and bulk strings.
Argument = int | str | bytes
Reply = list[int | bytes]


class StoreUnavailableError(Exception):
    """The store could not be reached or did not answer in time."""


class MemoryData:
    """The in-memory backend's keyspace, with Redis-like expiry."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[object, int | None]] = {}

    def get(self, key: str, now_us: int) -> object | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        value, expires_us = entry
        if expires_us is not None and expires_us <= now_us:
            del self._values[key]
            return None
        return value

    def set(self, key: str, value: object, *, now_us: int, ttl_us: int | None) -> None:
        """Store `value`; `ttl_us` of None keeps it until deleted."""
        self._values[key] = (value, None if ttl_us is None else now_us + max(ttl_us, 1))

    def delete(self, key: str) -> None:
        self._values.pop(key, None)

    def sweep(self, now_us: int) -> None:
        """Forget every expired key, so memory stays bounded by live keys."""
        expired = [
            key
            for key, (_, expires) in self._values.items()
            if expires is not None and expires <= now_us
        ]
        for key in expired:
            del self._values[key]

    def __len__(self) -> int:
        return len(self._values)


# The Python twin of a script: (data, keys, args, now in microseconds) -> reply.
LocalScript = Callable[[MemoryData, Sequence[str], Sequence[Argument], int], Reply]


@dataclass(frozen=True, slots=True)
class Script:
    """One atomic operation: Lua for Redis and its Python twin for memory.

    The Lua reads the time with `redis.call('TIME')`, so every replica shares
    Redis's clock; the twin receives the backend's clock as `now_us`.
    """

    name: str
    lua: str
    local: LocalScript
    # EVALSHA sends this on every request: hashed once, not per call.
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.lua.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


class Store(Protocol):
    """Runs scripts atomically. Raises `StoreUnavailableError` when it cannot."""

    backend: str

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Reply:
        """Run `script` on `keys` with `args` and return its reply."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise `StoreUnavailableError` otherwise."""
        ...


class MemoryStore:
    """Process-local backend for development and unit tests.

    Args:
        clock: seconds since the epoch; tests pass their own to move time.
        sweep_every: expired keys are dropped after this many script runs.
    """

    backend = "memory"

    def __init__(self, clock: Callable[[], float] = time.time, *, sweep_every: int = 1000) -> None:
        self.data = MemoryData()
        self._clock = clock
        self._sweep_every = sweep_every
        self._runs = 0

    async def run(self, script: Script, keys: Sequence[str], args: Sequence[Argument]) -> Reply:
        now_us = int(self._clock() * 1_000_000)
        self._runs += 1
        if self._runs % self._sweep_every == 0:
            self.data.sweep(now_us)
        return script.local(self.data, keys, args, now_us)

    async def ping(self) -> None:
        return None


class Keyspace:
    """Names every key as `<service>:<gate>:{<identity>}:<parts>`.

    The service prefix keeps services that share a Redis apart. The braces are
    a Redis Cluster hash tag: all keys of one identity hash to one slot. The
    identity is digested, so keys hold no client address or user id and no
    brace of an identity can break the tag.
    """

    def __init__(self, service: str) -> None:
        self.service = service

    def key(self, gate: str, identity: str, *parts: str) -> str:
        digest = hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
        tag = "{" + digest + "}"
        return ":".join((self.service, gate, tag, *parts))


@asynccontextmanager
async def open_store(
    settings: StoreSettings, *, tracer_provider: "TracerProvider | None" = None
) -> AsyncIterator[Store]:
    """Open the configured backend for the lifespan of the app (traced with `tracer_provider`)."""
    if settings.backend == "memory":
        yield MemoryStore()
        return
    # Imported here: development and unit tests never load the Redis client.
    from .redis_store import open_redis_store  # noqa: PLC0415

    async with open_redis_store(settings, tracer_provider=tracer_provider) as store:
        yield store
