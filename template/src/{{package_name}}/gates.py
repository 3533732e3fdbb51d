"""What every gate's settings model is built from.

A gate (the core, the database, later the guardrails and the LLM gateway)
describes its settings as a `GateSettings` subclass nested in the root
`Settings`. This module holds the pieces they share, so a gate's own module
never needs to import the root settings.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, ClassVar, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_settings import NoDecode


class Refusal(NamedTuple):
    """A value the current environment does not accept, with the reason why."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class MinSecretLength:
    """Field marker: outside development the secret needs at least this many characters.

    Development keeps working with no secrets at all, as a fresh clone must;
    test, staging and production refuse a secret too short to resist guessing.
    """

    characters: int


@dataclass(frozen=True, slots=True)
class GeneratedSecret:
    """Field marker: a secret only this service uses, so any long random value will do.

    `.env.example` writes `<generated-secret>` for it, and `copier copy` fills
    a fresh random value into `.env`. Secrets that come from elsewhere (a
    provider's API key, a database password) are not marked.
    """


class GateSettings(BaseModel):
    """Base of every gate's settings model.

    Unknown keys are errors, so a typo such as `HTTP__MAX_BODDY_BYTES` fails
    loudly instead of silently keeping the default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Well-known variable names platforms set (e.g. DATABASE_URL), mapped to a
    # field of this gate. The nested name (DATABASE__URL) still wins when both exist.
    conventional_variables: ClassVar[dict[str, str]] = {}

    def production_refusals(self) -> Iterator[Refusal]:
        """Yield each embedded development default this gate refuses in production."""
        yield from ()


def split_csv(value: object) -> object:
    """Accept `a,b` from the environment as well as a real list from code."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# NoDecode: the environment gives `a,b`, not JSON; BeforeValidator splits it.
CsvList = Annotated[list[str], NoDecode, BeforeValidator(split_csv)]
