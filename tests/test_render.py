"""Every covering variant renders cleanly, before any of its own checks run."""

from __future__ import annotations

import stat
import subprocess
import sys
from typing import TYPE_CHECKING

import yaml

from tests.harness import leftover_jinja, render, run_step

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers


def test_variant_renders_cleanly(
    answers: Answers, template: Path, tmp_path: Path, project_env: dict[str, str]
) -> None:
    project = render(template, tmp_path / "service", answers)

    assert leftover_jinja(project) == []

    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    for name, value in answers.items():
        assert recorded.get(name) == value, f"answers file records {name}={recorded.get(name)!r}"

    # The template's own ruff, with the generated project's configuration.
    ruff = [sys.executable, "-m", "ruff"]
    run_step([*ruff, "check", "--no-cache", "."], project, label="ruff check", env=project_env)
    run_step(
        [*ruff, "format", "--check", "--no-cache", "."],
        project,
        label="ruff format",
        env=project_env,
    )


def test_post_generation_task_writes_secrets_and_first_commit(
    template: Path, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "service", {})

    env_file = project / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    secret_lines = [line for line in env_file.read_text().splitlines() if "SECRET_KEY=" in line]
    assert secret_lines
    assert all(
        "<generated-secret>" not in line and len(line.split("=", 1)[1]) >= 32
        for line in secret_lines
    )

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ".env" not in tracked
    assert ".env.example" in tracked
    assert "uv.lock" in tracked
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(log) == 1


def test_each_copy_gets_its_own_secrets(template: Path, tmp_path: Path) -> None:
    first = render(template, tmp_path / "first", {})
    second = render(template, tmp_path / "second", {})
    assert (first / ".env").read_text() != (second / ".env").read_text()
