"""The GitHub Actions files that ci=github_actions renders into .github/.

Each distinct combination of the answers the workflows depend on is rendered
once. Its workflows must pass GitHub's workflow schema and zizmor (no finding
with the default persona), its Dependabot file the Dependabot schema, and the
properties below must hold: the ones neither linter checks (every action
pinned to a commit with its version beside it, a timeout on every job, no
credential left behind by a checkout), and the ones that tie the workflows to
the rest of the project (the Makefile's commands, the Terraform outputs and
folders the deploy workflow reads).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.conftest import VARIANTS
from tests.delivery import distinct, observability, projection_id, run_tool, tool
from tests.harness import copy_template, leftover_jinja, render

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.variants import Answers

KEYS = ("ci", "container", "deploy_target", "database")
TARGETS = ("aws_ecs_fargate", "gcp_cloud_run", "kubernetes", "none")
# Every deploy target with and without a database, and no container at all,
# whatever the covering set happens to hold (database=none needs auth other
# than api_key, which keeps its keys in the database).
EXPLICIT: list[Answers] = [
    {"ci": "github_actions", "container": True, "deploy_target": target, **data}
    for target in TARGETS
    for data in ({"database": "postgresql"}, {"database": "none", "auth": "jwt"})
] + [{"ci": "github_actions", "container": False, "database": "postgresql"}]
# The alert rules, and the CI job that tests them, come with prometheus.
WITHOUT_PROMETHEUS: Answers = {
    "ci": "github_actions",
    "container": True,
    "database": "postgresql",
    "observability": ["sentry", "opentelemetry"],
}
CASES = [
    answers
    for answers in distinct([*VARIANTS, *EXPLICIT], KEYS)
    if answers.get("ci") == "github_actions"
] + [WITHOUT_PROMETHEUS]
NO_CI = next(answers for answers in VARIANTS if answers.get("ci") == "none")
TERRAFORM_CASES = [
    a for a in CASES if a.get("deploy_target") in {"aws_ecs_fargate", "gcp_cloud_run"}
]
KUBERNETES_CASES = [a for a in CASES if a.get("deploy_target") == "kubernetes"]
ENVIRONMENTS = ("staging", "production")
CLOUD = {"aws_ecs_fargate": "aws", "gcp_cloud_run": "gcp"}

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<comment>\s+#.*)?$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+(\.\d+)*$")
ZIZMOR_IGNORE = re.compile(r"zizmor:\s*ignore\[[\w,\s-]+\](?P<reason>.*)$")
OIDC_ACTIONS = ("aws-actions/configure-aws-credentials@", "google-github-actions/auth@")
TERRAFORM_OUTPUT = re.compile(r"terraform output (?:-raw|-json) (?P<name>\w+)")
TERRAFORM_TARGET = re.compile(r"-target=module\.service\.(?P<type>\w+)\.(?P<name>\w+)")


@pytest.fixture(
    scope="module", params=CASES, ids=[projection_id(a, (*KEYS, "observability")) for a in CASES]
)
def case(request: pytest.FixtureRequest) -> Answers:
    answers: Answers = request.param
    return answers


@pytest.fixture(scope="module")
def project(case: Answers, template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The workflows depend on no file the post-generation task writes.
    return render(template, tmp_path_factory.mktemp("workflows") / "service", case, skip_tasks=True)


def workflow_files(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name} is not a mapping"
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping (YAML 1.1 reads the bare key `on` as True)."""
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict), "`on:` must be a mapping of events"
    return value


