"""The configuration reference: every environment variable the settings read.

`sections()` walks the root `Settings` model, nested gate models included, and
describes each variable: its name, type, default, whether it is a secret and
which gate owns it. It reads the models' declarations and default values only,
never the environment or `.env`, so the reference is the same on every machine.

`render_markdown()` and `render_env_example()` turn the reference into
`docs/configuration.md` and `.env.example`. `<package> config-docs` writes both
and the test suite fails when either differs from what the model says.
"""

import enum
import inspect
import json
import textwrap
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AnyUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python
from pydantic_settings import NoDecode

from .gates import GateSettings, GeneratedSecret, MinSecretLength
from .settings import Settings

CORE = "core"
CORE_SUMMARY = "What the service is and which environment it runs in."
SECRET_MARKER = "<generated-secret>"  # noqa: S105 - the marker copier's task replaces, not a secret
MARKDOWN_PATH = Path("docs/configuration.md")
ENV_EXAMPLE_PATH = Path(".env.example")
# Comment lines of .env.example stay readable in an 88-column editor.
ENV_WIDTH = 88
COMMAND = __name__.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable, described for people."""

    name: str
    gate: str
    type: str
    secret: bool
    # Text that sets the default in the environment; None when there is none to
    # show (unset, required, or a secret, whose value is never shown).
    default: str | None
    description: str
    required: bool = False
    # A secret with a value built in for development (never shown).
    development_default: bool = False
    # A secret `copier copy` generates into .env (`GeneratedSecret`).
    generated: bool = False
    # Its value is JSON (lists and mappings that are not comma-separated).
    json: bool = False
    example: str | None = None
    also_read_from: tuple[str, ...] = ()

    @property
    def commented_out(self) -> bool:
        """Whether .env.example leaves it unset: no default it could write that means the same.

        An unset value, a secret and an empty JSON list or mapping are shown as
        a commented-out example instead; a value left empty there would change
        the meaning or fail to parse.
        """
        if self.generated:
            return False
        empty_json = self.json and self.default in {"[]", "{}"}
        return self.secret or (self.default is None and not self.required) or empty_json


@dataclass(frozen=True, slots=True)
class Section:
    """The variables one settings model declares, e.g. `LLM__TIMEOUT__*`."""

    gate: str
    prefix: str
    summary: str
    variables: tuple[Variable, ...]


def sections(model: type[BaseModel] = Settings) -> tuple[Section, ...]:
    """Every settings model with variables, in declaration order, the root first."""
    prefix = str(model.model_config.get("env_prefix", "")).upper()
    return tuple(_walk(model, {}, (), CORE, prefix))


def variables(model: type[BaseModel] = Settings) -> tuple[Variable, ...]:
    return tuple(variable for section in sections(model) for variable in section.variables)


def _walk(
    model: type[BaseModel],
    defaults: Mapping[str, Any],
    path: tuple[str, ...],
    gate: str,
    env_prefix: str,
) -> Iterator[Section]:
    own: list[Variable] = []
    nested: list[tuple[str, type[BaseModel], dict[str, Any]]] = []
    conventional = _conventional(model) if len(path) == 1 else {}
    for name, info in model.model_fields.items():
        default = defaults[name] if name in defaults else _declared_default(info)
        part = _env_part(name, info)
        members = _models_in(info.annotation)
        nested.extend(
            (part, member, _values(default) if isinstance(default, member) else {})
            for member in members
        )
        if not members:
            env_name = env_prefix + "__".join((*path, part)).upper()
            variable = _variable(model, name, info, default=default, env_name=env_name, gate=gate)
            own.append(replace(variable, also_read_from=conventional.get(name, ())))
    if own:
        summary = _summary(model) if path else CORE_SUMMARY
        label = "__".join(path).upper() + "__*" if path else ""
        yield Section(gate, label, summary, tuple(own))
    seen: set[str] = set()
    for part, member, values in nested:
        for section in _walk(member, values, (*path, part), gate if path else part, env_prefix):
            # A union of models may declare the same variable twice: the first wins.
            kept = tuple(v for v in section.variables if v.name not in seen)
            seen.update(v.name for v in kept)
            if kept:
                yield replace(section, variables=kept)


def _conventional(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """A top-level gate's well-known names (DATABASE_URL), by the field they set."""
    if not issubclass(model, GateSettings):
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for variable, field in model.conventional_variables.items():
        found[field] = (*found.get(field, ()), variable)
    return found


def _values(instance: BaseModel) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in type(instance).model_fields}


