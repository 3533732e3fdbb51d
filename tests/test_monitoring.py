"""The monitoring a generated service ships: alert rules, their tests, dashboard, runbooks.

Each case is rendered once (without the post-generation task: nothing here needs
it). The rules must pass `promtool check rules` and their own `promtool test rules`,
the dashboard must be JSON, every alert must have its runbook and every runbook its
alert, and what belongs to a gate must appear exactly when the gate is on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.harness import ALL_OFF, leftover_jinja, render

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

# Every other gate off, Prometheus on: the alerts and panels no gate owns.
PROMETHEUS_ONLY: Answers = {**ALL_OFF, "observability": ["prometheus"]}
CASES: dict[str, Answers] = {
    "defaults": {},
    "prometheus_only": PROMETHEUS_ONLY,
    # One guardrail without the others, and the gateway without a store.
    "idempotency_only": {**PROMETHEUS_ONLY, "idempotency": True},
    "llm_without_guardrails": {
        **PROMETHEUS_ONLY,
        "llm": True,
        "llm_providers": ["anthropic"],
    },
}
CORE_ALERTS = {"ServiceDown", "HighErrorRate", "HighLatency", "ReadinessFailing"}
# Alerts, and dashboard panel titles, that belong to one gate.
GATED_ALERTS: dict[str, set[str]] = {
    "guardrails": {"GuardrailStoreFailing"},
    "rate_limit": {"RateLimitRefusalsHigh"},
    "cost_cap": {"BudgetRefusalsHigh", "ServiceBudgetNearlySpent", "ServiceBudgetExhausted"},
    "llm": {"LlmUpstreamTimeoutsHigh", "LlmCircuitBreakerOpen", "LlmCostPerChatOutOfBand"},
}
GATED_PANELS: dict[str, set[str]] = {
    "guardrails": {"Guardrail decisions by gate and outcome", "Guardrail store failures by gate"},
    "rate_limit": {"Rate-limit refusals"},
    "cost_cap": {"Service budget used", "Budget refusals and warnings by budget"},
    "llm": {"Circuit breaker state", "Spend per hour", "Cost per successful chat"},
}
PROMTOOL_MISSING = (
    "promtool is required to check the generated alert rules. Install Prometheus's "
    "tools: `apt-get install prometheus` (Debian, Ubuntu; .ci/run does it as root), "
    "`brew install prometheus`, or a release from https://prometheus.io/download/ "
    "with promtool on PATH."
)


def gates(answers: Answers) -> dict[str, bool]:
    on = {name: bool(answers.get(name, True)) for name in ("rate_limit", "cost_cap", "llm")}
    on["idempotency"] = bool(answers.get("idempotency", True))
    on["guardrails"] = on["rate_limit"] or on["cost_cap"] or on["idempotency"]
    return on


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


@pytest.fixture(scope="module")
def rendered(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        name: render(template, tmp_path_factory.mktemp(name), answers, skip_tasks=True)
        for name, answers in CASES.items()
    }


@pytest.fixture(scope="module")
def promtool() -> str:
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail(PROMTOOL_MISSING)
    return executable


def alerts(project: Path) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((project / "ops/prometheus/alerts.yml").read_text("utf-8"))
    return {
        rule["alert"]: rule
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


@pytest.mark.parametrize("case", CASES)
def test_promtool_checks_the_rules_and_runs_their_tests(
    case: str, rendered: dict[str, Path], promtool: str
) -> None:
    rules = rendered[case] / "ops" / "prometheus"
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run(
            [promtool, *command],
            cwd=rules,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, (
            f"promtool {' '.join(command)}:\n{result.stdout}{result.stderr}"
        )


@pytest.mark.parametrize("case", CASES)
def test_alerts_and_runbooks_correspond(case: str, rendered: dict[str, Path]) -> None:
    project = rendered[case]
    found = alerts(project)
    runbooks = {path.name for path in (project / "docs" / "runbooks").glob("*.md")}

    assert runbooks == {f"{kebab(name)}.md" for name in found}
    for name, rule in found.items():
        assert rule["labels"]["severity"] in {"sev1", "sev2", "sev3"}, name
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{kebab(name)}.md"
        assert {"summary", "description"} <= rule["annotations"].keys(), name
    assert leftover_jinja(project / "ops") == []
    assert leftover_jinja(project / "docs") == []


@pytest.mark.parametrize("case", CASES)
def test_what_belongs_to_a_gate_appears_exactly_with_it(
    case: str, rendered: dict[str, Path]
) -> None:
    project = rendered[case]
    on = gates(CASES[case])
    names = set(alerts(project))
    dashboard = json.loads((project / "ops/grafana/dashboard.json").read_text("utf-8"))
    titles = {panel["title"] for panel in dashboard["panels"]}
    slo = (project / "docs" / "slo.md").read_text("utf-8")

    assert names >= CORE_ALERTS
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for gate, gated in GATED_ALERTS.items():
        assert (gated <= names) is on[gate], f"{case}: alerts of {gate}"
        assert names.isdisjoint(gated) is not on[gate], f"{case}: alerts of {gate}"
        for alert in gated:
            assert (alert in slo) is on[gate], f"{case}: docs/slo.md and {alert}"
    for gate, panels in GATED_PANELS.items():
        assert (panels <= titles) is on[gate], f"{case}: panels of {gate}"
        assert titles.isdisjoint(panels) is not on[gate], f"{case}: panels of {gate}"
    # The chat's route is outside the latency objective only where there is a chat.
    text = (project / "ops/prometheus/alerts.yml").read_text("utf-8")
    assert ("/v1/chat" in text) is on["llm"]


def test_the_readme_points_at_the_monitoring(rendered: dict[str, Path]) -> None:
    for project in rendered.values():
        readme = (project / "README.md").read_text("utf-8")
        for path in (
            "ops/prometheus/alerts.yml",
            "ops/grafana/dashboard.json",
            "docs/runbooks/",
            "docs/slo.md",
        ):
            assert f"`{path}`" in readme, path


def test_without_prometheus_there_is_nothing_to_alert_on(template: Path, tmp_path: Path) -> None:
    answers: Answers = {"observability": ["sentry", "opentelemetry"]}
    project = render(template, tmp_path / "service", answers, skip_tasks=True)
    readme = (project / "README.md").read_text("utf-8")
    slo = (project / "docs" / "slo.md").read_text("utf-8")

    assert not (project / "ops").exists()
    assert not (project / "docs" / "runbooks").exists()
    assert not (project / "tests" / "unit" / "test_ops_monitoring.py").exists()
    assert "`ops/prometheus/alerts.yml`" not in readme
    assert "`docs/slo.md`" in readme
    # The objectives stand, measured by the counters the service keeps in-process.
    assert "p95 below 2.5 s" in slo
    assert "`http_requests_total`" in slo
    assert "ops/prometheus" not in slo
    assert "runbooks" not in slo
    assert leftover_jinja(project / "docs") == []