def jobs(project: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in workflow_files(project):
        for name, job in load(path)["jobs"].items():
            yield path.name, name, job


def steps(project: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for workflow, name, job in jobs(project):
        for step in job.get("steps", []):
            yield workflow, name, step


# --- linters --------------------------------------------------------------------


def test_renders_without_leftover_jinja(project: Path) -> None:
    assert [line for line in leftover_jinja(project) if line.startswith(".github")] == []


def test_workflows_and_dependabot_match_their_schemas(project: Path) -> None:
    schema = tool("check-jsonschema")
    files = [str(path) for path in workflow_files(project)]
    run_tool([schema, "--builtin-schema", "vendor.github-workflows", *files], project)
    dependabot = str(project / ".github" / "dependabot.yml")
    run_tool([schema, "--builtin-schema", "vendor.dependabot", dependabot], project)


def test_zizmor_finds_nothing(project: Path) -> None:
    # --strict-collection: a file zizmor cannot parse fails instead of being skipped.
    result = run_tool(
        [tool("zizmor"), "--offline", "--no-progress", "--strict-collection", str(project)],
        project,
    )
    completed = [line for line in result.stderr.splitlines() if "completed" in line]
    for path in [*workflow_files(project), project / ".github" / "dependabot.yml"]:
        relative = str(path.relative_to(project))
        assert any(line.endswith(relative) for line in completed), f"zizmor skipped {relative}"


def test_every_zizmor_ignore_gives_its_reason(project: Path) -> None:
    for path in [*workflow_files(project), project / ".github" / "dependabot.yml"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            ignore = ZIZMOR_IGNORE.search(line)
            if ignore:
                reason = ignore.group("reason").strip(" :-—")
                assert reason, f"{path.name}:{number}: a zizmor ignore without a reason"


# --- properties the linters do not check -----------------------------------------


def test_every_action_is_pinned_to_a_commit_with_its_version(project: Path) -> None:
    seen = 0
    for path in workflow_files(project):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            uses = USES_LINE.match(line)
            if not uses:
                continue
            seen += 1
            ref = uses.group("ref")
            if ref.startswith("$/"):
                continue  # this repository, at the commit that is running
            assert SHA_PIN.match(ref), f"{path.name}:{number}: {ref} is not pinned to a commit"
            comment = uses.group("comment") or ""
            assert VERSION_COMMENT.match(comment), (
                f"{path.name}:{number}: {ref} needs its release beside it (`# v1.2.3`)"
            )
    assert seen


def test_one_release_per_action(project: Path) -> None:
    """Two different commits of one action would be two versions to review and update."""
    pins: dict[str, set[str]] = {}
    for _, _, step in steps(project):
        if "uses" in step and "@" in step["uses"]:
            action, _, sha = step["uses"].partition("@")
            pins.setdefault(action, set()).add(sha)
    assert {action: shas for action, shas in pins.items() if len(shas) > 1} == {}


def test_nothing_is_granted_at_the_top_and_every_job_says_what_it_needs(project: Path) -> None:
    for path in workflow_files(project):
        workflow = load(path)
        assert workflow.get("permissions") == {}, f"{path.name}: top-level permissions: {{}}"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} must list its permissions"


def test_every_job_has_a_timeout(project: Path) -> None:
    for workflow, name, job in jobs(project):
        if "uses" in job:
            continue  # a call to a reusable workflow: its own jobs carry the timeout
        minutes = job.get("timeout-minutes")
        assert isinstance(minutes, int), f"{workflow}: job {name} has no timeout-minutes"
        assert 0 < minutes <= 90, f"{workflow}: job {name} timeout {minutes}"


def test_no_checkout_leaves_its_credential_behind(project: Path) -> None:
    checkouts = 0
    for workflow, name, step in steps(project):
        if step.get("uses", "").startswith("actions/checkout@"):
            checkouts += 1
            persist = step.get("with", {}).get("persist-credentials")
            assert persist is False, f"{workflow}: job {name} checks out with credentials"
    assert checkouts


def test_expressions_never_reach_a_shell_script(project: Path) -> None:
    """Values reach `run:` through `env:`, so no expression can inject shell code."""
    for workflow, name, step in steps(project):
        script = step.get("run", "")
        assert "${{" not in script, f"{workflow}: job {name}, step {step.get('name')!r}"


def test_only_cloud_jobs_may_request_an_oidc_token(project: Path) -> None:
    called = {path.name: list(load(path)["jobs"].values()) for path in workflow_files(project)}
    for workflow, name, job in jobs(project):
        if (job.get("permissions") or {}).get("id-token") != "write":
            continue
        if "uses" in job:
            target = job["uses"].removeprefix("$/.github/workflows/")
            inner = called[target]
        else:
            inner = [job]
        uses = [step.get("uses", "") for each in inner for step in each.get("steps", [])]
        assert any(ref.startswith(OIDC_ACTIONS) for ref in uses), (
            f"{workflow}: job {name} requests an OIDC token it never uses"
        )


def test_uv_is_cached_by_its_lock_file(project: Path) -> None:
    for workflow, name, step in steps(project):
        if step.get("uses", "").startswith("astral-sh/setup-uv@"):
            options = step.get("with", {})
            assert options.get("enable-cache") is True, f"{workflow}: job {name}"
            assert options.get("cache-dependency-glob") == "uv.lock", f"{workflow}: job {name}"


def test_runs_are_grouped_and_pull_requests_cancel_stale_runs(project: Path) -> None:
    for path in workflow_files(project):
        workflow = load(path)
        if "workflow_call" in triggers(workflow):
            # Called by deploy.yml: its job queues per environment, never cancels.
            for job in workflow["jobs"].values():
                assert job["concurrency"]["cancel-in-progress"] is False
            continue
        concurrency = workflow.get("concurrency")
        assert concurrency, f"{path.name} has no concurrency group"
        if "pull_request" in triggers(workflow):
            assert "pull_request" in str(concurrency["cancel-in-progress"])


def test_scanner_image_matches_the_pinned_wrapper(project: Path) -> None:
    text = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    pinned = set(re.findall(r"trufflesecurity/trufflehog@[0-9a-f]{40} # v([\d.]+)", text))
    selected = set(re.findall(r'version: "([\d.]+)"', text))
    assert pinned
    assert pinned == selected


# --- the files each answer renders -----------------------------------------------


def test_workflow_files_follow_the_answers(case: Answers, project: Path) -> None:
    names = {path.name for path in workflow_files(project)}
    expected = {"ci.yml", "template-update.yml"}
    if case.get("deploy_target", "none") not in {None, "none"}:
        expected |= {"deploy.yml", "deploy-environment.yml"}
    assert names == expected

    ci = load(project / ".github" / "workflows" / "ci.yml")
    assert ("image" in ci["jobs"]) is bool(case.get("container", True))


def test_ci_checks_and_tests_the_alert_rules(case: Answers, project: Path) -> None:
    ci = load(project / ".github" / "workflows" / "ci.yml")
    # The required check waits for every other job.
    assert set(ci["jobs"]["passed"]["needs"]) == set(ci["jobs"]) - {"passed"}
    if "prometheus" not in observability(case):
        assert "alerts" not in ci["jobs"]
        assert not (project / "ops").exists()
        return
    scripts = [step.get("run", "") for step in ci["jobs"]["alerts"]["steps"]]

    assert any("apt-get install" in script and "prometheus" in script for script in scripts)
    assert "promtool check rules ops/prometheus/alerts.yml" in scripts
    assert "promtool test rules ops/prometheus/alerts.test.yml" in scripts
    for name in ("alerts.yml", "alerts.test.yml"):
        assert (project / "ops" / "prometheus" / name).is_file()


def test_dependabot_updates_what_the_project_has(case: Answers, project: Path) -> None:
    config = load(project / ".github" / "dependabot.yml")
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    expected = {"github-actions", "uv"}
    if case.get("container", True):
        expected.add("docker")
    cloud = CLOUD.get(case.get("deploy_target") or "none")
    if cloud:
        expected.add("terraform")
        (terraform,) = [u for u in config["updates"] if u["package-ecosystem"] == "terraform"]
        for directory in terraform["directories"]:
            assert (project / directory.lstrip("/")).is_dir(), directory
    assert ecosystems == expected
    for update in config["updates"]:
        assert update["schedule"]["interval"] == "weekly"
        assert update["groups"], f"{update['package-ecosystem']} updates are not grouped"


def test_ci_runs_the_makefile_commands(project: Path) -> None:
    """CI checks exactly what `make check` and `make test` check on a laptop."""
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^check:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "the Makefile has no check target"
    commands = [line.strip().replace("$(UV)", "uv") for line in recipe.group(1).splitlines()]
    assert re.search(r"^test:", makefile, re.MULTILINE), "the Makefile has no test target"

    # CI may only add how problems are reported (annotations on the pull request).
    scripts = [
        " ".join(word for word in step.get("run", "").split() if not word.startswith("--output-"))
        for _, _, step in steps(project)
    ]
    for command in commands:
        assert command in scripts, f"CI never runs `{command}`"
    assert "make test" in scripts


@pytest.mark.parametrize(
    "target_case", TERRAFORM_CASES, ids=[projection_id(a, KEYS) for a in TERRAFORM_CASES]
)
def test_deploy_workflow_reads_what_the_infrastructure_provides(
    target_case: Answers, template: Path, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "service", target_case, skip_tasks=True)
    cloud = CLOUD[target_case["deploy_target"]]
    text = "\n".join(
        (project / ".github" / "workflows" / name).read_text(encoding="utf-8")
        for name in ("deploy.yml", "deploy-environment.yml")
    )
    assert f"working-directory: infra/{cloud}/environments/" in text
    root = project / "infra" / cloud
    module = "\n".join(
        path.read_text(encoding="utf-8") for path in root.glob("modules/service/*.tf")
    )
    for environment in ENVIRONMENTS:
        folder = root / "environments" / environment
        outputs = "\n".join(path.read_text(encoding="utf-8") for path in folder.glob("*.tf"))
        for name in set(TERRAFORM_OUTPUT.findall(text)):
            assert f'output "{name}"' in outputs, f"{environment} has no output {name}"
        assert 'variable "image"' in outputs, f"{environment} takes no image variable"
    targets = list(TERRAFORM_TARGET.finditer(text))
    assert targets, "the first deployment creates the image registry on its own"
    for target in targets:
        declaration = f'resource "{target.group("type")}" "{target.group("name")}"'
        assert declaration in module, f"the module declares no {declaration}"


@pytest.mark.parametrize(
    "target_case", KUBERNETES_CASES, ids=[projection_id(a, KEYS) for a in KUBERNETES_CASES]
)
def test_kubernetes_deploy_renders_the_overlays_with_the_built_image(
    target_case: Answers, template: Path, tmp_path: Path
) -> None:
    """Run the workflow's own render step on each overlay, with the template's kubectl."""
    case = target_case
    project = render(template, tmp_path / "service", case, skip_tasks=True)
    workflow = load(project / ".github" / "workflows" / "deploy-environment.yml")
    (deploy,) = workflow["jobs"].values()
    render_step = next(step for step in deploy["steps"] if step.get("id") == "render")
    repository, digest = "ghcr.io/acme/service", "sha256:" + "ab" * 32
    kubectl = Path(tool("kubectl"))

    for environment in ENVIRONMENTS:
        overlays = tmp_path / environment / "deploy" / "kubernetes"
        shutil.copytree(project / "deploy" / "kubernetes", overlays)
        outputs, temp = tmp_path / environment / "outputs", tmp_path / environment / "temp"
        temp.mkdir()
        env = {
            "PATH": f"{kubectl.parent}{os.pathsep}{os.environ['PATH']}",
            "DEPLOYMENT": deploy["env"]["DEPLOYMENT"],
            "REPOSITORY": repository,
            "DIGEST": digest,
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(tmp_path / environment / "summary"),
        }
        subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", render_step["run"]],
            cwd=overlays / "overlays" / environment,
            env=env,
            check=True,
            timeout=120,
        )
        namespace = outputs.read_text(encoding="utf-8").strip().removeprefix("namespace=")
        manifests = [
            doc
            for doc in yaml.safe_load_all((temp / "manifests.yaml").read_text(encoding="utf-8"))
            if doc
        ]
        by_kind = {doc["kind"]: doc for doc in manifests}
        # The namespace the later steps use is the one the manifests go to.
        assert namespace
        assert {doc["metadata"].get("namespace") for doc in manifests} <= {namespace, None}
        assert by_kind["Deployment"]["metadata"]["namespace"] == namespace
        images = [
            container["image"]
            for doc in manifests
            if doc["kind"] in {"Deployment", "Job"}
            for container in doc["spec"]["template"]["spec"]["containers"]
        ]
        assert images
        assert set(images) == {f"{repository}@{digest}"}

        # The migration step applies everything but the server before the rollout.
        server = by_kind["Deployment"]
        assert server["metadata"]["name"] == env["DEPLOYMENT"]
        assert server["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
        ports = {
            port["containerPort"]
            for port in server["spec"]["template"]["spec"]["containers"][0]["ports"]
        }
        assert case.get("http_port", 8000) in ports
        if case.get("database") != "none":
            job = by_kind["Job"]
            assert job["metadata"]["name"] == f"{env['DEPLOYMENT']}-migrate"
            assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
        else:
            assert "Job" not in by_kind


def test_no_ci_renders_no_github_folder(template: Path, tmp_path: Path) -> None:
    project = render(template, tmp_path / "service", NO_CI, skip_tasks=True)
    assert not (project / ".github").exists()


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Team", "-c", "user.email=team@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _run_step(script: str, cwd: Path, env: dict[str, str]) -> None:
    """A `run:` script as the runner runs it (`shell: bash`)."""
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        check=True,
        timeout=600,
    )


def test_template_update_proposes_the_new_release_with_its_conflicts(
    tmp_path: Path, project_env: dict[str, str]
) -> None:
    """Run template-update.yml's own scripts: a template release that conflicts with an edit."""
    first_line = "# Targets a new teammate needs: install, run, check, test."
    source = copy_template(tmp_path / "template")
    _git(source, "init", "--quiet", "--initial-branch=main")
    _git(source, "add", "--all")
    _git(source, "commit", "--quiet", "-m", "v1")
    _git(source, "tag", "v1.0.0")
    project = render(str(source), tmp_path / "service", {}, vcs_ref="v1.0.0")
    makefile = project / "Makefile"
    assert makefile.read_text(encoding="utf-8").startswith(first_line)
    # The team and the next release both change the Makefile's first line.
    makefile.write_text(makefile.read_text().replace(first_line, "# Our targets."))
    _git(project, "commit", "--quiet", "--all", "-m", "our targets")
    template_makefile = source / "template" / "Makefile.jinja"
    template_makefile.write_text(
        template_makefile.read_text().replace(first_line, "# Targets for the whole team.")
    )
    (source / "template" / "CONTRIBUTING.md").write_text("# Contributing\n", encoding="utf-8")
    _git(source, "add", "--all")
    _git(source, "commit", "--quiet", "-m", "v2")
    _git(source, "tag", "v2.0.0")

    workflow = load(project / ".github" / "workflows" / "template-update.yml")
    steps_by_id = {
        (job, step["id"]): step["run"]
        for job, definition in workflow["jobs"].items()
        for step in definition["steps"]
        if "id" in step and "run" in step
    }
    # `uvx --from copier==<version> copier ...` runs the template's own copier here.
    tools = tmp_path / "bin"
    tools.mkdir()
    uvx = tools / "uvx"
    copier = Path(sys.executable).parent / "copier"
    uvx.write_text(
        f'#!/bin/bash\nwhile [ "$1" != copier ]; do shift; done\nshift\nexec "{copier}" "$@"\n'
    )
    uvx.chmod(0o755)
    handover, outputs = tmp_path / "handover", tmp_path / "outputs"
    env = {
        **project_env,
        "PATH": f"{tools}{os.pathsep}{project_env['PATH']}",
        "HOME": str(tmp_path / "home"),
        "COPIER_VERSION": "test",
        "OUT": str(handover),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    (tmp_path / "home").mkdir()
    _run_step(steps_by_id["render", "update"], project, env)

    assert "changed=true" in outputs.read_text(encoding="utf-8")
    assert "v2.0.0" in (handover / "title").read_text(encoding="utf-8")
    assert (handover / "conflicts").read_text(encoding="utf-8").strip() == "true"
    body = (handover / "body.md").read_text(encoding="utf-8")
    assert "`v1.0.0` → `v2.0.0`" in body
    assert "- `Makefile`" in body

    # The second job applies the hand-over to a fresh checkout of the same commit.
    checkout = tmp_path / "checkout"
    _git(tmp_path, "clone", "--quiet", str(project), str(checkout))
    _run_step(
        steps_by_id["pull-request", "update"],
        checkout,
        {**env, "UPDATE": str(handover), "GITHUB_OUTPUT": str(tmp_path / "outputs-2")},
    )
    staged = _git(checkout, "diff", "--cached", "--name-only").split()
    assert {"Makefile", "CONTRIBUTING.md", ".copier-answers.yml"} <= set(staged)
    merged = (checkout / "Makefile").read_text(encoding="utf-8")
    assert "# Our targets." in merged
    assert "# Targets for the whole team." in merged
    assert "<<<<<<< before updating" in merged
    assert "draft=true" in (tmp_path / "outputs-2").read_text(encoding="utf-8")
