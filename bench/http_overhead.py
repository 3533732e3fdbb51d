"""Measure the service core over real HTTP: uvicorn + wrk, side by side.

Runs inside a generated project's environment (see `run.py`). Two uvicorn
processes serve the same routers: a bare FastAPI app and `create_app` in
production mode (canonical JSON log line written to /dev/null). wrk loads each
in turn, alternating rounds, and the requests per second are compared.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from asgi_overhead import baseline_app, service_app
from processes import free_port, stop, wait_until_live

if TYPE_CHECKING:
    from fastapi import FastAPI

ROUNDS = 5
SECONDS_PER_ROUND = 4
CONNECTIONS = 32
STARTUP_SECONDS = 30.0
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")


def bare() -> FastAPI:
    return baseline_app(os.environ["BENCH_PACKAGE"])


def core() -> FastAPI:
    # The canonical line is rendered and written, to a sink that never fills up.
    sink = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115 - open for the process's life
    return service_app(os.environ["BENCH_PACKAGE"], log_stream=sink)


def start(factory: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "--factory", f"http_overhead:{factory}"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_live(process, f"http://127.0.0.1:{port}/livez", STARTUP_SECONDS)
    except RuntimeError:
        process.kill()
        raise
    return process


def load(port: int, seconds: int) -> float:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", f"http://127.0.0.1:{port}/livez"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = REQUESTS_PER_SECOND.search(result.stdout)
    if found is None:
        message = f"no Requests/sec in wrk's output:\n{result.stdout}"
        raise RuntimeError(message)
    return float(found.group(1))


def main() -> None:
    ports = {"bare FastAPI": free_port(), "launchgate core": free_port()}
    processes = [
        start(factory, port) for factory, port in zip(("bare", "core"), ports.values(), strict=True)
    ]
    try:
        for port in ports.values():
            load(port, 2)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in ports}
        for _ in range(ROUNDS):
            for name, port in ports.items():
                samples[name].append(load(port, SECONDS_PER_ROUND))
    finally:
        for process in processes:
            stop(process)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"median of {ROUNDS} rounds of {SECONDS_PER_ROUND}s, wrk -c{CONNECTIONS} GET /livez")
    for name, median in medians.items():
        print(f"  {name:16s} {median:10.0f} requests/s")
    ratio = medians["bare FastAPI"] / medians["launchgate core"]
    print(f"  {'cost ratio':16s} {ratio:10.2f}x  (bare throughput / core throughput)")


if __name__ == "__main__":
    main()
