"""Settings of the guardrails' shared store (`STORE__*`)."""

from collections.abc import Iterator
from enum import StrEnum
from typing import ClassVar, Literal, Self

from pydantic import Field, SecretStr, model_validator

from ..gates import GateSettings, Refusal


class OnStoreFailure(StrEnum):
    """What a gate does while its store cannot be reached.

    open: let the request through unguarded (availability first).
    closed: refuse it with 503 and `Retry-After` (protection first).
    """

    OPEN = "open"
    CLOSED = "closed"


class StoreSettings(GateSettings):
    """Where the guardrails keep their shared state: limits, budgets, idempotency keys."""

    backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory: per process, for development and tests (refused in production). "
        "redis: shared by every process and replica.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://[:password@]host:6379/0, or rediss:// for TLS. Required with "
        "backend=redis.",
        examples=["redis://127.0.0.1:6379/0"],
    )
    timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        le=10,
        description="Upper bound of every store call, connecting included; past it the gate "
        "applies its store-failure policy.",
    )
    max_connections: int = Field(
        default=64, ge=1, le=10_000, description="Open connections to Redis per process."
    )
    failure_log_interval_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="While the store is down, its failure is logged at most once per interval "
        "per gate; every failure is still counted.",
    )

    conventional_variables: ClassVar[dict[str, str]] = {"REDIS_URL": "redis_url"}

    @model_validator(mode="after")
    def _redis_needs_url(self) -> Self:
        if self.backend == "redis" and self.redis_url is None:
            message = "backend=redis needs redis_url (STORE__REDIS_URL or REDIS_URL)"
            raise ValueError(message)
        if self.redis_url is not None and not self.redis_url.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            message = "redis_url must start with redis://, rediss:// or unix://"
            raise ValueError(message)
        return self

    def production_refusals(self) -> Iterator[Refusal]:
        if self.backend == "memory":
            yield Refusal("backend", "the memory store is per process; use redis in production")
