"""The covering set really covers: every value, every pair, gates on and off."""

from __future__ import annotations

from tests.conftest import QUESTIONS, VARIANT_IDS, VARIANTS
from tests.variants import (
    Question,
    covering_answer_sets,
    reachable,
    refusals,
    uncovered_pairs,
)


def test_every_value_of_every_question_is_used() -> None:
    for question in QUESTIONS:
        if question.derived:
            continue
        used = [answers.get(question.name) for answers in VARIANTS]
        for value in question.values():
            if not reachable(QUESTIONS, question.name, value):
                continue  # refused whenever it is asked: no variant can hold it
            assert value in used, f"{question.name}={value!r} is in no variant"


def test_every_pair_of_values_is_used() -> None:
    assert uncovered_pairs(QUESTIONS, VARIANTS) == []


def test_variant_ids_are_unique() -> None:
    assert len(set(VARIANT_IDS)) == len(VARIANT_IDS)


def test_gates_all_on_and_all_off_are_included() -> None:
    questions = [
        Question("project_name", "str", "Svc"),
        Question("metrics", "bool", default=True),
        Question("auth", "str", "api_key", choices=("api_key", "jwt", "none")),
        Question("observability", "str", ["sentry"], choices=("sentry", "otel"), multiselect=True),
        Question("llm_retries", "int", 3, when="{{ metrics }}"),
    ]

    answer_sets = covering_answer_sets(questions)

    assert {
        "project_name": "Svc",
        "metrics": True,
        "auth": "api_key",
        "observability": ["sentry", "otel"],
        "llm_retries": 3,
    } in answer_sets
    # Off: the question that depends on a gate is not asked at all.
    assert {
        "project_name": "Svc",
        "metrics": False,
        "auth": "none",
        "observability": [],
    } in answer_sets
    assert uncovered_pairs(questions, answer_sets) == []


def test_pairwise_is_smaller_than_the_full_product() -> None:
    questions = [Question(f"q{i}", "str", "a", choices=("a", "b", "c")) for i in range(5)]

    answer_sets = covering_answer_sets(questions)

    assert uncovered_pairs(questions, answer_sets) == []
    assert len(answer_sets) < 3**5 / 4


def test_answers_that_validators_refuse_are_never_generated() -> None:
    questions = [
        Question("database", "str", "postgresql", choices=("postgresql", "none")),
        Question(
            "auth",
            "str",
            "api_key",
            choices=("api_key", "jwt", "none"),
            validator="{% if auth == 'api_key' and database == 'none' %}needs a db{% endif %}",
        ),
        Question("python_version", "str", "3.12", choices=("3.12", "3.13")),
    ]

    answer_sets = covering_answer_sets(questions)

    assert all(not (s["auth"] == "api_key" and s["database"] == "none") for s in answer_sets)
    # Every value is still used: database=none comes with an auth that allows it.
    assert {"database": "none", "auth": "jwt", "python_version": "3.12"} in answer_sets
    assert uncovered_pairs(questions, answer_sets) == []


def test_the_real_validators_accept_every_generated_variant() -> None:
    for answers in VARIANTS:
        assert refusals(QUESTIONS, answers) == [], answers
