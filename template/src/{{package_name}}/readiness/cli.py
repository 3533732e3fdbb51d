"""`readiness`: score the service against the launch gates; exit 1 below a minimum.

Only the command's arguments are defined here: the command line builds every
command's parser on each run, the container's health check (`probe`, every
15 s) included. The scoring is imported when `readiness` runs (`command.py`).
"""

import argparse
from collections.abc import Callable
from pathlib import Path

from ..settings import Settings

DEFAULT_TESTS_REPORT = Path("reports/gate-tests.json")
DEFAULT_MARKDOWN = Path("reports/readiness.md")
DEFAULT_JSON = Path("reports/readiness.json")


def _run(args: argparse.Namespace, load: Callable[[], Settings | None]) -> int:
    from .command import run  # noqa: PLC0415 - see the module docstring

    return run(args, load)


def add_readiness_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    load: Callable[[], Settings | None],
) -> None:
    parser = commands.add_parser(
        "readiness",
        help="score the service against the ten launch gates; exit 1 when one is below its minimum",
    )
    parser.add_argument(
        "--tests-report",
        type=Path,
        default=DEFAULT_TESTS_REPORT,
        help=f"what `pytest --gate-report` wrote (default: {DEFAULT_TESTS_REPORT})",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=DEFAULT_MARKDOWN,
        help=f"where to write the table as Markdown (default: {DEFAULT_MARKDOWN})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write every check as JSON (default: {DEFAULT_JSON})",
    )
    parser.add_argument(
        "--root", type=Path, default=Path(), help="project folder (default: the current one)"
    )
    parser.set_defaults(handler=lambda args: _run(args, load))
