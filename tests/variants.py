"""A covering set of answer sets, derived from copier.yml.

The set grows by itself as questions are added: it holds

- every value of every question (each choice, True and False, each option of a
  multi-select on its own, plus none and all of them);
- every pair of values across questions (a pairwise covering array);
- all gates on and all gates off;
- one project named unlike the defaults, so derived names are exercised.

A *gate* is a question that switches a capability: a bool, a multi-select, or
a choice that offers `none`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from allpairspy import AllPairs
from jinja2.sandbox import SandboxedEnvironment
from jinja2_ansible_filters import AnsibleCoreFiltersExtension  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from pathlib import Path

Answers = dict[str, Any]

OFF = "none"
# Free-text answers unlike the defaults: long (line lengths and formatting of
# the generated code must not depend on them), mixed case, digits, punctuation,
# a leading digit, and a description without a final full stop.
UNUSUAL_NAMES: Answers = {
    "project_name": "2nd-gen ACME Billing & Invoicing Platform API (EU region, multi-tenant)",
    "project_description": (
        "Bills customers across the EU, reconciles invoices with the ledger every night, "
        "and exposes a typed API for partner integrations; it retries nothing twice and "
        "keeps an audit trail"
    ),
    "author_name": "Jane O'Neil-Łukasiewicz",
    "author_email": "billing.team+api@acme-corp.example",
}


@dataclass(frozen=True)
class Question:
    name: str
    type: str
    default: Any
    choices: tuple[Any, ...] = ()
    multiselect: bool = False
    when: str | bool = True
    validator: str = ""

    @property
    def derived(self) -> bool:
        """A default computed from other answers: not varied on its own."""
        return isinstance(self.default, str) and "{{" in self.default

    @property
    def is_gate(self) -> bool:
        return self.type == "bool" or self.multiselect or OFF in self.choices

    def values(self) -> tuple[Any, ...]:
        """Every value the covering set must use at least once."""
        if self.multiselect:
            singles = tuple([choice] for choice in self.choices)
            return ([], *singles, list(self.choices))
        if self.choices:
            return self.choices
        if self.type == "bool":
            return (True, False)
        return (self.default,)

    def on(self) -> Any:  # noqa: ANN401 - an answer of the question's own type
        if self.multiselect:
            return list(self.choices)
        if self.type == "bool":
            return True
        return self.default if self.default != OFF else next(c for c in self.choices if c != OFF)

    def off(self) -> Any:  # noqa: ANN401 - an answer of the question's own type
        if self.multiselect:
            return []
        if self.type == "bool":
            return False
        return OFF


def load_questions(copier_yml: Path) -> list[Question]:
    config = yaml.safe_load(copier_yml.read_text(encoding="utf-8"))
    questions = []
    for name, spec in config.items():
        if name.startswith("_") or not isinstance(spec, dict):
            continue
        choices = spec.get("choices", ())
        if isinstance(choices, dict):
            choices = tuple(choices.values())
        questions.append(
            Question(
                name=name,
                type=spec.get("type", "str"),
                default=spec.get("default"),
                choices=tuple(choices),
                multiselect=bool(spec.get("multiselect", False)),
                when=spec.get("when", True),
                validator=spec.get("validator", ""),
            )
        )
    return questions


def _render(template: str, answers: Answers) -> str:
    # The filters copier offers (regex_search, regex_replace, ...) for validators.
    environment = SandboxedEnvironment(extensions=[AnsibleCoreFiltersExtension])
    return environment.from_string(template).render(**answers).strip()


def _is_asked(question: Question, answers: Answers) -> bool:
    """Render a question's `when` against the other answers, as copier does."""
    if isinstance(question.when, bool):
        return question.when
    return _render(question.when, answers).lower() not in {"", "false", "no", "0", "none", "off"}


def _with_derived(questions: list[Question], answers: Answers) -> Answers:
    """The answers plus every derived default, rendered in question order as copier does."""
    complete = dict(answers)
    for question in questions:
        if question.derived and question.name not in complete:
            complete[question.name] = _render(str(question.default), complete)
    return complete


def refusals(
    questions: list[Question], answers: Answers, *, only: set[str] | None = None
) -> list[str]:
    """What copier's validators would say about these answers (nothing: valid).

    `only` limits the check to some questions' validators.
    """
    complete = _with_derived(questions, answers)
    messages = []
    for question in questions:
        if only is not None and question.name not in only:
            continue
        if question.validator and question.name in complete:
            message = _render(question.validator, complete)
            if message:
                messages.append(message)
    return messages


def _repair(questions: list[Question], wanted: Answers) -> Answers | None:
    """Keep the wanted answers; change other answers until the validators agree.

    Gates constrain each other (an option may need another gate on); a
    covering set must still use every value, with whatever else makes it valid.
    """
    answers = _normalise(questions, wanted)
    if not refusals(questions, answers):
        return answers
    for question in questions:
        if question.name in wanted or question.derived:
            continue
        for value in question.values():
            candidate = _normalise(questions, {**answers, question.name: value})
            if not refusals(questions, candidate):
                return candidate
    return None


def _defaults(questions: list[Question]) -> Answers:
    return {q.name: q.default for q in questions if not q.derived}


def _normalise(questions: list[Question], answers: Answers) -> Answers:
    """Fill in defaults, then drop the answers to questions that are not asked."""
    complete = {**_defaults(questions), **answers}
    return {
        name: value
        for name, value in complete.items()
        if _is_asked(next(q for q in questions if q.name == name), complete)
    }


