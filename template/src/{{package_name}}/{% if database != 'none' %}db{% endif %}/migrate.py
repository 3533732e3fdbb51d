"""Alembic, configured from the service's settings instead of an alembic.ini.

On PostgreSQL `upgrade` and `downgrade` hold an advisory lock while they run, so
migration jobs started at the same time (two deploys, a retried job) run one after
the other: the later one finds the schema at the newest revision and does nothing.
"""

import asyncio
import hashlib
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ..logging import get_logger
from .settings import DatabaseSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_lock's key, a signed 64-bit integer: fixed by this module's name, so
# every release of the service takes the same lock, and another service's
# migrations in the same database take a different one.
MIGRATION_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(__name__.encode()).digest()[:8], "big", signed=True
)

_logger = get_logger("db.migrate")


def alembic_config(settings: DatabaseSettings) -> Config:
    # The stream is looked up now: Config's own default is sys.stdout as it was
    # when Alembic was imported, which misses any later redirection.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation would read a "%" in a password as a reference.
    config.set_main_option("sqlalchemy.url", settings.url.get_secret_value().replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    # Read by migrations/env.py: migrations wait no longer to connect than the app.
    config.attributes["connect_args"] = {"timeout": settings.connect_timeout_seconds}
    # New revision files come out lint-clean and formatted, as `make check` wants,
    # where ruff is installed (a development environment, not a runtime image).
    if shutil.which("ruff") is not None:
        config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
        for name, arguments in (
            ("ruff_fix", "check --fix --quiet REVISION_SCRIPT_FILENAME"),
            ("ruff_format", "format --quiet REVISION_SCRIPT_FILENAME"),
        ):
            config.set_section_option("post_write_hooks", f"{name}.type", "exec")
            config.set_section_option("post_write_hooks", f"{name}.executable", "ruff")
            config.set_section_option("post_write_hooks", f"{name}.options", arguments)
    return config


def upgrade(settings: DatabaseSettings, revision: str = "head") -> None:
    _run_locked(settings, lambda config: command.upgrade(config, revision))


def downgrade(settings: DatabaseSettings, revision: str) -> None:
    _run_locked(settings, lambda config: command.downgrade(config, revision))


def _run_locked(settings: DatabaseSettings, action: Callable[[Config], None]) -> None:
    """Run a command that changes the schema, alone among this service's migrations.

    Call it from sync code only: on PostgreSQL it runs an event loop of its own.
    """
    config = alembic_config(settings)
    if settings.is_sqlite:
        # SQLite (development) locks its whole file for each writer: no lock needed.
        action(config)
        return
    asyncio.run(_run_on_locked_connection(config, settings, action))


async def _run_on_locked_connection(
    config: Config, settings: DatabaseSettings, action: Callable[[Config], None]
) -> None:
    connect_args = {
        **config.attributes["connect_args"],
        # Shown in pg_stat_activity: who holds, or waits for, the lock.
        "server_settings": {"application_name": __name__},
    }
    # NullPool: closing the connection really closes it, which ends the lock
    # however the command ended; a connection lost mid-migration ends it too
    # (and rolls the migration back: PostgreSQL's DDL is transactional).
    engine = create_async_engine(
        settings.url.get_secret_value(), poolclass=NullPool, connect_args=connect_args
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_lock_and_run, config, action)
    finally:
        await engine.dispose()


def _lock_and_run(connection: Connection, config: Config, action: Callable[[Config], None]) -> None:
    key = {"key": MIGRATION_LOCK_KEY}
    if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
        _logger.info("waiting for another migration to finish", lock_key=MIGRATION_LOCK_KEY)
        connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
    # A session lock outlives the transaction that took it. Committing leaves the
    # connection outside any transaction, so Alembic begins and commits its own.
    connection.commit()
    # migrations/env.py migrates on this connection, the one holding the lock; the
    # lock ends when the connection closes, right after.
    config.attributes["connection"] = connection
    action(config)


def current(settings: DatabaseSettings) -> None:
    command.current(alembic_config(settings), verbose=False)


def revision(settings: DatabaseSettings, message: str, *, autogenerate: bool) -> None:
    command.revision(alembic_config(settings), message=message, autogenerate=autogenerate)
