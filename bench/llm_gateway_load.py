"""Load the generated LLM gateway and a bare forwarder in turn, print the comparison.

Run by `llm_gateway.py` in the generated project's environment (it has
FastAPI, uvicorn and aiohttp). One upstream (`llm_client_apps.upstream`)
answers every chat completion after the delay; the service's `POST /v1/chat`
calls it through the OpenAI-compatible provider with every guardrail on, the
bare forwarder relays its request body to it and nothing else.
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from guardrails_overhead import HIGH_LIMITS
from guardrails_service import DEFAULT_REDIS_URL, forget_keys
from llm_client_apps import COMPLETIONS_PATH
from llm_clients_load import (
    CLIENTS,
    ROUNDS,
    SECONDS_PER_ROUND,
    WARM_UP_SECONDS,
    Sample,
    Served,
    load,
    post_script,
    serve,
)

MESSAGES = [{"role": "user", "content": "Say hello in one short sentence."}]
# What a client sends the gateway.
GATEWAY_BODY = json.dumps({"messages": MESSAGES})
# The forwarder relays its body as it is, so it is given what the gateway
# sends upstream for the same chat: the one thing it does not do is translate.
FORWARDER_BODY = json.dumps(
    {"model": "bench-model", "messages": MESSAGES, "max_tokens": 1024, "stream": False}
)
# A fresh Idempotency-Key per request (`--idempotency-key`): unique to the
# round (the argument after `--`), the wrk thread and the request.
IDEMPOTENT_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread", threads)
end
local prefix, sent = "", 0
function init(args) prefix = args[1] .. "-" .. thread end
function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. sent
  return wrk.format()
end
"""
API_KEY = "bench-key-0123456789"
# Every limit is checked on every request and none is ever reached.
GATEWAY_LIMITS = {
    **HIGH_LIMITS,
    # The most a rate accepts (1,000,000 per second of its window); the run
    # spends about 40 million a minute (640 requests/s, 1024 output tokens each).
    "LLM__TOKENS_PER_MINUTE": "60000000",
}
TARGET_ADDED_P50_MS = 5.0
TARGET_OF_FORWARDER = 0.85
PROBE_TIMEOUT_SECONDS = 10.0
OK = 200


@dataclass(frozen=True, slots=True)
class App:
    """One row of the report: a server and the requests wrk sends it."""

    name: str
    server: Served
    script: Path
    samples: list[Sample] = field(default_factory=list)
    upstream_calls: list[int] = field(default_factory=list)


def upstream_calls(upstream: Served) -> int:
    """How many completions the upstream has answered so far."""
    with urllib.request.urlopen(f"{upstream.url}/calls", timeout=PROBE_TIMEOUT_SECONDS) as answer:  # noqa: S310 - our own server on loopback
        calls: int = json.load(answer)["calls"]
        return calls


def probe(app: App, body: str) -> bool:
    """Send one chat request; True if it was answered 200 with JSON, else say what came."""
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        f"{app.server.url}/v1/chat",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_SECONDS) as answer:  # noqa: S310 - our own server on loopback
            status, content = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, content = error.code, error.read()
    try:
        document = json.loads(content)
    except ValueError:
        status = -status  # not JSON: reported below like a wrong status
    if status == OK:
        if isinstance(document, dict) and "provider" in document:
            shown = {key: document.get(key) for key in ("provider", "model", "tier", "cached")}
            print(f"  {app.name} answers: {shown}")
        return True
    print(f"  !! {app.name}: POST /v1/chat answered {abs(status)}: {content[:500]!r}")
    return False


