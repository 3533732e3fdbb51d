"""Generated services document their configuration from their settings model.

Every generated suite holds a drift test, so the covering set checks every
variant; here the command itself runs where it matters most (every gate on,
every gate off), and the script that rebuilds the template's copies of the
generated files is checked on small inputs.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import jinja2
import pytest
import yaml

from tests.config_reference import TRUE, assemble, condition, merged_order, substitute, verify
from tests.harness import ALL_OFF, render, run_step

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers


@pytest.mark.parametrize("gates", [{}, ALL_OFF], ids=["defaults", "all-off"])
def test_config_docs_check_passes_in_a_fresh_service_and_fails_on_drift(
    gates: Answers, template: Path, tmp_path: Path, project_env: dict[str, str]
) -> None:
    project = render(template, tmp_path / "service", gates)
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    check = [project_env["UV"], "run", "--quiet", recorded["package_name"], "config-docs"]
    run_step([project_env["UV"], "sync", "--quiet"], project, label="uv sync", env=project_env)

    run_step([*check, "--check"], project, label="config-docs --check", env=project_env)

    example = project / ".env.example"
    example.write_text(example.read_text(encoding="utf-8") + "EXTRA=1\n", encoding="utf-8")
    drifted = subprocess.run(
        [*check, "--check"],
        cwd=project,
        env=project_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert drifted.returncode == 1, drifted.stderr
    assert ".env.example is out of date" in drifted.stderr
    assert "docs/configuration.md" not in drifted.stderr


def test_condition_is_the_simplest_that_selects_exactly_the_variants() -> None:
    truth = {"llm": frozenset({0, 1}), "auth == 'jwt'": frozenset({1, 2})}

    assert condition(frozenset({0, 1, 2}), truth, 3) == TRUE
    assert condition(frozenset({0, 1}), truth, 3) == "llm"
    assert condition(frozenset({1}), truth, 3) == "llm and auth == 'jwt'"
    with pytest.raises(ValueError, match="no condition"):
        condition(frozenset({0, 2}), truth, 3)


def test_merged_order_keeps_every_variant_order() -> None:
    assert merged_order([["a", "c"], ["a", "b", "c"], ["b", "d"]]) == ["a", "b", "d", "c"]
    with pytest.raises(ValueError, match="disagree"):
        merged_order([["a", "b"], ["b", "a"]])


def test_assembled_template_reproduces_each_variant() -> None:
    outputs = [
        [("intro", "# top\n"), ("gate:db", "\n## db\n"), ("row:X", "X=1\n"), ("end", "end\n")],
        [("intro", "# top\n"), ("row:X", "X=2\n"), ("end", "end\n")],
        [("intro", "# top\n"), ("end", "end\n")],
    ]
    truth = {"db": frozenset({0}), "not db": frozenset({1, 2}), "llm": frozenset({0, 1})}
    contexts: list[Answers] = [{"db": True, "llm": True}, {"db": False, "llm": True}, {}]

    template = assemble(outputs, truth)

    verify(template, outputs, contexts)
    rendered = jinja2.Environment(keep_trailing_newline=True, autoescape=False).from_string(  # noqa: S701 - not HTML
        template
    )
    assert rendered.render(db=False, llm=False) == "# top\nend\n"
    assert "{% if db %}\n## db\n" in template


def test_substitute_turns_probe_values_into_answers_and_refuses_jinja() -> None:
    assert substitute("SERVICE_NAME=zqxv-probe\n") == "SERVICE_NAME={{ project_slug }}\n"
    assert substitute("`uv run zqxv_probe`") == "`uv run {{ package_name }}`"
    with pytest.raises(ValueError, match="Jinja"):
        substitute("a {{ b }}")
