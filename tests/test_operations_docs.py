"""The operations documents every generated service gets, checked for each deploy target.

rollback.md must hold the exact rollback command of the chosen target with the names the
rendered infrastructure uses; scaling.md must describe exactly the shared state of the
gates that are on; CODEOWNERS must give `*` an owner GitHub accepts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.harness import ALL_OFF, JINJA_LEFT, render

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

SLUG = "launchgate-service"
PACKAGE = "launchgate_service"
DOCUMENTS = ("docs/rollback.md", "docs/scaling.md", "docs/premortem.md", "docs/incidents.md")
# What each deploy target's rollback.md must contain, exactly.
ROLLBACK: dict[str, tuple[str, ...]] = {
    "aws_ecs_fargate": (
        (
            f"aws ecs update-service --cluster {SLUG}-production --service {SLUG}-production "
            f"--task-definition {SLUG}-production:<previous revision>"
        ),
        f"aws ecs list-task-definitions --family-prefix {SLUG}-production --sort DESC",
    ),
    "gcp_cloud_run": (
        f"gcloud run services update-traffic {SLUG} --region",
        "--to-revisions <previous revision>=100",
        f"gcloud run revisions list --service {SLUG} --region",
    ),
    "kubernetes": (
        f"kubectl rollout undo deployment/{SLUG} -n {SLUG}-production",
        f"kubectl rollout history deployment/{SLUG} -n {SLUG}-production",
    ),
    "none": ("docker run", f"/{SLUG}:<previous sha>"),
}
OTHER_TARGETS_COMMANDS = ("aws ecs update-service", "gcloud run services", "kubectl rollout")
CASES = [
    *(pytest.param({"deploy_target": t, "container": True}, id=t) for t in ROLLBACK),
    pytest.param({"container": False}, id="container=False"),
]
# A GitHub CODEOWNERS owner: @user, @org/team or an e-mail address.
OWNER = re.compile(r"^(@[A-Za-z0-9-]+(/[A-Za-z0-9_.-]+)?|[^@\s]+@[^@\s]+\.[A-Za-z]{2,})$")


@pytest.fixture(scope="module")
def rendered(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Answers, Path]]:
    """Each case rendered once; the all-off variant under the key "all_off"."""
    projects = {}
    for case in CASES:
        answers: Answers = case.values[0]  # type: ignore[assignment]
        name = str(case.id)
        projects[name] = (answers, render(template, tmp_path_factory.mktemp(name), answers))
    all_off = {**ALL_OFF, "container": False}
    projects["all_off"] = (all_off, render(template, tmp_path_factory.mktemp("off"), all_off))
    return projects


def read(project: Path, name: str) -> str:
    return (project / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("case", [*(str(c.id) for c in CASES), "all_off"])
def test_documents_exist_without_jinja(
    case: str, rendered: dict[str, tuple[Answers, Path]]
) -> None:
    _, project = rendered[case]
    for name in (*DOCUMENTS, "CODEOWNERS"):
        text = read(project, name)
        assert text.strip(), f"{name} is empty"
        assert not JINJA_LEFT.search(text), f"{name} holds Jinja"
        assert "TODO" not in text, f"{name} holds a TODO"
    readme = read(project, "README.md")
    operations = readme.index("## Operations")
    assert operations < readme.index("## Layout")
    for name in DOCUMENTS:
        assert f"`{name}`" in readme[operations:], f"the README does not link {name}"


@pytest.mark.parametrize("case", [str(c.id) for c in CASES])
def test_rollback_names_the_targets_command(
    case: str, rendered: dict[str, tuple[Answers, Path]]
) -> None:
    answers, project = rendered[case]
    target = str(answers.get("deploy_target", "none"))
    text = read(project, "docs/rollback.md")
    if answers.get("container") is False:
        assert "git checkout <previous sha>" in text
        assert "docker" not in text
    else:
        for expected in ROLLBACK[target]:
            assert expected in text, f"rollback.md of {target} lacks {expected!r}"
    for command in OTHER_TARGETS_COMMANDS:
        if not any(command in expected for expected in ROLLBACK[target]):
            assert command not in text, f"rollback.md of {target} names {command!r}"
    # The default answers have a database: the downgrade and its warning are there.
    assert f"{PACKAGE} db downgrade <revision>" in text
    assert "expand, then contract" in text
    assert "/readyz" in text
    assert "## Roll forward" in text


def test_infrastructure_uses_the_documented_names(
    rendered: dict[str, tuple[Answers, Path]],
) -> None:
    """The names rollback.md spells out are the ones the rendered infrastructure creates."""
    _, aws = rendered["aws_ecs_fargate"]
    main = read(aws, "infra/aws/environments/production/main.tf")
    assert f'name        = "{SLUG}-production"' in main
    outputs = read(aws, "infra/aws/environments/production/outputs.tf")
    for output in ("cluster_name", "service_name", "task_definition_family"):
        assert f'output "{output}"' in outputs
    _, gcp = rendered["gcp_cloud_run"]
    assert f'name        = "{SLUG}"' in read(gcp, "infra/gcp/environments/production/main.tf")
    _, kubernetes = rendered["kubernetes"]
    overlay = read(kubernetes, "deploy/kubernetes/overlays/production/kustomization.yaml")
    assert f"namespace: {SLUG}-production" in overlay


def test_scaling_mentions_exactly_the_gates_that_are_on(
    rendered: dict[str, tuple[Answers, Path]],
) -> None:
    _, full = rendered["aws_ecs_fargate"]
    text = read(full, "docs/scaling.md")
    for expected in (
        "SERVER__WORKERS",
        "## PostgreSQL",
        "DATABASE__POOL_SIZE",
        "DATABASE__MAX_OVERFLOW",
        "max_connections",
        "## Redis",
        "STORE__MAX_CONNECTIONS",
        "RATE_LIMIT__ON_STORE_FAILURE",
        "COST_CAP__ON_STORE_FAILURE",
        "IDEMPOTENCY__ON_STORE_FAILURE",
        "## LLM providers",
        "LLM__MAX_CONNECTIONS",
        "LLM__TOKENS_PER_MINUTE",
        "COST_CAP__SERVICE_DAILY_LIMIT",
        "max_capacity",
    ):
        assert expected in text, f"scaling.md lacks {expected!r}"

    _, off = rendered["all_off"]
    text = read(off, "docs/scaling.md")
    assert "SERVER__WORKERS" in text
    for absent in ("Redis", "PostgreSQL", "DATABASE__", "STORE__", "LLM", "COST_CAP__"):
        assert absent not in text, f"scaling.md of the all-off variant mentions {absent!r}"
    rollback = read(off, "docs/rollback.md")
    for absent in ("db downgrade", "Redis"):
        assert absent not in rollback, f"rollback.md of the all-off variant mentions {absent!r}"


@pytest.mark.parametrize("case", [*(str(c.id) for c in CASES), "all_off"])
def test_codeowners_has_an_owner_for_everything(
    case: str, rendered: dict[str, tuple[Answers, Path]]
) -> None:
    answers, project = rendered[case]
    rules = [
        line.split()
        for line in read(project, "CODEOWNERS").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert rules[0][0] == "*", "the first rule must cover every file"
    for pattern, *owners in rules:
        assert owners, f"{pattern} has no owner"
        assert all(OWNER.match(owner) for owner in owners), f"{pattern}: {owners}"
        assert (project / pattern.strip("/")).exists() or pattern == "*", (
            f"CODEOWNERS names {pattern}, which this variant does not have"
        )
    patterns = {rule[0] for rule in rules}
    if answers.get("deploy_target") in ("aws_ecs_fargate", "gcp_cloud_run"):
        assert "/infra/" in patterns
    if answers.get("deploy_target") == "kubernetes":
        assert "/deploy/" in patterns
    if case == "all_off":
        assert not any(
            part in pattern
            for pattern in patterns
            for part in ("migrations", "guardrails", "llm", "auth")
        )
