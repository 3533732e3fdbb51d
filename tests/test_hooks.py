"""The post-generation task: secrets, idempotency, and harmless updates."""

from __future__ import annotations

import importlib.util
import subprocess
from typing import TYPE_CHECKING

import pytest

from tests.harness import REPO_ROOT

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

MARKER = "<generated-secret>"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "post_generate", REPO_ROOT / "hooks" / "post_generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_marker_gets_a_distinct_secret(hook: ModuleType) -> None:
    example = f"# comment {MARKER}\nA={MARKER}\nB={MARKER}\nC=kept\n# D={MARKER}\n"
    rendered = hook.render_env(example).splitlines()

    values = dict(line.split("=", 1) for line in rendered if not line.startswith("#"))
    assert values["C"] == "kept"
    assert values["A"] != values["B"]
    assert all(len(values[name]) >= 48 for name in ("A", "B"))
    assert rendered[0] == f"# comment {MARKER}"
    assert rendered[-1] == f"# D={MARKER}"


def test_existing_env_is_never_overwritten(hook: ModuleType, tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text(f"SECRET={MARKER}\n")
    (tmp_path / ".env").write_text("SECRET=mine\n")

    message = hook.write_env(tmp_path)

    assert "untouched" in message
    assert (tmp_path / ".env").read_text() == "SECRET=mine\n"


def test_update_operation_changes_nothing(
    hook: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / ".env.example").write_text(f"SECRET={MARKER}\n")
    monkeypatch.chdir(tmp_path)

    code = hook.main(
        ["--operation=update", "--package=svc", "--author-name=A", "--author-email=a@example.com"]
    )

    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env.example"]
    assert "review `git diff`" in capsys.readouterr().out


def test_git_is_not_initialised_inside_an_existing_repository(
    hook: ModuleType, tmp_path: Path
) -> None:
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    project = tmp_path / "service"
    project.mkdir()
    (project / "file.txt").write_text("x")

    message = hook.initialise_git(project, "A", "a@example.com")

    assert "already inside a git repository" in message
    assert not (project / ".git").exists()
