"""Render a service with the default answers and benchmark it side by side.

    uv run python bench/run.py

Prints the per-request cost of the generated service core next to a bare
FastAPI app serving the same endpoints, and their ratio, measured in one run.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from rendering import render_and_install


def main() -> int:
    scripts = ["asgi_overhead.py"]
    if shutil.which("wrk") is not None:
        scripts.append("http_overhead.py")
    else:
        print("wrk not found: skipping the HTTP benchmark (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as scratch:
        # The core alone: no credential check and no guardrail per request (those
        # have a benchmark of their own, guardrails.py).
        answers = ["auth=none", "rate_limit=false", "cost_cap=false", "idempotency=false"]
        service = render_and_install(Path(scratch), answers)
        for script in scripts:
            status = service.run_script(script)
            if status != 0:
                return status
        return 0


if __name__ == "__main__":
    sys.exit(main())
