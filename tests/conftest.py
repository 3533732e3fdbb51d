"""Fixtures shared by the template's tests."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.harness import REPO_ROOT, copy_template, project_environment, tools_directory
from tests.variants import Question, covering_answer_sets, load_questions, variant_id

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

QUESTIONS: list[Question] = load_questions(REPO_ROOT / "copier.yml")
VARIANTS: list[Answers] = covering_answer_sets(QUESTIONS)
VARIANT_IDS: list[str] = [variant_id(answers, QUESTIONS) for answers in VARIANTS]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as it is on disk, copied to a plain folder."""
    return copy_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tools_directory(tmp_path_factory.mktemp("tools"))


@pytest.fixture(scope="session")
def project_env(tools: Path) -> dict[str, str]:
    return project_environment(tools)


@pytest.fixture(scope="session", autouse=True)
def _git_available() -> None:
    if shutil.which("git") is None:
        pytest.fail("git is required: copier and the post-generation task use it")


@pytest.fixture(scope="session")
def python_versions(project_env: dict[str, str], tools: Path) -> set[str]:
    """Python versions uv can provide here; a variant needing another fails loudly."""
    available = set()
    for question in QUESTIONS:
        if question.name != "python_version":
            continue
        for version in question.choices:
            found = subprocess.run(
                [str(tools / "uv"), "python", "find", str(version)],
                env=project_env,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if found.returncode == 0:
                available.add(str(version))
    return available


def _docker_runs(project_env: dict[str, str]) -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    info = subprocess.run(
        [docker, "info"], env=project_env, capture_output=True, check=False, timeout=60
    )
    return info.returncode == 0


@pytest.fixture(scope="session")
def service_problems(project_env: dict[str, str]) -> dict[str, str]:
    """Why generated integration tests could not reach each real service here.

    Keys are "postgresql" and "redis"; a service missing from the result is
    reachable. Checked once, so a machine without them fails each variant that
    needs one at once, with one clear message, instead of after installing and
    running it.
    """
    docker = _docker_runs(project_env)
    problems = {}
    if not project_env.get("TEST_DATABASE_URL") and not docker:
        problems["postgresql"] = (
            "the generated integration tests need PostgreSQL: set TEST_DATABASE_URL to a "
            "server they may create databases on (e.g. "
            "postgresql://postgres@127.0.0.1:5432/postgres), or start Docker so that "
            "testcontainers can run one"
        )
    if not project_env.get("TEST_REDIS_URL") and not docker:
        problems["redis"] = (
            "the generated guardrail tests need Redis: set TEST_REDIS_URL to a server they "
            "may write to (e.g. redis://127.0.0.1:6379/0), or start Docker so that "
            "testcontainers can run one"
        )
    return problems


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "answers" in metafunc.fixturenames:
        metafunc.parametrize("answers", VARIANTS, ids=VARIANT_IDS)
