"""Render a service with the default answers and benchmark it side by side.

    uv run python bench/run.py

Prints the per-request cost of the generated service core next to a bare
FastAPI app serving the same endpoints, and their ratio, measured in one run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
# auth=none: the benchmark measures the core, not a credential check per request.
COPIER = [
    sys.executable,
    "-m",
    "copier",
    "copy",
    "--quiet",
    "--trust",
    "--defaults",
    "--data=auth=none",
]


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        # Render what is on disk, committed or not, as the template tests do.
        template = Path(scratch) / "template"
        template.mkdir()
        for part in ("copier.yml", "template", "hooks"):
            source = REPO_ROOT / part
            if source.is_dir():
                shutil.copytree(source, template / part)
            else:
                shutil.copy2(source, template / part)
        project = Path(scratch) / "service"
        # In a subprocess: the post-generation task's output is not part of the report.
        subprocess.run(
            [*COPIER, str(template), str(project)],
            check=True,
            capture_output=True,
        )
        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        subprocess.run(["uv", "sync", "--quiet", "--no-dev"], cwd=project, env=env, check=True)
        package = answers["package_name"]
        env["BENCH_PACKAGE"] = package
        scripts = ["asgi_overhead.py"]
        if shutil.which("wrk") is not None:
            scripts.append("http_overhead.py")
        else:
            print("wrk not found: skipping the HTTP benchmark (apt-get install wrk)")
        for script in scripts:
            result = subprocess.run(
                ["uv", "run", "--no-sync", "python", str(REPO_ROOT / "bench" / script), package],
                cwd=project,
                env=env,
                check=False,
            )
            if result.returncode != 0:
                return result.returncode
        return 0


if __name__ == "__main__":
    sys.exit(main())
