"""The `readiness` command itself: gather the evidence, score it, write the reports.

Apart from the command's wiring (`cli.py`), which every run of the command line
imports, the health check included.
"""

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
