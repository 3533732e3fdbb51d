"""Render the all-gates service and measure its guardrails against bare FastAPI.

    uv run python bench/guardrails.py [--breakdown]

Renders a service with the default answers (API keys, PostgreSQL, rate limit,
cost cap and idempotency all on), installs it with uv, and runs
`guardrails_overhead.py` in its environment against the local Redis and
PostgreSQL: throughput and latency of the guarded routes next to a bare
FastAPI app, then the exactness of each gate under concurrent requests.
Needs wrk (`apt-get install wrk`). BENCH_DATABASE_URL (a PostgreSQL URL
allowed to create databases) and BENCH_REDIS_URL point elsewhere than the
local defaults.
"""

import argparse
import sys

from rendering import load_rendered_with_wrk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also measure the service with each gate switched off in turn (about a minute more)",
    )
    args = parser.parse_args()
    arguments = ["--breakdown"] if args.breakdown else []
    return load_rendered_with_wrk("guardrails_overhead.py", arguments)


if __name__ == "__main__":
    sys.exit(main())
