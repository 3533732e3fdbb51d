"""`readiness`: score the service against the launch gates; exit 1 below a minimum."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..exit_codes import EXIT_CONFIG, EXIT_NOT_READY
from ..settings import Settings
from .capabilities import capabilities
from .evidence import REPORT_HINT, Evidence, ProjectFiles, build_scorecard
from .outcomes import TestReport, parse_report
from .scorecard import render_json, render_markdown, render_text

DEFAULT_TESTS_REPORT = Path("reports/gate-tests.json")
DEFAULT_MARKDOWN = Path("reports/readiness.md")
DEFAULT_JSON = Path("reports/readiness.json")


def read_report(path: Path) -> tuple[TestReport | None, tuple[str, ...]]:
    """The test report at `path`, or None with a note that says why there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        note = (
            f"no test report at {path}: test evidence counts as absent; {REPORT_HINT}, "
            "then run readiness again"
        )
        return None, (note,)
    except OSError as error:
        return None, (f"the test report {path} cannot be read ({error.strerror}); {REPORT_HINT}",)
    try:
        report = parse_report(data)
    except ValueError as error:
        return None, (f"the test report {path} is not usable ({error}); {REPORT_HINT}",)
    notes = []
    if not report.complete:
        notes.append(
            f"the test report {path} covers part of the suite only: run the whole suite "
            "(`make test`) for full test evidence"
        )
    return report, tuple(notes)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def run(args: argparse.Namespace, load: Callable[[], Settings | None]) -> int:
    settings = load()
    if settings is None:
        return EXIT_CONFIG
    report, notes = read_report(args.tests_report)
    evidence = Evidence(
        settings=settings,
        capabilities=capabilities(settings),
        files=ProjectFiles.scan(args.root),
        report=report,
    )
    card = build_scorecard(evidence, tests_report=str(args.tests_report), notes=notes)
    sys.stdout.write(render_text(card))
    _write(args.markdown, render_markdown(card).encode())
    _write(args.json, render_json(card))
    sys.stdout.write(f"\nwrote {args.markdown} and {args.json}\n")
    return 0 if card.ready else EXIT_NOT_READY


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
    parser.set_defaults(handler=lambda args: run(args, load))
