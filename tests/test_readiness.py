"""The readiness scorecard of the defaults and of the all-off variant.

Each variant is rendered and installed once. Its gate-marker and readiness tests run
with the gate report on, which shows the plugin at work in a real project. Then
`readiness` scores the project from a fixture report: every test the variant collects,
counted as passed. That those tests do pass is what `test_generated.py` proves by
running every variant's whole suite (ten minutes for the defaults); here the question
is what the scorecard makes of each variant's settings, files and capabilities.

The honest outcome: the defaults pass every minimum; the all-off variant is not ready,
with authentication, observability, deployment, monitoring and cost control below their
minimums.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.harness import ALL_OFF, render, run_step

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

PACKAGE = "launchgate_service"
# Delivery off too: the scorecard scores the CI workflow and the container.
NOTHING: Answers = {**ALL_OFF, "ci": "none", "container": False}
VARIANTS: dict[str, Answers] = {"defaults": {}, "all_off": NOTHING}
GATES = (
    "security",
    "auth",
    "data_validation",
    "error_handling",
    "testing",
    "observability",
    "performance",
    "deployment",
    "monitoring",
    "cost_control",
)
# What the all-off variant lacks: each of these gates must score lower than the defaults.
SWITCHED_OFF = {
    "observability",
    "security",
    "auth",
    "error_handling",
    "testing",
    "monitoring",
    "cost_control",
    "deployment",
}
NOT_READY_EXIT = 1


@pytest.fixture(scope="module")
def projects(
    template: Path, tmp_path_factory: pytest.TempPathFactory, project_env: dict[str, str]
) -> dict[str, Path]:
    rendered = {}
    for name, answers in VARIANTS.items():
        project = render(template, tmp_path_factory.mktemp(name), answers)
        run_step(
            ["make", "install", f"UV={project_env['UV']}"],
            project,
            label="make install",
            env=project_env,
        )
        rendered[name] = project
    return rendered


def uv_run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env["UV"], "run", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def collected(projects: dict[str, Path], project_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each variant's gate report of a collection of its whole suite (nothing run)."""
    reports = {}
    for name, project in projects.items():
        run_step(
            [
                project_env["UV"],
                "run",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                "--no-cov",
                "--gate-report=reports/collected.json",
            ],
            project,
            label="pytest --collect-only",
            env=project_env,
        )
        reports[name] = load(project / "reports" / "collected.json")
    return reports


@pytest.fixture(scope="module")
def scorecards(
    projects: dict[str, Path], collected: dict[str, dict[str, Any]], project_env: dict[str, str]
) -> dict[str, tuple[int, dict[str, Any]]]:
    """Each variant's exit status and readiness.json, every collected test counted as passed."""
    cards = {}
    for name, project in projects.items():
        passing = {
            **collected[name],
            "complete": True,
            "exit_status": 0,
            "gates": {
                gate: {
                    "collected": counts["collected"],
                    "passed": counts["collected"],
                    "failed": 0,
                    "skipped": 0,
                    "errors": 0,
                }
                for gate, counts in collected[name]["gates"].items()
            },
        }
        (project / "reports" / "gate-tests.json").write_text(json.dumps(passing), encoding="utf-8")
        result = uv_run(project, project_env, PACKAGE, "readiness")
        assert "Readiness scorecard (APP_ENV=development" in result.stdout, result.stderr
        cards[name] = (result.returncode, load(project / "reports" / "readiness.json"))
    return cards


def scores(card: dict[str, Any]) -> dict[str, int]:
    return {gate["gate"]: gate["score"] for gate in card["gates"]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_gate_plugin_reports_the_tests_a_run_ran(
    variant: str, projects: dict[str, Path], project_env: dict[str, str]
) -> None:
    project = projects[variant]
    run_step(
        [
            project_env["UV"],
            "run",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-cov",
            "--gate-report=reports/partial.json",
            "tests/unit/test_gate_markers.py",
            "tests/unit/test_readiness.py",
        ],
        project,
        label="pytest (gate markers and readiness)",
        env=project_env,
    )

    report = load(project / "reports" / "partial.json")
    assert report["complete"] is False  # two files named: not the whole suite
    testing = report["gates"]["testing"]
    assert testing["passed"] == testing["collected"] > 20
    assert (testing["failed"], testing["errors"], testing["skipped"]) == (0, 0, 0)
    assert all(report["gates"][gate]["passed"] == 0 for gate in GATES if gate != "testing")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_collected_test_names_a_known_gate(
    variant: str, collected: dict[str, dict[str, Any]]
) -> None:
    report = collected[variant]

    assert report["unmarked"] == 0
    assert report["collected"] > 100
    assert set(report["gates"]) == set(GATES)


def test_the_defaults_pass_every_minimum(scorecards: dict[str, tuple[int, dict[str, Any]]]) -> None:
    code, card = scorecards["defaults"]

    assert (code, card["ready"]) == (0, True)
    assert all(gate["score"] >= gate["minimum"] for gate in card["gates"])
    # deploy_target=none: no infrastructure and no autoscaling in the repository.
    assert {gate: score for gate, score in scores(card).items() if score < 5} == {
        "deployment": 4,
        "performance": 4,
    }


def test_all_off_is_not_ready_and_names_the_gates_below(
    scorecards: dict[str, tuple[int, dict[str, Any]]],
) -> None:
    code, card = scorecards["all_off"]

    assert (code, card["ready"]) == (NOT_READY_EXIT, False)
    below = {gate["gate"]: gate["score"] for gate in card["gates"] if not gate["passed"]}
    assert below == {
        "auth": 2,
        "observability": 2,
        "deployment": 3,
        "monitoring": 2,
        "cost_control": 0,
    }


def test_switching_gates_off_lowers_their_scores_and_raises_none(
    scorecards: dict[str, tuple[int, dict[str, Any]]],
) -> None:
    on, off = scores(scorecards["defaults"][1]), scores(scorecards["all_off"][1])

    assert all(off[gate] <= on[gate] for gate in GATES)
    assert {gate for gate in GATES if off[gate] < on[gate]} == SWITCHED_OFF


def test_without_a_test_report_the_defaults_are_not_ready(
    projects: dict[str, Path], project_env: dict[str, str]
) -> None:
    result = uv_run(
        projects["defaults"],
        project_env,
        PACKAGE,
        "readiness",
        "--tests-report",
        "reports/missing.json",
        "--json",
        "reports/no-tests.json",
    )

    assert result.returncode == NOT_READY_EXIT, result.stdout + result.stderr
    assert "Note: no test report at reports/missing.json" in result.stdout
    card = load(projects["defaults"] / "reports" / "no-tests.json")
    assert all(gate["score"] <= 3 for gate in card["gates"])
