"""The async engine and its sessions, built from settings; owned by the lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ..health import ReadinessCheck
from .settings import DatabaseSettings


def engine_options(settings: DatabaseSettings, *, application_name: str) -> dict[str, Any]:
    """Keyword arguments for `create_async_engine`: every wait has a limit."""
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_recycle": settings.pool_recycle_seconds,
    }
    if settings.is_sqlite:
        # SQLAlchemy picks SQLite's pool itself (an in-memory database shares one
        # connection and takes no pool sizing). sqlite3's own lock wait is the
        # only timeout: there is no server to set a statement timeout on.
        options["connect_args"] = {"timeout": settings.connect_timeout_seconds}
    else:
        options["pool_size"] = settings.pool_size
        options["max_overflow"] = settings.max_overflow
        options["pool_timeout"] = settings.pool_timeout_seconds
        options["connect_args"] = {
            "timeout": settings.connect_timeout_seconds,
            "server_settings": {
                "statement_timeout": str(settings.statement_timeout_ms),
                "application_name": application_name,
            },
        }
    return options


def create_engine(settings: DatabaseSettings, *, application_name: str) -> AsyncEngine:
    return create_async_engine(
        settings.url.get_secret_value(),
        **engine_options(settings, application_name=application_name),
    )


def trace_statements(engine: AsyncEngine, provider: TracerProvider) -> None:
    """A client span for every statement run on `engine`: its SQL, never its parameters."""
    # Imported only when tracing is on. EngineTracer instruments this engine
    # alone; the instrumentor's `instrument()` would also patch `create_engine`
    # for the whole process, and with it every later app's engine.
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # noqa: PLC0415

    # The pool's connection gauge is Prometheus's job here: its meter does nothing.
    connections = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("unused")
    # The instrumentation has no type annotations.
    EngineTracer(provider.get_tracer(__name__), engine.sync_engine, connections)  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    @property
    def readiness_check(self) -> ReadinessCheck:
        return ReadinessCheck(name="database", probe=self.ping)


@asynccontextmanager
async def open_database(
    settings: DatabaseSettings, *, application_name: str
) -> AsyncIterator[Database]:
    """The engine for the lifespan of the app; its connections close on exit.

    Connecting is lazy: the service starts while the database is down, and
    /readyz reports it until it is back.
    """
    engine = create_engine(settings, application_name=application_name)
    try:
        # expire_on_commit=False: objects stay readable after the commit that
        # saved them, as a handler returning what it created expects.
        yield Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