def _declared_default(info: FieldInfo) -> Any:  # noqa: ANN401 - a default of any type
    if info.default_factory is not None:
        return info.get_default(call_default_factory=True, validated_data={})
    return info.default


def _env_part(name: str, info: FieldInfo) -> str:
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return alias or name


def _strip_optional(annotation: Any) -> tuple[Any, bool]:  # noqa: ANN401 - any annotation
    if get_origin(annotation) in {Union, types.UnionType}:
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(get_args(annotation))
        inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007 - built from a tuple
        return inner, optional
    return annotation, False


def _unannotated(annotation: Any) -> tuple[Any, list[Any]]:  # noqa: ANN401 - any annotation
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        return inner, metadata
    return annotation, []


def _models_in(annotation: Any) -> list[type[BaseModel]]:  # noqa: ANN401 - any annotation
    """The settings models a field nests: one, or each member of an optional/union."""
    inner, _ = _unannotated(annotation)
    candidates = get_args(inner) if get_origin(inner) in {Union, types.UnionType} else (inner,)
    return [
        candidate
        for candidate in (_unannotated(arg)[0] for arg in candidates)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel)
    ]


def _variable(  # noqa: PLR0913 - the pieces of one row, each needed
    model: type[BaseModel],
    name: str,
    info: FieldInfo,
    *,
    default: Any,  # noqa: ANN401 - a default of any type
    env_name: str,
    gate: str,
) -> Variable:
    inner, _ = _strip_optional(info.annotation)
    csv = any(item is NoDecode or isinstance(item, NoDecode) for item in info.metadata)
    secret = _is_secret(inner)
    required = default is PydanticUndefined
    generated = any(isinstance(item, GeneratedSecret) for item in info.metadata)
    shown = None if required or secret or default is None else env_text(default, csv=csv)
    type_text = ", ".join([_type_text(inner, csv=csv), *_constraints(inner, info.metadata)])
    examples = info.examples or []
    return Variable(
        name=env_name,
        gate=gate,
        type=type_text,
        secret=secret,
        default=shown,
        description=_description(model, name),
        required=required,
        development_default=secret and not required and _has_value(default),
        generated=generated,
        json=_is_container(inner) and not csv,
        example=env_text(examples[0], csv=csv) if examples else None,
    )


def _is_secret(annotation: Any) -> bool:  # noqa: ANN401 - any annotation
    inner, _ = _unannotated(annotation)
    return isinstance(inner, type) and issubclass(inner, SecretStr)


