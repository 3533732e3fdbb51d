"""The Dockerfile and .dockerignore of each container variant, checked without Docker.

hadolint lints each distinct Dockerfile. The properties that matter in production
and that hadolint cannot see (who the process runs as, how it is health-checked
and stopped, what the build context holds) are read from the rendered files.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.conftest import VARIANTS
from tests.delivery import distinct, projection_id, run_tool, tool
from tests.harness import render

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.variants import Answers

# The answers the Dockerfile and .dockerignore depend on.
KEYS = ("python_version", "database", "llm", "license")
CONTAINER_VARIANTS = distinct([a for a in VARIANTS if a.get("container", True)], KEYS)
# The covering variants all keep the default port and names: one more, with its
# own, shows that EXPOSE, the port and the command follow the answers.
RENAMED = {**CONTAINER_VARIANTS[0], "project_name": "Billing Ledger", "http_port": 9321}
CASES = [
    *(pytest.param(a, id=projection_id(a, KEYS)) for a in CONTAINER_VARIANTS),
    pytest.param(RENAMED, id="project_name=Billing Ledger,http_port=9321"),
]
NO_CONTAINER = next(a for a in VARIANTS if a.get("container", True) is False)

UID = "10001"
PINNED_IMAGE = re.compile(r"^[\w./-]+:(?P<tag>[\w.-]+)@sha256:[0-9a-f]{64}$")
PYTHON_TAG = re.compile(r"^(?P<minor>3\.\d+)\.\d+-slim-\w+$")
HADOLINT_PRAGMA = re.compile(r"#\s*hadolint\s+ignore=")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass(frozen=True)
class Stage:
    base: str
    name: str
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"stage {self.name}: {len(found)} {keyword} instructions"
        return found[0]

    def env(self) -> dict[str, str]:
        variables: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                name, _, value = pair.partition("=")
                variables[name] = value
        return variables

    def text(self) -> str:
        return "\n".join(f"{i.keyword} {i.arguments}" for i in self.instructions)


def parse(dockerfile: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(dockerfile.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # blank lines and comments, also inside a continued instruction
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        keyword, _, arguments = " ".join([*pending, line]).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def stages(instructions: list[Instruction]) -> list[Stage]:
    found: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            base, _, name = instruction.arguments.partition(" AS ")
            found.append(Stage(base.strip(), name.strip(), []))
        elif instruction.keyword != "ARG" or found:
            assert found, f"line {instruction.line}: {instruction.keyword} before FROM"
            found[-1].instructions.append(instruction)
    return found


def exec_form(arguments: str) -> list[str]:
    """A JSON array of strings (exec form), or a failed test."""
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        pytest.fail(f"not exec form (a JSON array): {arguments}")
    assert isinstance(value, list)
    assert all(isinstance(item, str) for item in value)
    return value


# ------------------------------------------------------------------------------
# .dockerignore, as Docker reads it: patterns in order, the last that matches a
# path or one of its parent folders decides; "!" lets a path back in.
# ------------------------------------------------------------------------------
def _pattern(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            parts.append("[" + pattern[index + 1 : end].replace("!", "^", 1) + "]")
            index = end + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


def ignore_rules(dockerignore: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(lets in, pattern) for each line: `!` lines let paths back in."""
    rules = []
    for raw in dockerignore.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lets_in = line.startswith("!")
        rules.append((lets_in, _pattern(line.removeprefix("!").strip().strip("/"))))
    return rules


