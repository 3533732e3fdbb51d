"""Rebuild the template's `.env.example.jinja` and `docs/configuration.md.jinja`.

A generated service writes both files from its settings model
(`<package> config-docs`), and its own test suite fails when the files on disk
differ. The template must therefore hold, for every answer set, exactly what
the generator writes. This script renders probe variants (the defaults, all
gates off, and each value of each gate question from both), asks each for its
output as keyed blocks, and writes the Jinja that reproduces every one of
them: each block under the simplest condition on the answers that holds
exactly where the block appears with that text.

Run it after changing any settings model, then review the diff:

    uv run python -m tests.config_reference          # rewrite both files
    uv run python -m tests.config_reference --check  # exit 1 when either differs
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import copier
import jinja2
from jinja2.sandbox import SandboxedEnvironment
from jinja2_ansible_filters import AnsibleCoreFiltersExtension  # type: ignore[import-untyped]

from tests.harness import REPO_ROOT, copy_template
from tests.variants import Question, load_questions, refusals

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tests.variants import Answers

Blocks = list[tuple[str, str]]

# Probe answers whose values occur nowhere else in the output, so that each
# occurrence can be turned back into the Jinja expression that produced it.
PROBE: Answers = {"project_name": "Zqxv Probe", "http_port": 47219}
SUBSTITUTIONS = (
    ("zqxv_probe", "{{ package_name }}"),
    ("zqxv-probe", "{{ project_slug }}"),
    ("zqxvprobe", "{{ (package_name | replace('_', ''))[:12] }}"),
    ("Zqxv Probe", "{{ project_name }}"),
    ("47219", "{{ http_port }}"),
)
PACKAGE = "zqxv_probe"
OUTPUTS = {
    "markdown": Path("template/docs/configuration.md.jinja"),
    "env": Path("template/.env.example.jinja"),
}
MAX_ATOMS = 3
COMMAND = "uv run python -m tests.config_reference"
TRUE = "true"
# A commented-out variable: a line of its own, never wrapped.
ASSIGNMENT = re.compile(r"^# [A-Z][A-Z0-9_]*=")
DUMP = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
reference = importlib.import_module(sys.argv[2] + ".config_reference")
found = reference.sections()
print(json.dumps({
    "markdown": reference.markdown_blocks(found),
    "env": reference.env_example_blocks(found),
}))
"""


def _defaults(questions: list[Question]) -> Answers:
    return {q.name: q.default for q in questions if not q.derived}


def context(questions: list[Question], answers: Answers) -> Answers:
    """Every answer a template condition can read, derived ones included."""
    # The filters copier offers (regex_replace, ...) that derived defaults use.
    environment = SandboxedEnvironment(extensions=[AnsibleCoreFiltersExtension])
    complete = {**_defaults(questions), **answers}
    for question in questions:
        if question.derived and question.name not in answers:
            complete[question.name] = environment.from_string(str(question.default)).render(
                **complete
            )
    for question in questions:
        if question.type == "bool" and isinstance(complete.get(question.name), str):
            complete[question.name] = complete[question.name].strip().lower() == "true"
    return complete


def probe_variants(questions: list[Question]) -> list[Answers]:
    """The defaults, all gates off, and each gate value changed alone from both."""
    gates = [q for q in questions if q.is_gate and not q.derived]
    base = dict(PROBE)
    off = {**PROBE, **{q.name: q.off() for q in gates}}
    candidates = [base, off]
    for question in gates:
        # A question asked only under other gates (llm_providers under llm) is
        # varied with those gates on, from all-off too.
        needs = {q.name: True for q in gates if q.type == "bool" and q.name in str(question.when)}
        for value in question.values():
            candidates += [
                {**base, question.name: value},
                {**off, **needs, question.name: value},
            ]
    variants: list[Answers] = []
    seen: set[str] = set()
    for candidate in candidates:
        answers = {**_defaults(questions), **candidate}
        key = json.dumps(answers, sort_keys=True)
        if key not in seen and not refusals(questions, answers):
            seen.add(key)
            variants.append(answers)
    return variants


