"""Counters of what the guardrails decide, on a registry the app owns.

The registry is created by the lifespan, never at import time, so every app
(and every test) counts on its own; the operations gate serves it on /metrics.
"""

from dataclasses import dataclass
from typing import Self

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True, slots=True)
class GuardrailMetrics:
    registry: CollectorRegistry
    decisions: Counter
    store_failures: Counter
    budget_warnings: Counter
    budget_refusals: Counter
    budget_used_ratio: Gauge
    budget_degraded: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Self:
        registry = registry or CollectorRegistry()
        return cls(
            registry=registry,
            decisions=Counter(
                "guardrail_decisions",
                "Guardrail decisions by gate and outcome.",
                ["gate", "outcome"],
                registry=registry,
            ),
            store_failures=Counter(
                "guardrail_store_failures",
                "Store calls that failed or timed out, by gate.",
                ["gate"],
                registry=registry,
            ),
            budget_warnings=Counter(
                "guardrail_budget_warnings",
                "Budgets that crossed their warning ratio, once per budget and period.",
                ["scope"],
                registry=registry,
            ),
            budget_refusals=Counter(
                "guardrail_budget_refusals",
                "Reservations refused, by the budget that could not cover them.",
                ["scope"],
                registry=registry,
            ),
            budget_used_ratio=Gauge(
                "guardrail_budget_used_ratio",
                "Share of the budget committed (spent + reserved) this period. Only the "
                "service-wide budget (scope=service): the others are one per caller.",
                ["scope"],
                registry=registry,
                # Several workers: the latest value any of them read from the store is
                # the budget now; "max" would keep yesterday's level after the reset.
                multiprocess_mode="mostrecent",
            ),
            budget_degraded=Gauge(
                "guardrail_budget_degraded",
                "1 while the service-wide budget is past its degrade ratio.",
                registry=registry,
                # Several workers: 1 when any of them saw the budget degraded.
                multiprocess_mode="max",
            ),
        )

    def decided(self, gate: str, outcome: str) -> None:
        self.decisions.labels(gate, outcome).inc()

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when never set): for tests and diagnostics."""
        sample = self.registry.get_sample_value(name, labels or {})
        return sample or 0.0
