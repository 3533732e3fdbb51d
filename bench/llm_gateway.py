"""Render the LLM gateway with every guardrail on and measure it against a bare forwarder.

    uv run python bench/llm_gateway.py [--idempotency-key]

Renders a service with `auth=none`, no database, the default guardrails (rate
limit, cost cap, idempotency) and the LLM gateway with the OpenAI-compatible
provider, installs it with uv, and runs `llm_gateway_load.py` in its
environment: `POST /v1/chat` throughput and added latency at 64 connections
against an upstream that answers after 100 ms (`BENCH_UPSTREAM_DELAY`), next
to Little's law's ideal and a bare aiohttp forwarder. Needs wrk and Redis on
127.0.0.1:6379 (`BENCH_REDIS_URL` points elsewhere).
"""

import argparse
import sys

from rendering import load_rendered_with_wrk

ANSWERS = ["auth=none", "database=none", "llm=true", "llm_providers=[openai_compatible]"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--idempotency-key",
        action="store_true",
        help="also load the gateway with a fresh Idempotency-Key per request (a minute more)",
    )
    parser.add_argument(
        "--memory-store",
        action="store_true",
        help="also load the gateway with its guardrails on the in-process store (a minute more)",
    )
    args = parser.parse_args()
    arguments = [f"--{name.replace('_', '-')}" for name, on in vars(args).items() if on]
    return load_rendered_with_wrk("llm_gateway_load.py", arguments, ANSWERS)


if __name__ == "__main__":
    sys.exit(main())
