"""Load settings from the environment and explain every problem at once."""

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from .settings import Settings

ENV_NESTED_DELIMITER = "__"


class ConfigurationError(Exception):
    """The environment does not describe a valid configuration.

    `problems` holds one line per problem, each naming the environment
    variable to fix. No line contains a configured value, so the message is
    safe to print even when the bad value is a secret.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"invalid configuration: {count} {noun}"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


def env_var_name(location: tuple[int | str, ...]) -> str:
    """Map a pydantic error location to the environment variable that sets it.

    `("server", "port")` becomes `SERVER__PORT`; list positions are shown as
    an index, e.g. `HTTP__CORS_ALLOW_ORIGINS[1]`.
    """
    names = [part.upper() for part in location if isinstance(part, str)]
    indexes = "".join(f"[{part}]" for part in location if isinstance(part, int))
    return (ENV_NESTED_DELIMITER.join(names) or "SETTINGS") + indexes


def describe(error: ValidationError) -> list[str]:
    """One line per error: variable name and message, never the input value."""
    return [
        # "Value error, " is pydantic's wrapping of a validator's ValueError: noise here.
        f"{env_var_name(item['loc'])}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors(include_input=False, include_url=False, include_context=False)
    ]


def load_settings(env_file: Path | None = Path(".env")) -> Settings:
    """Build settings from the environment (and `env_file` when it exists).

    Raises:
        ConfigurationError: listing every problem found.
    """
    try:
        settings = Settings(_env_file=env_file)
    except ValidationError as error:
        raise ConfigurationError(describe(error)) from None
    except SettingsError as error:
        # Raised for a value that cannot be decoded at all (e.g. bad JSON); its
        # message names the field and source but not the value.
        raise ConfigurationError([str(error)]) from None
    problems = cross_gate_problems(settings)
    if problems:
        raise ConfigurationError(problems)
    return settings


def cross_gate_problems(settings: Settings) -> list[str]:
    """What no single gate can see: settings of two gates that do not go together."""
    conflict = settings.metrics.port_conflict(settings.server.port)
    return [] if conflict is None else [f"METRICS__PORT: {conflict}"]