def gateway_environment(prefix: str, redis_url: str, upstream: Served) -> dict[str, str]:
    """Return the service's variables: staging, Redis keys under `prefix`, upstream as OpenAI."""
    return {
        # Staging, as in the other benchmarks: production's work per request
        # without the checks meant for a real deployment.
        "APP_ENV": "staging",
        "SERVICE_NAME": f"{prefix}-gateway",
        "SECURITY__SECRET_KEY": secrets.token_urlsafe(48),
        "STORE__BACKEND": "redis",
        "STORE__REDIS_URL": redis_url,
        "LOG__FORMAT": "json",
        **GATEWAY_LIMITS,
        "LLM__PROVIDERS": "openai",
        # The provider appends /chat/completions.
        "LLM__OPENAI__BASE_URL": f"{upstream.url}/v1",
        "LLM__OPENAI__API_KEY": API_KEY,
        # Always the standard model: the short benchmark prompt would go to the economy one.
        "LLM__ROUTING__ECONOMY_BELOW_TOKENS": "0",
    }


@contextmanager
def redis_keys(redis_url: str) -> Iterator[str]:
    """Yield a prefix for the run's Redis keys; they are deleted at the end, whatever happened."""
    prefix = f"bench-llm-{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        removed = asyncio.run(forget_keys(redis_url, prefix))
        print(f"cleaned up: {removed} Redis keys deleted")


def measure(apps: Sequence[App], upstream: Served) -> None:
    """Load each app in turn, alternating; a warm-up round first is not counted."""
    for round_number in range(ROUNDS + 1):
        for app in apps:
            seconds = WARM_UP_SECONDS if round_number == 0 else SECONDS_PER_ROUND
            tag = f"{app.name}-{round_number}-{secrets.token_hex(4)}".replace(" ", "-")
            before = upstream_calls(upstream)
            sample = load(app.server, app.script, seconds, arguments=[tag])
            app.samples.append(sample)
            app.upstream_calls.append(upstream_calls(upstream) - before)


def report(apps: Sequence[App], delay_ms: float) -> bool:
    """Print the medians, ratios and targets; False if any answer was wrong."""
    ideal = CLIENTS / (delay_ms / 1000)
    print(
        f"POST /v1/chat, median of {ROUNDS} rounds of {SECONDS_PER_ROUND}s, wrk -t2 -c{CLIENTS}"
        f" --latency, one uvicorn worker per app, alternating rounds; upstream delay"
        f" {delay_ms:g} ms, ideal {ideal:.0f} requests/s ({CLIENTS} / {delay_ms / 1000:g} s)"
    )
    print(
        f"  {'':26} {'requests/s':>10} {'of ideal':>8} {'p50':>9} {'p99':>9} {'added p50':>9}"
        f" {'added p99':>9} {'server CPU':>13} {'calls/answer':>12} {'not 2xx':>7}"
    )
    rates: dict[str, float] = {}
    added_p50: dict[str, float] = {}
    correct = True
    for app in apps:
        measured = app.samples[1:]  # the warm-up is checked, not counted
        rate = statistics.median(s.requests_per_second for s in measured)
        p50 = statistics.median(s.p50_ms for s in measured)
        p99 = statistics.median(s.p99_ms for s in measured)
        cpu = statistics.median(s.cpu_us for s in measured)
        calls = statistics.median(
            c / s.requests for c, s in zip(app.upstream_calls[1:], measured, strict=True)
        )
        failed = sum(s.failed for s in app.samples)
        rates[app.name], added_p50[app.name] = rate, p50 - delay_ms
        print(
            f"  {app.name:26} {rate:10.0f} {rate / ideal:8.2f} {p50:6.2f} ms {p99:6.2f} ms"
            f" {p50 - delay_ms:6.2f} ms {p99 - delay_ms:6.2f} ms {cpu:6.0f} us/req"
            f" {calls:12.2f} {failed:7d}"
        )
        for sample in app.samples:
            if sample.socket_errors:
                print(f"    ({app.name}: wrk socket errors: {sample.socket_errors})")
        if failed:
            correct = False
            print(f"  !! {app.name}: {failed} answers were not 2xx: not measured as speed")
        # Every answer was one upstream call at least (wrk cuts off the last in
        # flight, which the upstream may still count): fewer means a cache or
        # the fake provider answered, and the upstream's delay was not measured.
        if any(c < s.requests for c, s in zip(app.upstream_calls, app.samples, strict=True)):
            correct = False
            print(f"  !! {app.name}: fewer upstream calls than answers")
    forwarder, gateway = rates["forwarder"], rates["gateway"]
    of_forwarder = gateway / forwarder
    added = added_p50["gateway"]
    print(f"  gateway / ideal      {gateway / ideal:5.2f}")
    print(f"  forwarder / ideal    {forwarder / ideal:5.2f}")
    for name in [name for name in rates if name not in {"forwarder", "gateway"}]:
        print(
            f"  ({name}: {rates[name] / forwarder:.2f} of the forwarder,"
            f" added p50 {added_p50[name]:.2f} ms)"
        )
    print(
        f"  gateway / forwarder  {of_forwarder:5.2f}   target >= {TARGET_OF_FORWARDER}:"
        f" {'met' if of_forwarder >= TARGET_OF_FORWARDER else 'NOT MET'}"
    )
    print(
        f"  gateway added p50 {added:6.2f} ms  target < {TARGET_ADDED_P50_MS:g} ms:"
        f" {'met' if added < TARGET_ADDED_P50_MS else 'NOT MET'}"
        f" (forwarder {added_p50['forwarder']:.2f} ms)"
    )
    return correct