def in_context(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    kept = True
    for lets_in, pattern in rules:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            kept = lets_in
    return kept


def context_sources(builder: Stage) -> set[str]:
    """The paths the build reads from its context: COPY sources and bind mounts."""
    sources: set[str] = set()
    for instruction in builder.instructions:
        words = shlex.split(instruction.arguments)
        if instruction.keyword == "COPY" and not any(w.startswith("--from=") for w in words):
            sources.update(w for w in words[:-1] if not w.startswith("--"))
        for word in words:
            if word.startswith("--mount=type=bind"):
                options = dict(
                    o.partition("=")[::2] for o in word.removeprefix("--mount=").split(",")
                )
                sources.add(options["source"])
    return sources


# ------------------------------------------------------------------------------
# Fixtures: each variant rendered once per worker, shared by the checks below
# ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[Answers], Path]:
    projects: dict[str, Path] = {}

    def project(answers: Answers) -> Path:
        key = json.dumps(answers, sort_keys=True)
        if key not in projects:
            projects[key] = render(template, tmp_path_factory.mktemp("container"), answers)
        return projects[key]

    return project


@dataclass(frozen=True)
class Image:
    answers: Answers
    project: Path
    package: str
    dockerfile: str
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        matches = [s for s in self.stages if s.name == name]
        assert matches, f"no stage named {name}: {[s.name for s in self.stages]}"
        return matches[0]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    @property
    def builder(self) -> Stage:
        return self.stage("builder")

    def resolve(self, stage: Stage) -> str:
        """The image a stage starts from, through other stages' names."""
        names = {s.name: s for s in self.stages if s.name}
        base = stage.base
        while base in names:
            base = names[base].base
        return base


def _image(project: Path, answers: Answers) -> Image:
    package = _answer(project, "package_name")
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    return Image(answers, project, package, text, stages(parse(text)))


def _answer(project: Path, name: str) -> str:
    for line in (project / ".copier-answers.yml").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip().strip("'\"")
    pytest.fail(f"{name} is not in the answers file")


@pytest.fixture(params=CASES)
def image(request: pytest.FixtureRequest, rendered: Callable[[Answers], Path]) -> Image:
    answers: Answers = request.param
    return _image(rendered(answers), answers)


# ------------------------------------------------------------------------------
# The checks
# ------------------------------------------------------------------------------
def test_hadolint_finds_nothing(image: Image) -> None:
    run_tool(
        [tool("hadolint"), "--failure-threshold", "style", "--no-color", "Dockerfile"],
        image.project,
    )
    # An ignored rule says why, on the comment line just above the pragma.
    lines = image.dockerfile.splitlines()
    for number, line in enumerate(lines):
        if HADOLINT_PRAGMA.search(line):
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#"), f"line {number + 1}: no reason above {line.strip()}"
            assert not HADOLINT_PRAGMA.search(above)
            assert len(above.lstrip("# ")) > 20, f"line {number}: {above!r} is no reason"


def test_base_images_are_pinned_by_patch_tag_and_digest(image: Image) -> None:
    names = {s.name for s in image.stages}
    for stage in image.stages:
        if stage.base in names:
            continue
        assert PINNED_IMAGE.match(stage.base), f"{stage.base} is not pinned by tag and digest"
    python = PINNED_IMAGE.match(image.resolve(image.runtime))
    assert python is not None
    assert python.string.startswith(("python:", "docker.io/library/python:"))
    tag = PYTHON_TAG.match(python.group("tag"))
    assert tag is not None, f"{python.group('tag')} is not a patch-version slim tag"
    assert tag.group("minor") == image.answers["python_version"]
    # The virtual environment's interpreter is at the same path in both stages.
    assert image.resolve(image.builder) == image.resolve(image.runtime)
    assert image.builder.env()["UV_PYTHON"] == (
        f"/usr/local/bin/python{image.answers['python_version']}"
    )


def test_builder_installs_the_locked_dependencies_with_uv(image: Image) -> None:
    builder = image.builder
    env = builder.env()
    assert env["UV_COMPILE_BYTECODE"] == "1"
    assert env["UV_LINK_MODE"] == "copy"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    syncs = [i.arguments for i in builder.all("RUN") if "uv sync" in i.arguments]
    assert len(syncs) == 2, "dependencies first (cached layer), then the project"
    for sync in syncs:
        words = shlex.split(sync)
        assert {"--locked", "--no-dev", "--no-editable"} <= set(words)
        assert any(w.startswith("--mount=type=cache,") for w in words)
    assert "--no-install-project" in syncs[0]
    assert "--no-install-project" not in syncs[1]
    # The uv binary comes from uv's own image, pinned like the others.
    uv_copy = [i for i in builder.all("COPY") if "/uv " in i.arguments + " "]
    assert len(uv_copy) == 1
    uv_stage = image.stage(shlex.split(uv_copy[0].arguments)[0].removeprefix("--from="))
    assert uv_stage.base.startswith("ghcr.io/astral-sh/uv:")


def test_runtime_runs_as_a_fixed_non_root_uid(image: Image) -> None:
    runtime = image.runtime
    assert runtime.all("USER")[-1].arguments == f"{UID}:{UID}"
    account = " ".join(i.arguments for i in runtime.all("RUN"))
    assert f"--uid {UID}" in account
    assert f"--gid {UID}" in account


def test_runtime_has_no_build_or_download_tools(image: Image) -> None:
    runtime = image.runtime
    text = runtime.text().lower()
    # In no stage: the health check and the tiktoken seed use Python instead.
    instructions = "\n".join(stage.text() for stage in image.stages).lower()
    assert "curl" not in instructions
    assert "wget" not in instructions
    assert "apt-get" not in text
    assert "gcc" not in text
    # uv stays in the builder; the runtime copies only the environment (and caches).
    copies = [shlex.split(i.arguments) for i in runtime.all("COPY")]
    assert all(words[0] == "--from=builder" for words in copies), copies
    assert ["--from=builder", "/app/.venv", "/app/.venv"] in copies
    assert not any("uv" in words[-1].split("/") for words in copies)
    # pip goes too: nothing is installed at run time.
    assert "pip uninstall" in text


def test_runtime_environment(image: Image) -> None:
    env = image.runtime.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["SERVER__HOST"] == "0.0.0.0"  # noqa: S104 - compared, not bound
    assert env["SERVER__PORT"] == str(image.answers["http_port"])
    assert env["APP_ENV"] == "production"
    assert env["PATH"].startswith("/app/.venv/bin:")
    assert image.runtime.one("EXPOSE").arguments == str(image.answers["http_port"])
    assert image.runtime.one("WORKDIR").arguments == "/app"


def test_health_check_and_shutdown_use_the_service_command(image: Image) -> None:
    runtime = image.runtime
    options, _, command = runtime.one("HEALTHCHECK").arguments.partition("CMD ")
    assert "--timeout=" in options
    health = exec_form(command)
    assert health[0].endswith(f"/{image.package}")
    assert health[1:] == ["probe", "livez"]

    entrypoint = exec_form(runtime.one("ENTRYPOINT").arguments)
    assert len(entrypoint) == 1
    assert entrypoint[0] == health[0]
    assert exec_form(runtime.one("CMD").arguments) == ["serve"]
    assert runtime.one("STOPSIGNAL").arguments == "SIGTERM"


def test_tiktoken_cache_is_seeded_at_build_time_exactly_with_llm(image: Image) -> None:
    seed = f"from {image.package}.llm.tokens import seed_tiktoken_cache; seed_tiktoken_cache()"
    seeding = [i for i in image.builder.all("RUN") if seed in i.arguments]
    if not image.answers["llm"]:
        assert "tiktoken" not in "\n".join(s.text() for s in image.stages).lower()
        return
    assert len(seeding) == 1
    cache = image.builder.env()["TIKTOKEN_CACHE_DIR"]
    # Written before the runtime starts, read-only afterwards: never under /tmp.
    assert not cache.startswith("/tmp")  # noqa: S108 - the path the test forbids
    assert image.runtime.env()["TIKTOKEN_CACHE_DIR"] == cache
    assert ["--from=builder", cache, cache] in [
        shlex.split(i.arguments) for i in image.runtime.all("COPY")
    ]
    # The seed runs after the project is installed into the environment.
    install = next(i for i in image.builder.all("RUN") if "--no-install-project" not in i.arguments)
    assert install.line < seeding[0].line


def test_labels_name_the_source_and_revision_from_build_arguments(image: Image) -> None:
    arguments = {i.arguments.partition("=")[0] for i in image.runtime.all("ARG")}
    assert {"GIT_SHA", "SOURCE_URL"} <= arguments
    labels = dict(
        pair.partition("=")[::2]
        for i in image.runtime.all("LABEL")
        for pair in shlex.split(i.arguments)
    )
    assert labels["org.opencontainers.image.revision"] == "${GIT_SHA}"
    assert labels["org.opencontainers.image.source"] == "${SOURCE_URL}"
    assert labels["org.opencontainers.image.title"]
    assert labels["org.opencontainers.image.description"]


def test_build_context_holds_what_the_build_reads_and_no_secrets(image: Image) -> None:
    project = image.project
    rules = ignore_rules((project / ".dockerignore").read_text(encoding="utf-8"))

    # Everything the build reads is there, and the context lets it in.
    sources = context_sources(image.builder)
    assert {"pyproject.toml", "uv.lock", "README.md", "src"} <= sources
    if image.answers["license"] != "Proprietary":
        assert "LICENSE" in sources  # the wheel carries its license-files
    for source in sources:
        assert (project / source).exists(), f"the build reads {source}, which is not rendered"
        assert in_context(source, rules), f"the build reads {source}, which .dockerignore drops"
    for path in (project / "src").rglob("*.py"):
        assert in_context(path.relative_to(project).as_posix(), rules)

    # Secrets, history, environments, caches, tests and deployment files stay out.
    for outside in (
        ".env",
        ".env.production",
        ".env.example",
        f"src/{image.package}/.env",
        ".git/config",
        ".venv/bin/python",
        "tests/conftest.py",
        "infra/aws/environments/production/main.tf",
        "deploy/kubernetes/base/deployment.yaml",
        ".github/workflows/ci.yml",
        f"src/{image.package}/__pycache__/app.cpython-312.pyc",
        ".mypy_cache/3.12/cache.db",
        f"{_answer(project, 'project_slug')}.db",
    ):
        assert not in_context(outside, rules), f"{outside} would be sent to the builder"

    # What the rendered project itself would send: the allowlist, nothing more.
    sent = {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and in_context(path.relative_to(project).as_posix(), rules)
    }
    top = {path.split("/", 1)[0] for path in sent}
    assert top <= {"pyproject.toml", "uv.lock", "README.md", "LICENSE", "src"}, top


def test_no_container_renders_neither_file(
    rendered: Callable[[Answers], Path],
) -> None:
    project = rendered(NO_CONTAINER)

    assert not (project / "Dockerfile").exists()
    assert not (project / ".dockerignore").exists()
