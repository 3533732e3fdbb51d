"""Scores from checks, and the scorecard as a table, Markdown and JSON.

Rubric (the same for every gate):

- Each gate has a list of checks. A check has a description, a weight (1 to
  3: how much of the gate it carries) and a result: met, not met, or not
  applicable (it is about something this kind of service does not have, such
  as database timeouts without a database).
- score = floor(5 x met weight / applicable weight). A feature switched off
  in copier is *not met*, never "not applicable": a service without auth or
  without spending caps has less evidence, and its score says so.
- Whatever else is met, a gate with a failing or erroring test scores at
  most 1: a test that proves the gate does not hold outweighs configuration.
- A gate passes when its score reaches its minimum (`launch_gates.MINIMUMS`);
  the service is ready when every gate passes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import orjson

from .launch_gates import MAX_SCORE, MINIMUMS, TITLES, Gate

# The most a gate with a failing test can score: below every minimum.
BROKEN_CAP = 1


class Result(StrEnum):
    MET = "met"
    NOT_MET = "not met"
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True, slots=True)
class Check:
    """One piece of evidence for a gate."""

    description: str
    weight: int
    result: Result


def check(description: str, weight: int, *, met: bool | None) -> Check:
    """A check from a condition; `met=None` means not applicable."""
    if met is None:
        return Check(description, weight, Result.NOT_APPLICABLE)
    return Check(description, weight, Result.MET if met else Result.NOT_MET)


def score(checks: Sequence[Check], *, broken: bool = False) -> int:
    """0-5 by the rubric above; `broken`: a test of the gate failed or errored."""
    applicable = sum(c.weight for c in checks if c.result is not Result.NOT_APPLICABLE)
    met = sum(c.weight for c in checks if c.result is Result.MET)
    if applicable == 0:
        return 0
    # Integer arithmetic: the same evidence always gives the same score.
    value = MAX_SCORE * met // applicable
    return min(value, BROKEN_CAP) if broken else value


@dataclass(frozen=True, slots=True)
class GateScore:
    gate: Gate
    checks: tuple[Check, ...]
    broken: bool = False

    @property
    def score(self) -> int:
        return score(self.checks, broken=self.broken)

    @property
    def minimum(self) -> int:
        return MINIMUMS[self.gate]

    @property
    def passed(self) -> bool:
        return self.score >= self.minimum

    @property
    def missing(self) -> list[str]:
        return [c.description for c in self.checks if c.result is Result.NOT_MET]


@dataclass(frozen=True, slots=True)
class Scorecard:
    gates: tuple[GateScore, ...]
    app_env: str
    tests_report: str
    notes: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return all(gate.passed for gate in self.gates)

    @property
    def below(self) -> list[GateScore]:
        return [gate for gate in self.gates if not gate.passed]


def _status(gate: GateScore) -> str:
    return "pass" if gate.passed else "BELOW MINIMUM"


def _verdict(card: Scorecard) -> str:
    if card.ready:
        return "Ready: every gate reaches its minimum."
    names = ", ".join(TITLES[gate.gate] for gate in card.below)
    return f"Not ready: below the minimum: {names}."


def render_text(card: Scorecard) -> str:
    """The table for a terminal: one row per gate, then what each gate misses."""
    header = ("Gate", "Score", "Minimum", "Status")
    rows = [
        (TITLES[g.gate], f"{g.score}/{MAX_SCORE}", str(g.minimum), _status(g)) for g in card.gates
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"Readiness scorecard (APP_ENV={card.app_env}, tests report: {card.tests_report})",
        "",
    ]
    lines.extend(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
    for gate in card.gates:
        if gate.missing:
            lines.extend(["", f"{TITLES[gate.gate]} is missing:"])
            lines.extend(f"  - {item}" for item in gate.missing)
    lines.extend(["", *(f"Note: {note}" for note in card.notes)] if card.notes else [])
    lines.extend(["", _verdict(card)])
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(card: Scorecard) -> str:
    """The table as GitHub-flavoured Markdown (CI appends it to the job summary)."""
    lines = [
        "## Readiness scorecard",
        "",
        f"APP_ENV={card.app_env}; tests report: `{card.tests_report}`.",
        "",
        "| Gate | Score | Minimum | Status | Missing evidence |",
        "| --- | --- | --- | --- | --- |",
    ]
    for gate in card.gates:
        missing = "<br>".join(_cell(item) for item in gate.missing) or "-"
        lines.append(
            f"| {TITLES[gate.gate]} | {gate.score}/{MAX_SCORE} | {gate.minimum} | "
            f"{_status(gate)} | {missing} |"
        )
    lines.append("")
    lines.extend(f"> {note}" for note in card.notes)
    if card.notes:
        lines.append("")
    lines.append(f"**{_verdict(card)}**")
    return "\n".join(lines) + "\n"


def render_json(card: Scorecard) -> bytes:
    """Every gate with every check and its result, for tools and dashboards."""
    document = {
        "ready": card.ready,
        "app_env": card.app_env,
        "tests_report": card.tests_report,
        "notes": list(card.notes),
        "gates": [
            {
                "gate": gate.gate.value,
                "title": TITLES[gate.gate],
                "score": gate.score,
                "minimum": gate.minimum,
                "passed": gate.passed,
                "tests_failed": gate.broken,
                "checks": [
                    {"description": c.description, "weight": c.weight, "result": c.result.value}
                    for c in gate.checks
                ],
            }
            for gate in card.gates
        ],
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
