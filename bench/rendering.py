"""Render the template as it is on disk and install the service it generates.

Shared by the entry points (`run.py`, `guardrails.py`, `llm_gateway.py`): each
measures a freshly rendered service in a temporary folder, never an old one.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH = REPO_ROOT / "bench"
COPIER = [sys.executable, "-m", "copier", "copy", "--quiet", "--trust", "--defaults"]


@dataclass(frozen=True, slots=True)
class Service:
    """A rendered and installed service."""

    project: Path
    package: str
    env: dict[str, str]

    def run_script(self, script: str, *arguments: str) -> int:
        """Run `bench/<script> <package> <arguments>` in the service's environment."""
        command = ["uv", "run", "--no-sync", "python", str(BENCH / script), self.package]
        return subprocess.run(
            [*command, *arguments], cwd=self.project, env=self.env, check=False
        ).returncode


def render_and_install(scratch: Path, answers: Sequence[str] = ()) -> Service:
    """Render the template with the default answers but `answers` (`key=value`), then install it.

    What is on disk is rendered, committed or not, as the template tests do.
    """
    template = scratch / "template"
    template.mkdir()
    for part in ("copier.yml", "template", "hooks"):
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, template / part)
        else:
            shutil.copy2(source, template / part)
    project = scratch / "service"
    data = [f"--data={answer}" for answer in answers]
    # In a subprocess: the post-generation task's output is not part of the report.
    subprocess.run([*COPIER, *data, str(template), str(project)], check=True, capture_output=True)
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    # The service's own environment, not the one this script runs in.
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["BENCH_PACKAGE"] = package  # for the app factories uvicorn imports by name
    subprocess.run(["uv", "sync", "--quiet", "--no-dev"], cwd=project, env=env, check=True)
    return Service(project=project, package=package, env=env)


def load_rendered_with_wrk(
    script: str, arguments: Sequence[str] = (), answers: Sequence[str] = ()
) -> int:
    """Render and install a service, then run `bench/<script>` in it; wrk must be there."""
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk")
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        service = render_and_install(Path(scratch), answers)
        return service.run_script(script, *arguments)