def _controller(question: Question, questions: list[Question]) -> Question | None:
    """The earlier bool question that decides whether `question` is asked, if one does."""
    if isinstance(question.when, bool):
        return None
    for candidate in questions:
        if candidate.name == question.name:
            return None
        if candidate.type != "bool":
            continue
        base = _defaults(questions)
        on = _is_asked(question, _with_derived(questions, {**base, candidate.name: True}))
        off = _is_asked(question, _with_derived(questions, {**base, candidate.name: False}))
        if on != off:
            return candidate
    return None


def _dimensions(questions: list[Question]) -> list[list[Answers]]:
    """What the pairwise array varies: each value of a question as an answer fragment.

    A question asked only when an earlier bool is on (`llm_providers` under
    `llm`) is folded into that bool: its values come with the bool on, and the
    bool off is one more value. Pairs then hold only answers copier really asks
    together, and every pair with a conditional value can be covered.
    """
    varied = [q for q in questions if not q.derived and len(q.values()) > 1]
    folded: dict[str, Question] = {}
    for question in varied:
        controller = _controller(question, questions)
        if controller is not None and controller in varied:
            folded[question.name] = controller
    dimensions = []
    for question in varied:
        if question.name in folded:
            continue
        dependants = [q for q in varied if folded.get(q.name) == question]
        if not dependants:
            dimensions.append([{question.name: value} for value in question.values()])
            continue
        fragments: list[Answers] = [{question.name: question.off()}]
        for dependant in dependants:
            fragments += [
                {question.name: question.on(), dependant.name: value}
                for value in dependant.values()
                if not refusals(
                    questions,
                    _normalise(questions, {question.name: question.on(), dependant.name: value}),
                )
            ]
        dimensions.append(fragments)
    return dimensions


def pairwise(questions: list[Question]) -> list[Answers]:
    dimensions = _dimensions(questions)
    if not dimensions:
        return []
    if len(dimensions) == 1:
        return [dict(fragment) for fragment in dimensions[0]]

    def merged(row: list[Answers]) -> Answers:
        answers: Answers = {}
        for fragment in row:
            answers.update(fragment)
        return answers

    def acceptable(row: list[Answers]) -> bool:
        # allpairspy builds rows left to right; judge the prefix it has so far
        # (validators refer to earlier questions, as copier asks them in order).
        answers = merged(row)
        return not refusals(questions, _normalise(questions, answers), only=set(answers))

    rows = [merged(row) for row in AllPairs(dimensions, filter_func=acceptable)]
    # allpairspy's greedy search can leave a pair out when the filter refuses
    # its first choices: add a row for each pair it missed.
    for first, second in itertools.combinations(dimensions, 2):
        for a, b in itertools.product(first, second):
            pair = {**a, **b}
            covered = any(all(row.get(k) == v for k, v in pair.items()) for row in rows)
            if not covered and not refusals(questions, _normalise(questions, pair)):
                rows.append(pair)
    return rows


def covering_answer_sets(questions: list[Question]) -> list[Answers]:
    """The covering set, without duplicates, in a stable order."""
    gates = [q for q in questions if q.is_gate]
    names = {q.name for q in questions}
    candidates: list[Answers] = [
        {},
        {q.name: q.on() for q in gates},
        {q.name: q.off() for q in gates},
        {name: value for name, value in UNUSUAL_NAMES.items() if name in names},
        *pairwise(questions),
    ]
    unique: dict[str, Answers] = {}
    for candidate in candidates:
        answers = _repair(questions, candidate)
        if answers is not None:
            unique.setdefault(json.dumps(answers, sort_keys=True), answers)
    # Pairs cover every value already; a value no answer set holds yet (the
    # default of an unvaried question, say) gets an answer set of its own.
    for question in questions:
        if question.derived:
            continue
        for value in question.values():
            if any(answers.get(question.name) == value for answers in unique.values()):
                continue
            answers = _repair(questions, {question.name: value})
            if answers is not None:
                unique.setdefault(json.dumps(answers, sort_keys=True), answers)
    return list(unique.values())


def reachable(questions: list[Question], name: str, value: Any) -> bool:  # noqa: ANN401 - any answer
    """Whether some valid answer set holds `value` for the question `name`.

    An empty multi-select, say, may be refused whenever it is asked.
    """
    answers = _repair(questions, {name: value})
    return answers is not None and answers.get(name) == value


def variant_id(answers: Answers, questions: list[Question]) -> str:
    """A short, stable, readable test id: the answers that differ from the defaults."""
    defaults = _defaults(questions)
    changed = {k: v for k, v in answers.items() if defaults.get(k) != v}
    if not changed:
        return "defaults"
    digest = hashlib.sha1(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:6]  # noqa: S324 - an id, not security
    if set(changed) <= set(UNUSUAL_NAMES):
        return f"unusual-names-{digest}"
    parts = [
        f"{k}={'+'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in changed.items()
    ]
    label = ",".join(parts)
    return label if len(label) <= 60 else f"{label[:50]}..{digest}"


def uncovered_pairs(questions: list[Question], answer_sets: list[Answers]) -> list[str]:
    """Pairs of values (of questions asked together) that no answer set uses."""
    varied = [q for q in questions if not q.derived and len(q.values()) > 1]
    missing = []
    for first, second in itertools.combinations(varied, 2):
        for a, b in itertools.product(first.values(), second.values()):
            combined = _repair(questions, {first.name: a, second.name: b})
            if combined is None or combined.get(first.name) != a or combined.get(second.name) != b:
                continue  # never valid together, or one of the two is not asked then
            if not any(s.get(first.name) == a and s.get(second.name) == b for s in answer_sets):
                missing.append(f"{first.name}={a!r} with {second.name}={b!r}")
    return missing
