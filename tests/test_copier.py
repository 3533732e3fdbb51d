"""Copier behaviours: validation, trust, and updates that keep a user's edits."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

import copier
import pytest
import yaml
from copier.errors import UnsafeTemplateError

from tests.harness import REPO_ROOT, copy_template, render

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers


@pytest.mark.parametrize(
    ("bad_answers", "message"),
    [
        ({"project_name": "   "}, "project_name must not be empty"),
        ({"project_name": 'Say "hi"'}, "must not contain quotes"),
        ({"project_name": "1234"}, "must contain at least one letter"),
        ({"project_slug": "9lives"}, "project_slug must start with a letter"),
        ({"package_name": "My-Service"}, "must be a lower-case Python identifier"),
        ({"package_name": "import"}, "is a Python keyword"),
        ({"package_name": "json"}, "is a standard library module"),
        ({"package_name": "asyncio"}, "is a standard library module"),
        ({"package_name": "fastapi"}, "would shadow a dependency"),
        ({"author_email": "not-an-email"}, "must be an e-mail address"),
        ({"author_name": "<script>"}, "must not contain quotes, angle brackets"),
        ({"python_version": "3.11"}, "Invalid choice"),
        ({"license": "GPL"}, "Invalid choice"),
        ({"http_port": 80}, "between 1024 and 65535"),
    ],
)
def test_invalid_answers_are_refused_with_the_validators_message(
    bad_answers: Answers, message: str, template: Path, tmp_path: Path
) -> None:
    destination = tmp_path / "service"

    with pytest.raises(ValueError, match=re.escape(message)):
        render(template, destination, bad_answers)

    assert not destination.exists() or not any(destination.iterdir())


def test_copy_without_trust_fails_before_writing_anything(template: Path, tmp_path: Path) -> None:
    destination = tmp_path / "service"

    with pytest.raises(UnsafeTemplateError, match="tasks"):
        copier.run_copy(str(template), destination, defaults=True, unsafe=False, quiet=True)

    assert not destination.exists()


def test_stdlib_names_in_the_validator_cover_this_python() -> None:
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    validator = config["package_name"]["validator"]
    listed_block = validator.split("set stdlib = [", 1)[1].split("]", 1)[0]
    listed = set(re.findall(r"'([^']+)'", listed_block))
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public - listed == set()


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-c",
            "user.name=Template",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_update_brings_template_changes_and_keeps_user_edits(tmp_path: Path) -> None:
    # Version 1 of the template, tagged as a release.
    source = copy_template(tmp_path / "template")
    _git(source, "init", "--quiet", "--initial-branch=main")
    _git(source, "add", "--all")
    _git(source, "commit", "--quiet", "-m", "v1")
    _git(source, "tag", "v1.0.0")

    project = render(str(source), tmp_path / "service", {}, vcs_ref="v1.0.0")
    # A user's own edits, committed as a team would.
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nOn-call: team-billing.\n")
    examples = next(project.glob("src/*/api/examples.py"))
    examples.write_text(examples.read_text() + "\n\ndef our_helper() -> int:\n    return 42\n")
    _git(project, "add", "--all")
    _git(project, "commit", "--quiet", "-m", "our changes")

    # Version 2: an improved standard in a file the user also edited, and a new
    # question that old projects must be able to answer with its default.
    template_readme = source / "template" / "README.md.jinja"
    template_readme.write_text(
        template_readme.read_text().replace(
            "## Health\n", "## Health\n\nImproved standard: probes are cheap.\n"
        )
    )
    with (source / "copier.yml").open("a") as config:
        config.write('\nnew_standard:\n  type: str\n  help: Added in v2\n  default: "on"\n')
    _git(source, "add", "--all")
    _git(source, "commit", "--quiet", "-m", "v2")
    _git(source, "tag", "v2.0.0")

    copier.run_update(
        project, vcs_ref="v2.0.0", defaults=True, overwrite=True, unsafe=True, quiet=True
    )

    text = readme.read_text()
    assert "Improved standard: probes are cheap." in text
    assert "On-call: team-billing." in text
    assert "def our_helper() -> int:" in examples.read_text()
    changed = _git(project, "status", "--porcelain")
    leftovers = [line for line in changed.splitlines() if line.endswith(".rej")]
    assert leftovers == []
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and ".venv" not in path.parts:
            content = path.read_text(errors="ignore")
            assert "<<<<<<<" not in content, f"conflict markers left in {path}"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v2.0.0"
    assert answers["new_standard"] == "on"
