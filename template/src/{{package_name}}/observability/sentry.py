"""Error tracking with Sentry: every unhandled error becomes one event.

The SDK is started by the lifespan only when a DSN is configured, and each
event passes the same redaction as the logs before it leaves the process.

Exactly one path reports errors: `report_unhandled_error`, called by the
request-context middleware for the request that failed. The SDK's own
capture points stay shut, or one failure would arrive several times: error
responses rendered by our handlers (a 503 while a provider is down) are
answers, not bugs; standard-library error records are already on the log
line. Request bodies, local variables and client addresses are never sent.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import urlsplit

import sentry_sdk
from pydantic import Field, SecretStr, field_validator, model_validator
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration

from ..gates import GateSettings, Refusal
from ..redaction import redact, redact_query

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from sentry_sdk.types import Event, Hint

# Seconds the SDK may take at shutdown to send what it still holds.
FLUSH_SECONDS: Final = 2.0
DSN_SHAPE: Final = "https://<public key>@<host>/<project id>"


class SentrySettings(GateSettings):
    """Error tracking: every unhandled error sent to Sentry as one event."""

    dsn: SecretStr | None = Field(
        default=None,
        description="Where events go (the project's DSN). Unset: error tracking is off; "
        "required in production.",
    )
    environment: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Environment name on each event. Unset: APP_ENV.",
    )
    traces_sample_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of requests sent as performance transactions (0 to 1).",
    )
    profiles_sample_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of sampled transactions that are also profiled (0 to 1).",
    )

    # The name Sentry's own tools and most platforms use.
    conventional_variables: ClassVar[dict[str, str]] = {"SENTRY_DSN": "dsn"}

    @field_validator("dsn")
    @classmethod
    def _is_a_dsn(cls, dsn: SecretStr | None) -> SecretStr | None:
        if dsn is not None and not is_dsn(dsn.get_secret_value()):
            # The value is never echoed: it is a credential for the project.
            message = f"must be a Sentry DSN such as {DSN_SHAPE}"
            raise ValueError(message)
        return dsn

    @model_validator(mode="after")
    def _profiles_need_traces(self) -> SentrySettings:
        if self.profiles_sample_rate > 0 and self.traces_sample_rate == 0:
            # Profiles are taken of sampled transactions only: without
            # transactions the setting would silently do nothing.
            message = "profiles_sample_rate needs traces_sample_rate above 0"
            raise ValueError(message)
        return self

    def production_refusals(self) -> Iterator[Refusal]:
        if self.dsn is None:
            yield Refusal(
                "dsn",
                "is required in production, or unhandled errors reach nobody; "
                "set SENTRY__DSN (or SENTRY_DSN)",
            )


def is_dsn(value: str) -> bool:
    """Whether `value` has a DSN's shape: http(s), a public key, a host, a project id."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        return False
    project = parts.path.rstrip("/").rpartition("/")[2]
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.username)
        and bool(parts.hostname)
        and (port is None or port > 0)
        and project.isdigit()
        and not parts.query
        and not parts.fragment
    )


def release_name(distribution: str, version: str, revision: str | None) -> str:
    """The release an event belongs to: `name@version`, plus `+commit` when the build knows it.

    The container build records its commit in APP_REVISION; events of two
    builds of one version are then told apart.
    """
    name = f"{distribution}@{version}"
    revision = (revision or "").strip()
    if revision and revision != "unknown":
        return f"{name}+{revision[:12]}"
    return name


def scrub(event: Event, _hint: Hint) -> Event:
    """`before_send`: mask secrets in the event with the log redaction's rules.

    The query string is the one place an event holds credentials the logs
    never see (the log line has the route template, not the URL).
    """
    scrubbed: Event = redact(event)
    request = scrubbed.get("request")
    query = request.get("query_string") if isinstance(request, dict) else None
    if isinstance(request, dict) and isinstance(query, str):
        request["query_string"] = redact_query(query)
    return scrubbed


@contextlib.contextmanager
def error_tracking(settings: SentrySettings, *, environment: str, release: str) -> Iterator[bool]:
    """Start the SDK for the life of the app when a DSN is set; yield whether it runs.

    On exit, queued events are sent (for at most `FLUSH_SECONDS`) and the SDK is
    stopped, so the next app in the same process (a test) starts without it.
    """
    if settings.dsn is None:
        yield False
        return
    # Our handlers' 5xx answers are not reported: see the module docstring.
    silent: set[int] = set()
    sentry_sdk.init(
        dsn=settings.dsn.get_secret_value(),
        environment=settings.environment or environment,
        release=release,
        traces_sample_rate=settings.traces_sample_rate,
        profiles_sample_rate=settings.profiles_sample_rate,
        # Nothing about the caller beyond the request line and safe headers:
        # no user identity, cookies, bodies, prompts, query data or local variables.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "gen_ai": {"inputs": False, "outputs": False},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        before_send=scrub,
        before_send_transaction=scrub,
        # Only the integrations named here: the automatic ones would add
        # trace headers to calls to the LLM providers.
        auto_enabling_integrations=False,
        integrations=[
            StarletteIntegration(transaction_style="url", failed_request_status_codes=silent),
            FastApiIntegration(transaction_style="url", failed_request_status_codes=silent),
            LoggingIntegration(level=None, event_level=None),
        ],
        shutdown_timeout=FLUSH_SECONDS,
    )
    try:
        yield True
    finally:
        client = sentry_sdk.get_client()
        client.close(timeout=FLUSH_SECONDS)
        sentry_sdk.get_global_scope().set_client(None)


def report_unhandled_error(error: BaseException, tags: Mapping[str, object]) -> str | None:
    """Send `error` with `tags` (request id, principal); its event id, or None when off."""
    return sentry_sdk.capture_exception(
        error, tags={key: str(value) for key, value in tags.items() if value is not None}
    )
