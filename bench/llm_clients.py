"""Measure HTTP clients as an LLM gateway would use them, against an upstream with a delay.

    uv run python bench/llm_clients.py

An upstream answers every chat completion after 100 ms (`BENCH_UPSTREAM_DELAY`).
Forwarders that differ only in their HTTP client (aiohttp, httpx, httpx2)
relay `POST /v1/chat` to it, each in one uvicorn worker; wrk loads each with
64 connections in turn, alternating rounds. Little's law gives the ideal:
64 / 0.1 s = 640 requests/s. Prints each forwarder's throughput, its ratio to
the ideal, and the latency it adds over the upstream's delay. Needs wrk.

The clients are installed in a throwaway environment by uv; this project's
own environment stays as it is.
"""

import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PACKAGES = ["fastapi", "uvicorn[standard]", "aiohttp", "httpx", "httpx2"]


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk")
        return 1
    command = ["uv", "run", "--isolated", "--no-project", "--python", sys.executable]
    for package in PACKAGES:
        command += ["--with", package]
    command += ["python", str(BENCH / "llm_clients_load.py")]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
