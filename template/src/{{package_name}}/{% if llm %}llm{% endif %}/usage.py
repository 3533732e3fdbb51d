"""One metered call to a provider: what the ledger, the metrics and the log line record."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..auth.principal import Principal


def caller_key(principal: Principal) -> str:
    """One caller of one tenant: what tokens per minute and the answer cache are kept per."""
    # The separator keeps ("ab", "c") apart from ("a", "bc").
    return f"{principal.tenant_id}\x1f{principal.subject}"


@dataclass(frozen=True, slots=True)
class UsageEntry:
    principal: str
    tenant: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: Decimal
    latency_ms: int
    # "ok", or the FailureKind of the call's last failure.
    outcome: str
    request_id: str | None


class UsageSink(Protocol):
    """Where usage entries go beyond metrics and the log (the database ledger)."""

    def record(self, entry: UsageEntry) -> None:
        """Accept `entry`; writing it must not delay the answer."""
        ...

    async def aclose(self) -> None:
        """Finish writing what was accepted."""
        ...
