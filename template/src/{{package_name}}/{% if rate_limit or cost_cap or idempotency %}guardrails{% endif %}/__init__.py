"""Guardrails: rate limits, daily cost caps and idempotency keys.

Their shared state lives in a `Store` (`store.py`): Redis in staging and
production, so limits hold across every process and replica, and memory for
development and unit tests. Each gate decides, by its own settings, whether
it fails open or closed when the store cannot be reached.
"""
