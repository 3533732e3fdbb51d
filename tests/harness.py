"""Render the template and run a generated project's own commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import copier
import pytest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tests.variants import Answers

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PARTS = ("copier.yml", "template", "hooks")
# Left-over Jinja: `{{`, `{%` or `{#`, but not the template syntax of the tools a
# project configures: GitHub Actions' `${{ }}` and Prometheus's `{{ $value }}`.
JINJA_LEFT = re.compile(r"(?<!\$)\{\{(?!\s*\$)|\{%|\{#")
# Grafana's legends name labels as `{{label}}`: blanked before the search.
GRAFANA_LEGEND = re.compile(r'"legendFormat": "[^"]*"')
OUTPUT_TAIL = 12_000
# Every gate question off: the smallest service the template renders.
ALL_OFF: Answers = {
    "database": "none",
    "auth": "none",
    "rate_limit": False,
    "cost_cap": False,
    "idempotency": False,
    "llm": False,
    "observability": [],
}
# Passed through to generated projects; everything else about the environment
# is rebuilt, so a generated project sees what a user's shell would give it.
PASS_THROUGH = frozenset(
    {
        "HOME",
        "LANG",
        "TMPDIR",
        "TEST_DATABASE_URL",
        "TEST_REDIS_URL",
        "DOCKER_HOST",
        "SSL_CERT_FILE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)
PASS_THROUGH_PREFIXES = ("UV_", "TESTCONTAINERS_", "XDG_")
# These would point a generated project at the template's own environment.
NEVER_PASSED = frozenset({"UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "VIRTUAL_ENV"})
STEP_TIMEOUT_SECONDS = 900


def copy_template(destination: Path) -> Path:
    """Copy the template's parts into a plain folder (no git), as the working tree has them.

    Rendering from a plain folder renders exactly what is on disk, committed or
    not, and never triggers copier's dirty-repository handling.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(
                source,
                destination / part,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ruff_cache", ".mypy_cache"),
            )
        else:
            shutil.copy2(source, destination / part)
    return destination


def render(template: Path | str, destination: Path, answers: Answers, **options: object) -> Path:
    """Render with copier's Python API, running the template's tasks (as `--trust`)."""
    copier.run_copy(
        str(template),
        destination,
        data=dict(answers),
        defaults=True,
        unsafe=True,
        quiet=True,
        **options,  # type: ignore[arg-type]
    )
    return destination


def uv_binary() -> str:
    """The real uv executable (not a version-manager shim that may not resolve)."""
    from uv import find_uv_bin  # noqa: PLC0415 - the uv package is a test dependency

    return str(find_uv_bin())


def tools_directory(destination: Path) -> Path:
    """A folder holding only a link to the real uv, to put first on PATH.

    Version-manager shims (pyenv) pick an interpreter by the project's
    `.python-version` and may not find uv there; the template's own virtual
    environment must not leak its Python into the generated projects either.
    """
    destination.mkdir(parents=True, exist_ok=True)
    link = destination / "uv"
    if not link.exists():
        link.symlink_to(uv_binary())
    return destination


def project_environment(tools: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a generated project's commands."""
    env = {
        name: value
        for name, value in os.environ.items()
        if (name in PASS_THROUGH or name.startswith(PASS_THROUGH_PREFIXES))
        and name not in NEVER_PASSED
    }
    venv_bin = str(Path(sys.executable).parent)
    inherited = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env["PATH"] = os.pathsep.join([str(tools), *inherited])
    env["UV"] = str(tools / "uv")
    env["UV_NO_PROGRESS"] = "1"
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def run_step(command: list[str], cwd: Path, *, label: str, env: Mapping[str, str]) -> str:
    """Run one command of the generated project; fail the test with its output if it fails."""
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{label}: `{' '.join(command)}` timed out after {error.timeout}s in {cwd}")
    output = f"{result.stdout}\n{result.stderr}".strip()
    if result.returncode != 0:
        pytest.fail(
            f"{label}: `{' '.join(command)}` exited {result.returncode} in {cwd}\n"
            f"{output[-OUTPUT_TAIL:]}",
            pytrace=False,
        )
    return output


def leftover_jinja(project: Path) -> list[str]:
    """Files or names in a rendered project that still hold Jinja."""
    problems = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if relative.parts[0] in {".git", ".venv"}:
            continue
        if JINJA_LEFT.search(str(relative)) or path.suffix == ".jinja":
            problems.append(f"{relative}: template syntax in the file name")
        if path.is_file() and path.suffix != ".lock":
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if JINJA_LEFT.search(GRAFANA_LEGEND.sub("", line)):
                    problems.append(f"{relative}:{number}: {line.strip()[:120]}")
    return problems
