"""Finish a freshly generated service; stay harmless on `copier update`.

Copier runs this script as a task (only with `--trust`) inside the destination
folder, with the interpreter that runs Copier itself, so it uses the standard
library only. Every step is idempotent: running it twice changes nothing the
first run did not.

After `copier copy`:
  1. write `.env` from `.env.example`, replacing every `<generated-secret>`
     value with a fresh random secret (mode 0600, ignored by git);
  2. `uv lock` when uv is on PATH, so the first commit pins dependencies;
  3. `git init` and a first commit when the destination is not already inside
     a git work tree;
  4. print the next steps.

After `copier update` it only reports what the user may want to do: it never
rewrites `.env`, never commits and never deletes anything.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

SECRET_MARKER = "<generated-secret>"  # noqa: S105 - a marker, not a secret
SECRET_BYTES = 48
COMMAND_TIMEOUT_SECONDS = 300


def render_env(example: str) -> str:
    """Return `.env` text: `.env.example` with each secret marker replaced.

    Every marker gets its own secret, so two variables never share a value.
    """
    lines = []
    for line in example.splitlines(keepends=True):
        name, sep, value = line.partition("=")
        if sep and not name.lstrip().startswith("#") and value.strip() == SECRET_MARKER:
            newline = "\n" if line.endswith("\n") else ""
            lines.append(f"{name}={secrets.token_urlsafe(SECRET_BYTES)}{newline}")
        else:
            lines.append(line)
    return "".join(lines)


def write_env(destination: Path) -> str:
    env_file = destination / ".env"
    example = destination / ".env.example"
    if env_file.exists():
        return ".env already exists: left untouched"
    if not example.exists():
        return ".env.example is missing: no .env written"
    descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(render_env(example.read_text(encoding="utf-8")))
    return ".env written with freshly generated secrets (never commit it)"


def run(command: list[str], destination: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument lists, no shell
        command,
        cwd=destination,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def lock_dependencies(destination: Path) -> str:
    uv = shutil.which("uv")
    if uv is None:
        return "uv not found: run `uv lock` once it is installed"
    if (destination / "uv.lock").exists():
        return "uv.lock already exists: left untouched"
    try:
        # Started from the parent folder: a version manager's shim (pyenv) picks
        # its interpreter by the new project's .python-version, where uv may not
        # be installed; `--directory` then points uv at the project.
        result = run([uv, "--directory", str(destination), "lock", "--quiet"], destination.parent)
    except subprocess.TimeoutExpired:
        return "uv lock timed out: run `uv lock` yourself"
    if result.returncode != 0:
        return f"uv lock failed (run it yourself): {result.stderr.strip()[:500]}"
    return "uv.lock written"


def inside_git_work_tree(git: str, destination: Path) -> bool:
    result = run([git, "rev-parse", "--is-inside-work-tree"], destination)
    return result.returncode == 0 and result.stdout.strip() == "true"


def initialise_git(destination: Path, author_name: str, author_email: str) -> str:
    git = shutil.which("git")
    if git is None:
        return "git not found: no repository created"
    if inside_git_work_tree(git, destination):
        return "already inside a git repository: nothing committed"
    # The answers give an identity for machines where git has none configured;
    # an identity the user configured wins because `-c` is only added when missing.
    identity: list[str] = []
    if not run([git, "config", "user.email"], destination).stdout.strip():
        identity = ["-c", f"user.name={author_name}", "-c", f"user.email={author_email}"]
    steps = [
        [git, "init", "--quiet", "--initial-branch=main"],
        [git, "add", "--all"],
        [
            git,
            *identity,
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            "Generate service from the launchgate template",
        ],
    ]
    for step in steps:
        result = run(step, destination)
        if result.returncode != 0:
            return f"git step failed ({' '.join(step[1:3])}): {result.stderr.strip()[:500]}"
    return "git repository initialised with a first commit"


def next_steps(package: str, port: int) -> str:
    return "\n".join(
        [
            "",
            "Next steps:",
            "  make install        # create .venv with uv and install the dependencies",
            f"  make run            # serve on http://127.0.0.1:{port}: /livez, /readyz, /docs",
            "  make check          # ruff, ruff format --check, mypy --strict",
            "  make test           # unit and end-to-end tests",
            f"  uv run {package} check-config   # validate the environment without starting",
            "",
            "Before production read README.md: APP_ENV=production refuses development defaults.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operation", choices=["copy", "update"], required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--author-name", required=True)
    parser.add_argument("--author-email", required=True)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    destination = Path.cwd()

    if args.operation == "update":
        # Copier also runs this in its scratch copies while it computes the
        # update, so it only says what to do next and touches nothing.
        print("launchgate: review `git diff` (and any *.rej file), then `make check test`.")
        return 0

    for message in (
        write_env(destination),
        lock_dependencies(destination),
        initialise_git(destination, args.author_name, args.author_email),
    ):
        print(f"launchgate: {message}")
    print(next_steps(args.package, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
