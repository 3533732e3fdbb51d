"""`<package> db ...`: apply and write migrations.

Wiring these commands imports neither SQLAlchemy nor Alembic: the command line
builds every command's parser on each run, the container's health check
(`probe`, every 15 s) included. Each handler imports what it runs.
"""

import argparse
import sys
from collections.abc import Callable

from ..exit_codes import EXIT_CONFIG, EXIT_FAILED
from .settings import DatabaseSettings

# Returns the database settings, or None after printing why they are invalid.
Loader = Callable[[], DatabaseSettings | None]


def add_database_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]", load: Loader
) -> None:
    db = commands.add_parser("db", help="database migrations (Alembic)")
    actions = db.add_subparsers(dest="db_command", required=True)

    upgrade = actions.add_parser("upgrade", help="apply migrations (default: to the newest)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=_run(load, _upgrade))

    downgrade = actions.add_parser("downgrade", help="revert migrations down to REVISION")
    downgrade.add_argument("revision", help="target revision, e.g. -1 or base")
    downgrade.set_defaults(handler=_run(load, _downgrade))

    current = actions.add_parser("current", help="show the revision the database is at")
    current.set_defaults(handler=_run(load, _current))

    revision = actions.add_parser("revision", help="write a new migration file")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument(
        "--autogenerate", action="store_true", help="compare the models with the database"
    )
    revision.set_defaults(handler=_run(load, _revision))


def _upgrade(settings: DatabaseSettings, args: argparse.Namespace) -> None:
    from . import migrate  # noqa: PLC0415 - Alembic only when a command needs it

    migrate.upgrade(settings, args.revision)


def _downgrade(settings: DatabaseSettings, args: argparse.Namespace) -> None:
    from . import migrate  # noqa: PLC0415 - Alembic only when a command needs it

    migrate.downgrade(settings, args.revision)


def _current(settings: DatabaseSettings, _args: argparse.Namespace) -> None:
    from . import migrate  # noqa: PLC0415 - Alembic only when a command needs it

    migrate.current(settings)


def _revision(settings: DatabaseSettings, args: argparse.Namespace) -> None:
    from . import migrate  # noqa: PLC0415 - Alembic only when a command needs it

    migrate.revision(settings, args.message, autogenerate=args.autogenerate)


def _run(
    load: Loader, action: Callable[[DatabaseSettings, argparse.Namespace], None]
) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        settings = load()
        if settings is None:
            return EXIT_CONFIG
        return run_guarded("database command", lambda: action(settings, args))

    return handler


def run_guarded(label: str, command: Callable[[], None]) -> int:
    """Run a command that talks to the database; a failure is reported and exits 1."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - see the module docstring

    try:
        command()
    except (SQLAlchemyError, OSError) as error:
        # The driver's message names the host, never the password.
        print(f"{label} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0