def _has_value(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return value is not None


def _is_container(annotation: Any) -> bool:  # noqa: ANN401 - any annotation
    inner, _ = _unannotated(annotation)
    return get_origin(inner) in {list, tuple, set, frozenset, dict} or inner in {list, dict}


def _description(model: type[BaseModel], name: str) -> str:
    """The field's description, or the one of the base model it overrides."""
    for cls in model.__mro__:
        if issubclass(cls, BaseModel) and name in cls.model_fields:
            description = cls.model_fields[name].description
            if description:
                return " ".join(description.split())
    return ""


def _summary(model: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring (never an inherited one)."""
    doc = inspect.cleandoc(model.__dict__.get("__doc__") or "")
    return " ".join(doc.split("\n\n", 1)[0].split())


def _choices(annotation: Any) -> list[str] | None:  # noqa: ANN401 - any annotation
    if get_origin(annotation) is Literal:
        return [str(arg) for arg in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return None


_SCALARS: dict[type, tuple[str, str]] = {
    bool: ("boolean", "booleans"),
    int: ("integer", "integers"),
    float: ("number", "numbers"),
    Decimal: ("decimal number", "decimal numbers"),
    str: ("string", "strings"),
    SecretStr: ("string, secret", "secret strings"),
}


def _noun(annotation: Any, *, plural: bool = False) -> str:  # noqa: ANN401 - any annotation
    inner, _ = _unannotated(annotation)
    choices = _choices(inner)
    if choices is not None:
        return "one of " + ", ".join(choices)
    if inner in _SCALARS:
        singular, several = _SCALARS[inner]
        return several if plural else singular
    if isinstance(inner, type) and issubclass(inner, AnyUrl):
        return "URLs" if plural else "URL"
    name = getattr(inner, "__name__", str(inner)).lower()
    return f"{name}s" if plural else name


def _type_text(annotation: Any, *, csv: bool) -> str:  # noqa: ANN401 - any annotation
    inner, _ = _unannotated(annotation)
    origin = get_origin(inner)
    if origin in {list, tuple, set, frozenset}:
        item = get_args(inner)[0] if get_args(inner) else str
        kind = "comma-separated list" if csv else "JSON list"
        choices = _choices(_unannotated(item)[0])
        if choices is not None:
            return f"{kind}, each one of {', '.join(choices)}"
        return f"{kind} of {_noun(item, plural=True)}"
    if origin is dict:
        key, value = get_args(inner) or (str, str)
        return f"JSON object: {_noun(key)} keys, values {_noun(value)}"
    return _noun(inner)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounds(metadata: Sequence[Any]) -> list[str]:
    lower = upper = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            lower = (_number(item.ge), True)
        elif isinstance(item, annotated_types.Gt):
            lower = (_number(item.gt), False)
        elif isinstance(item, annotated_types.Le):
            upper = (_number(item.le), True)
        elif isinstance(item, annotated_types.Lt):
            upper = (_number(item.lt), False)
    if lower and upper and lower[1] and upper[1]:
        return [f"{lower[0]} to {upper[0]}"]
    found = []
    if lower:
        found.append(f"{'>=' if lower[1] else '>'} {lower[0]}")
    if upper:
        found.append(f"{'<=' if upper[1] else '<'} {upper[0]}")
    return [" and ".join(found)] if found else []


def _lengths(annotation: Any, metadata: Sequence[Any]) -> list[str]:  # noqa: ANN401 - any annotation
    shortest = next((m.min_length for m in metadata if isinstance(m, annotated_types.MinLen)), None)
    longest = next((m.max_length for m in metadata if isinstance(m, annotated_types.MaxLen)), None)
    unit = "item" if _is_container(annotation) else "character"
    if shortest is not None and longest is not None:
        return [f"{shortest} to {longest} {unit}s"]
    if shortest is not None:
        return [f"at least {shortest} {unit}{'' if shortest == 1 else 's'}"]
    if longest is not None:
        return [f"at most {longest} {unit}{'' if longest == 1 else 's'}"]
    return []


def _constraints(annotation: Any, metadata: Sequence[Any]) -> list[str]:  # noqa: ANN401 - any annotation
    """Limits a value must respect, worth knowing before setting it."""
    found = [*_bounds(metadata), *_lengths(annotation, metadata)]
    for item in metadata:
        if isinstance(item, MinSecretLength):
            found.append(f"at least {item.characters} characters outside development")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            found.append(f"matching {pattern}")
        places = getattr(item, "decimal_places", None)
        if isinstance(places, int):
            found.append(f"at most {places} decimal places")
    return found


def env_text(value: object, *, csv: bool = False) -> str:
    """How a value is written in the environment so that it reads back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, (list, tuple, set, frozenset)) and csv:
        return ",".join(env_text(item) for item in value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return json.dumps(to_jsonable_python(value))
    return str(value)


# --- Markdown -----------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_default(variable: Variable) -> str:
    if variable.required:
        return "**required**"
    if variable.generated:
        return "generated into `.env`"
    if variable.development_default:
        return "*development default*"
    if variable.default is None:
        return "unset"
    if variable.default == "":
        return "empty"
    return f"`{_cell(variable.default)}`"


def _markdown_description(variable: Variable) -> str:
    parts = [variable.description]
    if variable.also_read_from:
        names = ", ".join(f"`{name}`" for name in variable.also_read_from)
        parts.append(f"Also read from {names} in the environment; `{variable.name}` wins.")
    if variable.example is not None:
        parts.append(f"Example: `{variable.example}`.")
    return _cell(" ".join(part for part in parts if part))


def markdown_blocks(found: Sequence[Section], command: str = COMMAND) -> list[tuple[str, str]]:
    """`docs/configuration.md` as keyed blocks (joined, they are the page).

    The keys name what each block describes, so the template can tell which
    parts belong to which answers.
    """
    blocks = [
        (
            "intro",
            (
                "# Configuration\n"
                "\n"
                f"<!-- Generated by `uv run {command} config-docs` from the settings model: edit\n"
                "     the model, then run it again. -->\n"
                "\n"
                "Every environment variable the service reads, with its type, its default and\n"
                "the gate that owns it. This page and `.env.example` are generated from the\n"
                f"settings model (`src/{command}/settings.py` and each gate's settings): after\n"
                f"changing a setting run `uv run {command} config-docs`, and\n"
                f"`uv run {command} config-docs --check` (also run by the test suite) fails while\n"
                "either file is out of date.\n"
                "\n"
                "Values come from the environment, then from `.env`. Nested settings use a double\n"
                "underscore: `SERVER__PORT` sets `settings.server.port`. Validate an environment\n"
                f"without starting the service: `uv run {command} check-config`.\n"
                "\n"
                "Secret values are never shown: *development default* means a value for\n"
                "development is built in and every other environment needs a real one;\n"
                "*generated into `.env`* means `copier copy` wrote a fresh random one there.\n"
            ),
        )
    ]
    for gate, members in _by_gate(found):
        blocks.append((f"gate:{gate}", f"\n## {gate}\n\n{members[0].summary}\n\n"))
        # One block per nested model: which of them exist may depend on the answers.
        blocks.extend(
            (f"nested:{member.prefix}", f"- `{member.prefix}`: {member.summary}\n")
            for member in members[1:]
        )
        blocks.append(
            (
                f"table:{gate}",
                ("\n" if len(members) > 1 else "")
                + "| Variable | Type | Default | Secret | Description |\n"
                "| --- | --- | --- | --- | --- |\n",
            )
        )
        blocks.extend(
            (
                f"row:{variable.name}",
                _row(variable),
            )
            for member in members
            for variable in member.variables
        )
    return blocks


def _row(variable: Variable) -> str:
    cells = [
        f"`{variable.name}`",
        _cell(variable.type),
        _markdown_default(variable),
        "yes" if variable.secret else "no",
        _markdown_description(variable),
    ]
    return f"| {' | '.join(cells)} |\n"


def render_markdown(found: Sequence[Section], command: str = COMMAND) -> str:
    return "".join(text for _, text in markdown_blocks(found, command))


def _by_gate(found: Sequence[Section]) -> list[tuple[str, list[Section]]]:
    grouped: dict[str, list[Section]] = {}
    for section in found:
        grouped.setdefault(section.gate, []).append(section)
    return list(grouped.items())


# --- .env.example -------------------------------------------------------------


def _comment(text: str) -> list[str]:
    return textwrap.wrap(
        text, width=ENV_WIDTH, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
    )


def _banner(label: str) -> str:
    return f"# --- {label} ".ljust(ENV_WIDTH, "-")


def _env_assignment(variable: Variable) -> str:
    if variable.generated:
        return f"{variable.name}={SECRET_MARKER}"
    if variable.commented_out:
        return f"# {variable.name}={variable.example or ''}"
    return f"{variable.name}={variable.example if variable.required else variable.default}"


def _env_notes(variable: Variable) -> str:
    notes = [f"Type: {variable.type}."]
    if variable.development_default:
        notes.append("Unset: a development default applies.")
    if variable.also_read_from:
        names = ", ".join(variable.also_read_from)
        notes.append(f"Also read from {names} in the environment (not .env); {variable.name} wins.")
    if variable.required:
        notes.append("Required.")
    return " ".join(notes)


def env_example_blocks(found: Sequence[Section], command: str = COMMAND) -> list[tuple[str, str]]:
    """`.env.example` as keyed blocks (joined, they are the file)."""
    blocks = [
        (
            "intro",
            (
                "# Configuration of the service: every environment variable it reads.\n"
                f"# Generated by `uv run {command} config-docs` from the settings model: edit the\n"
                "# model, then run it again. docs/configuration.md describes the same variables.\n"
                "# `copier copy` wrote .env from this file, with a fresh random value wherever it\n"
                f"# says {SECRET_MARKER}; .env is never committed. Lines left commented out keep\n"
                "# their default. Nested settings use a double underscore: SERVER__PORT sets\n"
                "# settings.server.port. Validate any environment without starting the service:\n"
                f"# `uv run {command} check-config`.\n"
            ),
        )
    ]
    for section in found:
        label = section.gate if section.prefix == "" else section.prefix
        lines = ["", _banner(label), *_comment(section.summary), ""]
        blocks.append((f"section:{label}", "\n".join(lines) + "\n"))
        blocks.extend(
            (
                f"variable:{variable.name}",
                "\n".join(
                    [
                        *_comment(variable.description),
                        *_comment(_env_notes(variable)),
                        _env_assignment(variable),
                    ]
                )
                + "\n",
            )
            for variable in section.variables
        )
    return blocks


def render_env_example(found: Sequence[Section], command: str = COMMAND) -> str:
    return "".join(text for _, text in env_example_blocks(found, command))


def rendered(root: Path, command: str = COMMAND) -> dict[Path, str]:
    """What each generated file must hold, by its path under `root`."""
    found = sections()
    return {
        root / MARKDOWN_PATH: render_markdown(found, command),
        root / ENV_EXAMPLE_PATH: render_env_example(found, command),
    }
