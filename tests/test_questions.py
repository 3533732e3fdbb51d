"""Every question keeps the promises `copier update --defaults` relies on."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.harness import REPO_ROOT

CONFIG: dict[str, Any] = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
QUESTIONS = {name: spec for name, spec in CONFIG.items() if not name.startswith("_")}


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_question_has_type_help_and_default(name: str) -> None:
    spec = QUESTIONS[name]

    assert isinstance(spec, dict), f"{name} must be a mapping with type, help and default"
    assert spec.get("type") in {"str", "int", "float", "bool", "json", "yaml"}
    assert str(spec.get("help", "")).strip(), f"{name} needs a help text"
    # Old projects answer new questions with their default on `copier update --defaults`.
    assert "default" in spec, f"{name} needs a default"


@pytest.mark.parametrize(
    "name", sorted(name for name, spec in QUESTIONS.items() if "choices" in spec)
)
def test_a_choice_default_is_one_of_the_choices(name: str) -> None:
    spec = QUESTIONS[name]
    choices = spec["choices"]
    values = list(choices.values()) if isinstance(choices, dict) else list(choices)

    if spec.get("multiselect"):
        assert set(spec["default"]) <= set(values)
    else:
        assert spec["default"] in values


def test_tasks_run_the_hook_for_copy_and_update() -> None:
    [task] = CONFIG["_tasks"]
    command = " ".join(task["command"])

    assert "hooks/post_generate.py" in command
    assert "--operation={{ _copier_operation }}" in command
