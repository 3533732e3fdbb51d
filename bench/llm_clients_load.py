"""Serve the upstream and each forwarder, load them with wrk, print the comparison.

Run by `llm_clients.py` in an environment that has every client installed.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from processes import free_port, stop, wait_until_live

BENCH = Path(__file__).resolve().parent
CLIENTS = 64
ROUNDS = 5
SECONDS_PER_ROUND = 4
WARM_UP_SECONDS = 2
STARTUP_SECONDS = 30.0
FORWARDERS = {
    "aiohttp": "aiohttp_forwarder",
    "httpx": "httpx_forwarder",
    "httpx2": "httpx2_forwarder",
}
BODY = '{"model": "bench-model", "messages": [{"role": "user", "content": "What is 6 x 7?"}]}'
POST_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")
PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
MILLISECONDS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, slots=True)
class Sample:
    """What wrk measured in one round."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failed: int


@contextmanager
def serve(target: str, *, factory: bool, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", "--lifespan", "on"]
    if factory:
        command.append("--factory")
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "PYTHONPATH": str(BENCH)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(process, f"{url}/livez", STARTUP_SECONDS)
        yield url
    finally:
        stop(process)


def load(url: str, script: Path, seconds: int) -> Sample:
    command = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--latency", "-s", str(script)]
    output = subprocess.run(
        [*command, f"{url}/v1/chat"], capture_output=True, text=True, check=True
    ).stdout
    # A forwarder that fails under load is a finding, not a crash of the benchmark.
    failed = NON_2XX.search(output)
    rate = REQUESTS_PER_SECOND.search(output)
    percentiles = {p: float(v) * MILLISECONDS[unit] for p, v, unit in PERCENTILE.findall(output)}
    if rate is None or set(percentiles) != {"50", "99"}:
        message = f"unexpected wrk output:\n{output}"
        raise RuntimeError(message)
    return Sample(
        float(rate.group(1)),
        percentiles["50"],
        percentiles["99"],
        int(failed.group(1)) if failed else 0,
    )


def main() -> int:
    delay_ms = float(os.environ.get("BENCH_UPSTREAM_DELAY", "0.1")) * 1000
    ideal = CLIENTS / (delay_ms / 1000)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "post.lua"
        script.write_text(POST_SCRIPT)
        upstream = stack.enter_context(serve("llm_client_apps:upstream", factory=False, env={}))
        env = {"BENCH_UPSTREAM_URL": f"{upstream}/v1/chat/completions"}
        urls = {
            name: stack.enter_context(serve(f"llm_client_apps:{factory}", factory=True, env=env))
            for name, factory in FORWARDERS.items()
        }
        for url in urls.values():
            load(url, script, WARM_UP_SECONDS)
        samples: dict[str, list[Sample]] = {name: [] for name in urls}
        for _ in range(ROUNDS):
            for name, url in urls.items():
                samples[name].append(load(url, script, SECONDS_PER_ROUND))
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