def atoms(questions: list[Question]) -> list[str]:
    """Conditions on one answer, simplest first."""
    found = []
    for question in questions:
        if question.type == "bool":
            found += [question.name, f"not {question.name}"]
        elif question.multiselect:
            for choice in question.choices:
                found += [f"{choice!r} in {question.name}", f"{choice!r} not in {question.name}"]
        elif question.choices and question.is_gate:
            # `!= 'none'` first: "the gate is on" whichever option it has.
            found += [f"{question.name} != {choice!r}" for choice in question.choices]
            found += [f"{question.name} == {choice!r}" for choice in question.choices]
    return found


def condition(wanted: frozenset[int], truth: dict[str, frozenset[int]], every: int) -> str:
    """The simplest conjunction of atoms true on exactly the `wanted` variants."""
    if len(wanted) == every:
        return TRUE
    names = list(truth)
    for size in range(1, MAX_ATOMS + 1):
        for combination in itertools.combinations(names, size):
            hits = frozenset.intersection(*(truth[name] for name in combination))
            if hits == wanted:
                return " and ".join(combination)
    message = f"no condition of at most {MAX_ATOMS} answers selects variants {sorted(wanted)}"
    raise ValueError(message)


def substitute(text: str) -> str:
    if "{{" in text or "{%" in text or "{#" in text:
        message = f"generated text holds Jinja syntax, escape it in the generator: {text!r}"
        raise ValueError(message)
    for probe, expression in SUBSTITUTIONS:
        text = text.replace(probe, expression)
    if "zqxv" in text.lower():
        message = f"a probe value is left in the text: {text!r}"
        raise ValueError(message)
    return text


def check_wrapping(blocks: Blocks) -> None:
    """Answers inside wrapped comments would wrap differently for every name."""
    for key, text in blocks:
        if key == "intro":
            continue
        for line in text.splitlines():
            wrapped = line.startswith("#") and not ASSIGNMENT.match(line)
            if wrapped and any(probe in line for probe, _ in SUBSTITUTIONS):
                message = f"{key}: a description depends on the answers: {line!r}"
                raise ValueError(message)


def merged_order(sequences: Iterable[list[str]]) -> list[str]:
    order: list[str] = []
    for sequence in sequences:
        previous = -1
        for key in sequence:
            if key in order:
                previous = order.index(key)
                continue
            previous += 1
            order.insert(previous, key)
    for sequence in sequences:
        positions = [order.index(key) for key in sequence]
        if positions != sorted(positions):
            message = f"variants disagree on the order of blocks: {sequence}"
            raise ValueError(message)
    return order


def assemble(outputs: list[Blocks], truth: dict[str, frozenset[int]]) -> str:
    """Jinja that renders, for variant i, exactly the joined `outputs[i]`.

    Consecutive blocks under the same condition share one `if`, so a gate's
    whole section reads as one conditional part of the file.
    """
    by_variant = [dict(blocks) for blocks in outputs]
    tokens: list[tuple[bool, str]] = []  # (is a tag, its content or the text)
    current = TRUE
    for key in merged_order([[key for key, _ in blocks] for blocks in outputs]):
        texts: dict[str, set[int]] = {}
        for index, blocks in enumerate(by_variant):
            if key in blocks:
                texts.setdefault(blocks[key], set()).add(index)
        branches = [
            (condition(frozenset(found), truth, len(outputs)), text)
            for text, found in texts.items()
        ]
        if len(branches) == 1 and branches[0][0] == current:
            tokens.append((False, branches[0][1]))
            continue
        if current != TRUE:
            tokens.append((True, "endif"))
        current = TRUE
        if len(branches) == 1:
            current, text = branches[0]
            if current != TRUE:
                tokens.append((True, f"if {current}"))
            tokens.append((False, text))
            continue
        for number, (cond, text) in enumerate(branches):
            tokens += [(True, f"{'elif' if number else 'if'} {cond}"), (False, text)]
        tokens.append((True, "endif"))
    if current != TRUE:
        tokens.append((True, "endif"))
    return _serialise(tokens)


