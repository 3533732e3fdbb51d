"""How `/metrics` is protected: `METRICS__*`.

Light on purpose: the settings root imports this module, and the container's
health check loads the settings every 15 seconds. It imports pydantic and the
package's light modules only, never fastapi or prometheus_client; the
exposition itself lives in `observability/prometheus.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pydantic import Field, SecretStr, field_validator

from ..gates import GateSettings, Refusal

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN_MIN_LENGTH: Final = 32


class MetricsSettings(GateSettings):
    """GET /metrics in Prometheus's text format."""

    enabled: bool = Field(default=True, description="Off: no /metrics route.")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scrape must send (Authorization: Bearer <token>). "
        f"At least {TOKEN_MIN_LENGTH} characters; required in production.",
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < TOKEN_MIN_LENGTH:
            message = f"must be at least {TOKEN_MIN_LENGTH} characters"
            raise ValueError(message)
        return token

    def production_refusals(self) -> Iterator[Refusal]:
        if self.enabled and self.token is None:
            yield Refusal(
                "token",
                "is required in production, or anyone who reaches the service reads its "
                "metrics; set METRICS__TOKEN, or METRICS__ENABLED=false",
            )