def main() -> int:
    try:
        return run()
    except RuntimeError as error:  # a server that did not start, wrk output not understood
        print(f"!! {error}")
        return 1


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("package")
    parser.add_argument(
        "--idempotency-key",
        action="store_true",
        help="also load the gateway with a fresh Idempotency-Key per request",
    )
    parser.add_argument(
        "--memory-store",
        action="store_true",
        help="also load the gateway with its guardrails on the in-process store (no Redis)",
    )
    args = parser.parse_args()
    delay_ms = float(os.environ.get("BENCH_UPSTREAM_DELAY", "0.1")) * 1000
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    with (
        tempfile.TemporaryDirectory() as scratch,
        redis_keys(redis_url) as prefix,
        ExitStack() as stack,
    ):
        folder = Path(scratch)
        forwarder_script, gateway_script = folder / "forwarder.lua", folder / "gateway.lua"
        forwarder_script.write_text(post_script(FORWARDER_BODY))
        gateway_script.write_text(post_script(GATEWAY_BODY))
        upstream = stack.enter_context(serve("llm_client_apps:upstream", factory=False, env={}))
        forwarder_env = {"BENCH_UPSTREAM_URL": f"{upstream.url}{COMPLETIONS_PATH}"}
        forwarder = stack.enter_context(
            serve("llm_client_apps:aiohttp_forwarder", factory=True, env=forwarder_env)
        )
        gateway = stack.enter_context(
            serve(
                f"{args.package}.app:create_app_from_environment",
                factory=True,
                env=gateway_environment(prefix, redis_url, upstream),
                cwd=folder,  # no .env there: only the variables given here count
            )
        )
        apps = [
            App("forwarder", forwarder, forwarder_script),
            App("gateway", gateway, gateway_script),
        ]
        if args.memory_store:
            # Every gate does the same work, with no round trip to Redis: the
            # difference from the row above is what the shared store costs.
            in_process = stack.enter_context(
                serve(
                    f"{args.package}.app:create_app_from_environment",
                    factory=True,
                    env={
                        **gateway_environment(prefix, redis_url, upstream),
                        "STORE__BACKEND": "memory",
                    },
                    cwd=folder,
                )
            )
            apps.append(App("gateway, in-process store", in_process, gateway_script))
        if args.idempotency_key:
            idempotent_script = folder / "idempotent.lua"
            idempotent_script.write_text(post_script(GATEWAY_BODY) + IDEMPOTENT_SCRIPT)
            apps.append(App("gateway + Idempotency-Key", gateway, idempotent_script))
        # One request each first: a misconfiguration says what it is, once.
        if not all([probe(apps[0], FORWARDER_BODY), probe(apps[1], GATEWAY_BODY)]):
            return 1
        measure(apps, upstream)
        return 0 if report(apps, delay_ms) else 1


if __name__ == "__main__":
    sys.exit(main())
