"""Per-gate test outcomes: what the test suite records and the scorecard reads.

The test suite's gate plugin (`pytest --gate-report=PATH`) writes one JSON
document per run; `parse_report` reads it back. Both sides use this module, so
the format is defined once.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from .launch_gates import Gate

REPORT_FORMAT = 1


class Outcome(StrEnum):
    """How one test ended, over its setup, call and teardown."""

    PASSED = "passed"
    SKIPPED = "skipped"
    FAILED = "failed"
    ERROR = "errors"


# A later phase can only make a test's outcome worse: a teardown error after a
# passing call is an error, never a pass.
_SEVERITY = {Outcome.PASSED: 0, Outcome.SKIPPED: 1, Outcome.FAILED: 2, Outcome.ERROR: 3}


def phase_outcome(when: str, outcome: str) -> Outcome:
    """The outcome one phase gives its test (pytest's `when` and `outcome`).

    A failing setup or teardown is an error of the test, as pytest counts it;
    only the call itself passes or fails.
    """
    if outcome == "skipped":
        return Outcome.SKIPPED
    if outcome == "failed":
        return Outcome.FAILED if when == "call" else Outcome.ERROR
    return Outcome.PASSED


def worse(current: Outcome | None, new: Outcome) -> Outcome:
    if current is None or _SEVERITY[new] > _SEVERITY[current]:
        return new
    return current


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How many tests of one gate passed, failed, were skipped or errored."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors

    @property
    def broken(self) -> int:
        """Tests that prove the gate does not hold (or could not be run at all)."""
        return self.failed + self.errors


@dataclass(frozen=True, slots=True)
class TestReport:
    """One run of the test suite, counted by gate.

    `complete` is true only for a run of the whole suite that gave every
    collected test an outcome: no paths or files named on the command line,
    nothing deselected (`-k`, `-m`, `--lf`), no early stop (`-x`).
    """

    __test__ = False  # a result, not a test class, whatever pytest thinks of the name

    complete: bool
    exit_status: int
    collected: int
    unmarked: int
    gates: Mapping[Gate, Outcomes] = field(default_factory=dict)

    def outcomes(self, gate: Gate) -> Outcomes:
        return self.gates.get(gate, Outcomes())

    @property
    def overall(self) -> Outcomes:
        """Every gate's outcomes summed (a test that proves two gates counts twice)."""
        counts = [self.outcomes(gate) for gate in Gate]
        return Outcomes(
            passed=sum(c.passed for c in counts),
            failed=sum(c.failed for c in counts),
            skipped=sum(c.skipped for c in counts),
            errors=sum(c.errors for c in counts),
        )


def gate_problems(gates_by_test: Mapping[str, Sequence[str]]) -> list[str]:
    """One line per test that names no gate or a gate that does not exist."""
    known = {gate.value for gate in Gate}
    problems = []
    for test, names in gates_by_test.items():
        if not names:
            problems.append(f"{test}: no pytest.mark.gate(...) names the gate it proves")
        problems.extend(
            f"{test}: unknown gate {name!r} (known: {', '.join(sorted(known))})"
            for name in names
            if name not in known
        )
    return problems


def tally(
    gates_by_test: Mapping[str, Sequence[str]], outcome_by_test: Mapping[str, Outcome]
) -> dict[Gate, Outcomes]:
    """Count each test's outcome under every known gate it names."""
    counts: dict[Gate, dict[Outcome, int]] = {gate: dict.fromkeys(Outcome, 0) for gate in Gate}
    known = {gate.value: gate for gate in Gate}
    for test, outcome in outcome_by_test.items():
        for name in set(gates_by_test.get(test, ())):
            if name in known:
                counts[known[name]][outcome] += 1
    return {
        gate: Outcomes(
            passed=by[Outcome.PASSED],
            failed=by[Outcome.FAILED],
            skipped=by[Outcome.SKIPPED],
            errors=by[Outcome.ERROR],
        )
        for gate, by in counts.items()
    }


def render_report(
    *,
    gates_by_test: Mapping[str, Sequence[str]],
    outcome_by_test: Mapping[str, Outcome],
    whole_suite: bool,
    deselected: int,
    exit_status: int,
) -> bytes:
    """The JSON document of one run (`whole_suite`: no paths named on the command line)."""
    ran_every_test = set(outcome_by_test) >= set(gates_by_test)
    known = {gate.value for gate in Gate}
    unmarked = sum(
        1 for names in gates_by_test.values() if not names or not known.issuperset(names)
    )
    # How many tests name each gate, run or not: a gate whose count exceeds its
    # outcomes was only partly run.
    collected = {
        gate: sum(1 for names in gates_by_test.values() if gate.value in names) for gate in Gate
    }
    document = {
        "format": REPORT_FORMAT,
        "complete": whole_suite and deselected == 0 and ran_every_test,
        "exit_status": exit_status,
        "collected": len(gates_by_test),
        "deselected": deselected,
        "unmarked": unmarked,
        "gates": {
            gate.value: {
                "collected": collected[gate],
                "passed": counts.passed,
                "failed": counts.failed,
                "skipped": counts.skipped,
                "errors": counts.errors,
            }
            for gate, counts in tally(gates_by_test, outcome_by_test).items()
        },
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        message = f"{name} must be a count (a whole number, at least 0)"
        raise ValueError(message)
    return value


def _outcomes(value: object, gate: str) -> Outcomes:
    if not isinstance(value, dict):
        message = f"gates.{gate} must be an object of counts"
        raise ValueError(message)  # noqa: TRY004 - callers handle one kind of bad report
    return Outcomes(
        **{
            name: _count(value.get(name, 0), f"gates.{gate}.{name}")
            for name in ("passed", "failed", "skipped", "errors")
        }
    )


def parse_report(data: bytes | str) -> TestReport:
    """Read a report written by `render_report`.

    Raises:
        ValueError: the document is not a report of this format; the message says why.
    """
    try:
        document: Any = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        message = f"not JSON ({error})"
        raise ValueError(message) from None
    if not isinstance(document, dict) or document.get("format") != REPORT_FORMAT:
        message = f"not a gate test report of format {REPORT_FORMAT}"
        raise ValueError(message)
    gates = document.get("gates")
    if not isinstance(gates, dict):
        message = "gates must be an object"
        raise ValueError(message)  # noqa: TRY004 - callers handle one kind of bad report
    known = {gate.value: gate for gate in Gate}
    return TestReport(
        complete=document.get("complete") is True,
        exit_status=_count(document.get("exit_status"), "exit_status"),
        collected=_count(document.get("collected"), "collected"),
        unmarked=_count(document.get("unmarked"), "unmarked"),
        gates={
            known[name]: _outcomes(value, name) for name, value in gates.items() if name in known
        },
    )


def gates_of(marks: Iterable[Sequence[object]]) -> list[str]:
    """The gate names of a test, from the arguments of each of its `gate` marks."""
    return [str(name) for args in marks for name in args]
