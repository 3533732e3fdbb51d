"""What the gateway counts: calls, tokens, cost and breaker states, on the app's registry.

Labels are bounded: providers and models come from settings, outcomes from
`FailureKind` plus "ok", never from a request.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Self

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Upstream latencies: from a fast cache-warm answer to a long generation.
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)


@dataclass(frozen=True, slots=True)
class LlmMetrics:
    registry: CollectorRegistry
    calls: Counter
    call_seconds: Histogram
    tokens: Counter
    cost: Counter
    breaker_state: Gauge
    chats: Counter
    ledger_failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Self:
        registry = registry or CollectorRegistry()
        return cls(
            registry=registry,
            calls=Counter(
                "llm_upstream_calls",
                "Attempts to call a provider, by provider, model and outcome.",
                ["provider", "model", "outcome"],
                registry=registry,
            ),
            call_seconds=Histogram(
                "llm_upstream_call_seconds",
                "Duration of each attempt to call a provider.",
                ["provider", "outcome"],
                buckets=_BUCKETS,
                registry=registry,
            ),
            tokens=Counter(
                "llm_tokens",
                "Tokens the providers counted, by direction (input, output).",
                ["provider", "model", "direction"],
                registry=registry,
            ),
            cost=Counter(
                "llm_cost",
                "Cost settled for answered calls, in the cost cap's unit.",
                ["provider", "model"],
                registry=registry,
            ),
            breaker_state=Gauge(
                "llm_breaker_state",
                "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
                ["provider"],
                registry=registry,
                # Several workers each keep a breaker: the most open one shows.
                multiprocess_mode="max",
            ),
            chats=Counter(
                "llm_chat_requests",
                "Chat requests by outcome (ok, cached, prompt_too_large, upstream_failed, ...).",
                ["outcome"],
                registry=registry,
            ),
            ledger_failures=Counter(
                "llm_ledger_failures",
                "Usage records the ledger could not write (the log line still has them).",
                registry=registry,
            ),
        )

    def attempt(self, provider: str, model: str, outcome: str, seconds: float) -> None:
        self.calls.labels(provider, model, outcome).inc()
        self.call_seconds.labels(provider, outcome).observe(seconds)

    def breaker_changed(self, provider: str, state: str) -> None:
        self.breaker_state.labels(provider).set(_BREAKER_LEVELS.get(state, 0))

    def usage(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, cost: Decimal
    ) -> None:
        self.tokens.labels(provider, model, "input").inc(input_tokens)
        self.tokens.labels(provider, model, "output").inc(output_tokens)
        self.cost.labels(provider, model).inc(float(cost))

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when never set): for tests and diagnostics."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0


_BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}