def _serialise(tokens: list[tuple[bool, str]]) -> str:
    """Each tag on a line of its own, without changing the text around it.

    A tag strips the newline that follows it, unless the next text starts
    with a blank line: that newline then ends the tag's line.
    """
    parts = []
    for index, (tag, content) in enumerate(tokens):
        if not tag:
            parts.append(content)
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else (True, "")
        keeps_newline = not following[0] and following[1].startswith("\n")
        parts.append(f"{{% {content} %}}" if keeps_newline else f"{{% {content} -%}}\n")
    return "".join(parts)


def verify(template: str, outputs: list[Blocks], contexts: list[Answers]) -> None:
    """Render the assembled template for every probe variant, as copier would."""
    environment = jinja2.Environment(keep_trailing_newline=True, autoescape=False)  # noqa: S701 - not HTML
    compiled = environment.from_string(template)
    for blocks, answers in zip(outputs, contexts, strict=True):
        rendered = compiled.render(**answers)
        expected = "".join(text for _, text in blocks)
        if rendered != expected:
            difference = "".join(
                itertools.islice(
                    difflib.unified_diff(
                        expected.splitlines(keepends=True), rendered.splitlines(keepends=True)
                    ),
                    40,
                )
            )
            message = f"the assembled template does not reproduce {answers}:\n{difference}"
            raise ValueError(message)


def dump(project: Path, python: Path) -> dict[str, Blocks]:
    result = subprocess.run(
        [str(python), "-c", DUMP, str(project / "src"), PACKAGE],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded: dict[str, list[list[str]]] = json.loads(result.stdout)
    return {name: [(key, text) for key, text in blocks] for name, blocks in loaded.items()}


def build(log: Callable[[str], object]) -> dict[Path, str]:
    questions = load_questions(REPO_ROOT / "copier.yml")
    variants = probe_variants(questions)
    with tempfile.TemporaryDirectory(prefix="config-reference-") as scratch:
        folder = Path(scratch)
        template = copy_template(folder / "template")
        projects = []
        for index, answers in enumerate(variants):
            project = folder / f"variant{index}"
            copier.run_copy(
                str(template),
                project,
                data=dict(answers),
                defaults=True,
                unsafe=True,
                skip_tasks=True,
                quiet=True,
            )
            projects.append(project)
        log(f"rendered {len(projects)} variants")
        # The first variant has every gate on: its environment imports every gate's settings.
        subprocess.run(["uv", "sync", "--quiet"], cwd=projects[0], check=True, timeout=900)
        python = projects[0] / ".venv" / "bin" / "python"
        dumps = [dump(project, python) for project in projects]
    contexts = [context(questions, answers) for answers in variants]
    evaluator = jinja2.Environment(autoescape=False)  # noqa: S701 - evaluates answers, not HTML
    truth: dict[str, frozenset[int]] = {}
    for atom in atoms(questions):
        expression = evaluator.compile_expression(atom)
        hits = frozenset(i for i, answers in enumerate(contexts) if expression(**answers))
        # An atom that splits no variant, or repeats an earlier one, only slows the search.
        if 0 < len(hits) < len(contexts) and hits not in truth.values():
            truth[atom] = hits
    files = {}
    for name, path in OUTPUTS.items():
        outputs = [variant_dump[name] for variant_dump in dumps]
        if name == "env":
            for blocks in outputs:
                check_wrapping(blocks)
        substituted = [[(key, substitute(text)) for key, text in blocks] for blocks in outputs]
        assembled = assemble(substituted, truth)
        verify(assembled, outputs, contexts)
        files[REPO_ROOT / path] = assembled
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 on a difference"
    )
    args = parser.parse_args(argv)
    drifted = []
    for path, text in build(lambda line: sys.stderr.write(f"{line}\n")).items():
        if path.read_text(encoding="utf-8") == text:
            continue
        if args.check:
            drifted.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            sys.stderr.write(f"wrote {path.relative_to(REPO_ROOT)}\n")
    for path in drifted:
        sys.stderr.write(f"{path.relative_to(REPO_ROOT)} is out of date: run `{COMMAND}`\n")
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
