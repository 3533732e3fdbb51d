"""Each covering variant passes its own `make check` and `make test`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.harness import render, run_step

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

pytestmark = pytest.mark.generated

# Gates whose generated tests need a real Redis.
GUARDRAILS = ("rate_limit", "cost_cap", "idempotency")
# pytest's final line, e.g. "==== 84 passed in 12.3s ====".
SUMMARY = re.compile(r"^=+ (.+ in [\d.]+s.*) =+$", re.MULTILINE)


def _make(project: Path, target: str, env: dict[str, str]) -> str:
    return run_step(["make", target, f"UV={env['UV']}"], project, label=f"make {target}", env=env)


def test_generated_project_passes_its_own_checks_and_tests(
    answers: Answers,
    template: Path,
    tmp_path: Path,
    project_env: dict[str, str],
    python_versions: set[str],
    service_problems: dict[str, str],
) -> None:
    needed = {
        "postgresql": answers.get("database", "none") != "none",
        "redis": any(answers.get(gate, False) for gate in GUARDRAILS),
    }
    for service, problem in service_problems.items():
        if needed[service]:
            pytest.fail(problem, pytrace=False)
    version = str(answers.get("python_version", "3.12"))
    if version not in python_versions:
        pytest.fail(
            f"Python {version} is not available to uv; install it (`uv python install {version}`)"
        )
    project = render(template, tmp_path / "service", answers)

    _make(project, "install", project_env)
    _make(project, "check", project_env)
    output = _make(project, "test", project_env)

    summary = SUMMARY.findall(output)
    assert summary, f"no pytest summary line in the output:\n{output[-2000:]}"
    assert " passed" in summary[-1]
    assert "warning" not in summary[-1], summary[-1]
    assert "skipped" not in summary[-1], (
        "generated tests must not skip on a machine with their services"
    )


def test_a_failing_generated_test_fails_the_template_suite(
    template: Path, tmp_path: Path, project_env: dict[str, str]
) -> None:
    project = render(template, tmp_path / "service", {})
    (project / "tests" / "unit" / "test_broken.py").write_text(
        "def test_broken() -> None:\n    assert 1 + 1 == 3  # noqa: PLR2004\n", encoding="utf-8"
    )
    _make(project, "install", project_env)

    with pytest.raises(pytest.fail.Exception, match=r"make test.*exited 2"):
        _make(project, "test", project_env)
