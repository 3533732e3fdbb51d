"""Where `/metrics` is served and how it is protected: `METRICS__*`.

Light on purpose: the settings root imports this module, and the container's
health check loads the settings every 15 seconds. It imports pydantic and the
package's light modules only, never fastapi or prometheus_client; the
exposition itself lives in `observability/prometheus.py`.

Two protections, either or both:

- a bearer token (`METRICS__TOKEN`): every scrape sends it, wherever `/metrics`
  is served;
- a port of its own (`METRICS__PORT`): `/metrics` leaves the app's port, so
  nothing that reaches the API (a load balancer, an ingress) reaches the
  metrics; the network keeps that port private.

Production refuses metrics that have neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pydantic import Field, SecretStr, field_validator

from ..gates import GateSettings, Refusal

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN_MIN_LENGTH: Final = 32


class MetricsSettings(GateSettings):
    """GET /metrics in Prometheus's text format, on the app's port or on one of its own."""

    enabled: bool = Field(default=True, description="Off: /metrics is served nowhere.")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scrape must send (Authorization: Bearer <token>), on "
        f"whichever port serves /metrics. At least {TOKEN_MIN_LENGTH} characters; required "
        "in production unless METRICS__PORT is set.",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port, by a listener of its own, and not on "
        "SERVER__PORT (it must differ). Keep it private: only Prometheus may reach it. "
        "Unset: /metrics is on SERVER__PORT.",
        examples=[9464],
    )
    host: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Bind address of METRICS__PORT. Unset: SERVER__HOST, so a container "
        "(0.0.0.0) can be scraped and a workstation (127.0.0.1) keeps it to itself.",
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < TOKEN_MIN_LENGTH:
            message = f"must be at least {TOKEN_MIN_LENGTH} characters"
            raise ValueError(message)
        return token

    def production_refusals(self) -> Iterator[Refusal]:
        if self.enabled and self.token is None and self.port is None:
            yield Refusal(
                "token",
                "is required in production when /metrics is on the app's port, or anyone "
                "who reaches the service reads its metrics; set METRICS__TOKEN, or "
                "METRICS__PORT to serve them on a private port, or METRICS__ENABLED=false",
            )

    @property
    def on_app_port(self) -> bool:
        """Whether the app itself answers GET /metrics (no port of its own)."""
        return self.enabled and self.port is None

    def listen_address(self, server_host: str) -> tuple[str, int] | None:
        """Where the metrics listener binds, or None when there is none."""
        if not self.enabled or self.port is None:
            return None
        return (self.host or server_host, self.port)

    def port_conflict(self, server_port: int) -> str | None:
        """Why METRICS__PORT cannot be `server_port`, or None when it is another port.

        Checked when settings are loaded (`config.load_settings`), across the two
        gates: each gate's model validates only its own fields.
        """
        if self.enabled and self.port == server_port:
            return (
                f"must differ from SERVER__PORT ({server_port}): the metrics get a "
                "listener of their own; unset METRICS__PORT to serve them on the app's port"
            )
        return None
