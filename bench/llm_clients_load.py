"""Serve the upstream and each forwarder, load them with wrk, print the comparison.

Run by `llm_clients.py` in an environment that has every client installed.
"""

import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from llm_client_apps import COMPLETIONS_PATH
from processes import cpu_seconds, free_port, stop, wait_until_live

BENCH = Path(__file__).resolve().parent
CLIENTS = 64
ROUNDS = 5
SECONDS_PER_ROUND = 4
WARM_UP_SECONDS = 2
STARTUP_SECONDS = 30.0
OUTPUT_SHOWN = 5000  # bytes: the end of a server's output, where a start-up error is
FORWARDERS = {
    "aiohttp": "aiohttp_forwarder",
    "httpx": "httpx_forwarder",
    "httpx2": "httpx2_forwarder",
}
BODY = '{"model": "bench-model", "messages": [{"role": "user", "content": "What is 6 x 7?"}]}'


def post_script(body: str) -> str:
    """Return a wrk script that POSTs `body` (JSON without single quotes) with every request."""
    return f"""
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""


POST_SCRIPT = post_script(BODY)
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")
TOTAL = re.compile(r"(\d+) requests in")
PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")
MILLISECONDS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, slots=True)
class Sample:
    """What wrk measured in one round, and the server's CPU time per request."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failed: int
    requests: int = 0
    cpu_us: float = math.nan
    socket_errors: str = ""


@dataclass(frozen=True, slots=True)
class Served:
    """A uvicorn process serving one app."""

    url: str
    pid: int


@contextmanager
def serve(
    target: str, *, factory: bool, env: dict[str, str], cwd: Path | None = None
) -> Iterator[Served]:
    """Serve `target` with one uvicorn worker until the block ends.

    Its output (log lines, errors) is kept in a temporary file, shown if the app does not start.
    """
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--lifespan", "on"]
    if factory:
        command.append("--factory")
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env, "PYTHONPATH": str(BENCH)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_until_live(process, f"{url}/livez", STARTUP_SECONDS)
            except RuntimeError as error:
                output.seek(0)
                said = output.read()[-OUTPUT_SHOWN:].decode(errors="replace")
                message = f"{target}: {error}:\n{said}"
                raise RuntimeError(message) from None
            yield Served(url, process.pid)
        finally:
            stop(process)


def load(
    server: Served,
    script: Path,
    seconds: int,
    *,
    path: str = "/v1/chat",
    arguments: Sequence[str] = (),
) -> Sample:
    """Load `path` with wrk for `seconds`: 64 connections, requests from `script`.

    `arguments` go to the script's `init`.
    """
    command = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--latency", "-s", str(script)]
    command += [f"{server.url}{path}", "--", *arguments]
    cpu_before = cpu_seconds(server.pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(server.pid) - cpu_before
    # A forwarder that fails under load is a finding, not a crash of the benchmark.
    failed = NON_2XX.search(output)
    rate = REQUESTS_PER_SECOND.search(output)
    total = TOTAL.search(output)
    percentiles = {p: float(v) * MILLISECONDS[unit] for p, v, unit in PERCENTILE.findall(output)}
    if rate is None or total is None or set(percentiles) != {"50", "99"}:
        message = f"unexpected wrk output:\n{output}"
        raise RuntimeError(message)
    errors = SOCKET_ERRORS.search(output)
    requests = int(total.group(1))
    return Sample(
        float(rate.group(1)),
        percentiles["50"],
        percentiles["99"],
        int(failed.group(1)) if failed else 0,
        requests=requests,
        cpu_us=cpu / requests * 1e6 if requests else math.nan,
        socket_errors=errors.group(1) if errors else "",
    )


def main() -> int:
    delay_ms = float(os.environ.get("BENCH_UPSTREAM_DELAY", "0.1")) * 1000
    ideal = CLIENTS / (delay_ms / 1000)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(POST_SCRIPT)
        upstream = stack.enter_context(serve("llm_client_apps:upstream", factory=False, env={}))
        env = {"BENCH_UPSTREAM_URL": f"{upstream.url}{COMPLETIONS_PATH}"}
        servers = {
            name: stack.enter_context(serve(f"llm_client_apps:{factory}", factory=True, env=env))
            for name, factory in FORWARDERS.items()
        }
        for server in servers.values():
            load(server, script, WARM_UP_SECONDS)
        samples: dict[str, list[Sample]] = {name: [] for name in servers}
        for _ in range(ROUNDS):
            for name, server in servers.items():
                samples[name].append(load(server, script, SECONDS_PER_ROUND))
    print(
        f"median of {ROUNDS} rounds of {SECONDS_PER_ROUND}s, wrk -t2 -c{CLIENTS}, one uvicorn"
        f" worker per forwarder, upstream delay {delay_ms:g} ms, ideal {ideal:.0f} requests/s"
    )
    print(
        f"  {'forwarder':10} {'requests/s':>10} {'of ideal':>9} {'p50':>10} {'p99':>10}"
        f" {'added p50':>10} {'not 2xx':>8}"
    )
    for name, runs in samples.items():
        rate = statistics.median(s.requests_per_second for s in runs)
        p50 = statistics.median(s.p50_ms for s in runs)
        p99 = statistics.median(s.p99_ms for s in runs)
        print(
            f"  {name:10} {rate:10.0f} {rate / ideal:9.2f} {p50:7.2f} ms {p99:7.2f} ms"
            f" {p50 - delay_ms:7.2f} ms {sum(s.failed for s in runs):8d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
