"""Alembic, configured from the service's settings instead of an alembic.ini."""

import shutil
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from .settings import DatabaseSettings

MIGRATIONS = Path(__file__).parent / "migrations"


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
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: DatabaseSettings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


def current(settings: DatabaseSettings) -> None:
    command.current(alembic_config(settings), verbose=False)


def revision(settings: DatabaseSettings, message: str, *, autogenerate: bool) -> None:
    command.revision(alembic_config(settings), message=message, autogenerate=autogenerate)
