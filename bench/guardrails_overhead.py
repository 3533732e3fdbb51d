"""Measure the guardrails over real HTTP: every gate on, against bare FastAPI.

Runs inside the generated project's environment (see `guardrails.py`). One
uvicorn worker serves the all-gates service (API key, rate limit, cost
reservation, idempotency key, all backed by Redis), another a bare FastAPI
app with the same routes and models and nothing else. wrk loads each in turn,
alternating rounds, and the medians are compared. During the load the limits
and budgets are high enough never to refuse, so both apps do the same work,
yet every request still consumes from them. Then small limits show that the
gates enforce exactly what they are configured to.
"""

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import Depends, FastAPI, Request, Response
from guardrails_exactness import (
    check_budget,
    check_idempotency,
    check_rate_limit,
    item_cost,
    read_budget,
    send,
)
from guardrails_service import Run, Server, serve

CONNECTIONS = 32
ROUNDS = 5
SECONDS_PER_ROUND = 3
WARM_UP_SECONDS = 2
BODY = '{"name": "widget", "quantity": 3, "tags": ["a", "b"]}'
BARE_TENANT = "bench"
# Enforced on every request, never reached by a few seconds of load.
HIGH_LIMITS = {
    "RATE_LIMIT__LIMITS": "100000000/hour",
    "RATE_LIMIT__GLOBAL_LIMITS": "100000000/hour",
    "COST_CAP__PRINCIPAL_DAILY_LIMIT": "1000000",
    "COST_CAP__TENANT_DAILY_LIMIT": "1000000",
    "COST_CAP__SERVICE_DAILY_LIMIT": "1000000",
}
# `--breakdown`: the same service with one gate switched off at a time.
WITHOUT = {
    "no rate limit": {"RATE_LIMIT__ENABLED": "false"},
    "no cost cap": {"COST_CAP__ENABLED": "false"},
    "no idempotency": {"IDEMPOTENCY__ENABLED": "false"},
    "auth only": {
        "RATE_LIMIT__ENABLED": "false",
        "COST_CAP__ENABLED": "false",
        "IDEMPOTENCY__ENABLED": "false",
    },
}
# Counts the answers by status; `done` prints them for `load` to read.
STATUS_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
statuses = {}
function response(status) statuses[status] = (statuses[status] or 0) + 1 end
function done()
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d: %d\\n", status, count))
    end
  end
end
"""
# Each request gets an Idempotency-Key of its own, so none is a cheap replay;
# the first argument after `--` makes the keys unique to the round.
POST_SCRIPT = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
local prefix, sent = "", 0
function init(args) prefix = args[1] end
function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = prefix .. "-" .. sent
  return wrk.format()
end
"""
REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([\d.]+)")
TOTAL = re.compile(r"(\d+) requests in")
PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
STATUS = re.compile(r"^status (\d+): (\d+)$", re.MULTILINE)
SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")
MILLISECONDS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
OK_STATUSES = range(200, 300)


class ItemStore(Protocol):
    """What the bare app uses of the example item store."""

    async def add(self, tenant_id: str, new: Any) -> Any:  # noqa: ANN401 - the package's models, imported at run time
        """Store a new item."""

    async def get(self, tenant_id: str, item_id: UUID) -> Any:  # noqa: ANN401 - the package's models, imported at run time
        """Find an item, or None."""


def bare() -> FastAPI:
    """Serve the example routes with FastAPI alone: same models and store, nothing else.

    No middleware, no authentication, no Redis: the handlers validate the
    same request model, store the item in the same store and serialise the
    same response model.
    """
    examples = import_module(f"{os.environ['BENCH_PACKAGE']}.api.examples")
    item_create = examples.ItemCreate

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"item_store": examples.ItemStore()}

    async def get_item_store(request: Request) -> ItemStore:
        store: ItemStore = request.state.item_store
        return store

    store_dependency = Annotated[ItemStore, Depends(get_item_store)]

    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    async def create_item(
        payload: item_create,  # type: ignore[valid-type]  # the package's model, imported at run time
        store: store_dependency,
        response: Response,
    ) -> object:
        item = await store.add(BARE_TENANT, payload)
        response.headers["Location"] = f"/v1/items/{item.id}"
        return item

    async def read_item(item_id: UUID, store: store_dependency) -> object:
        return await store.get(BARE_TENANT, item_id)

    # Not decorators: FastAPI is not installed where the bench code is type-checked.
    app = FastAPI(lifespan=lifespan)
    app.add_api_route("/livez", livez)
    app.add_api_route(
        "/v1/items", create_item, methods=["POST"], status_code=201, response_model=examples.Item
    )
    app.add_api_route("/v1/items/{item_id}", read_item, response_model=examples.Item)
    return app


@dataclass(frozen=True, slots=True)
class Sample:
    """What wrk measured in one round, and the server's CPU time per request."""

    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    statuses: Counter[int]
    cpu_us: float


def load(server: Server, path: str, seconds: int, script: Path, tag: str) -> Sample:
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script)]
    command += ["-H", f"Authorization: Bearer {server.api_key}"]
    command += [f"{server.base_url}{path}", "--", tag]
    cpu_before = server.cpu_seconds()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = server.cpu_seconds() - cpu_before
    rate = REQUESTS_PER_SECOND.search(output)
    total = TOTAL.search(output)
    percentiles = {
        int(found[1]): float(found[2]) * MILLISECONDS[found[3]]
        for found in PERCENTILE.finditer(output)
    }
    statuses = Counter({int(found[1]): int(found[2]) for found in STATUS.finditer(output)})
    if rate is None or total is None or set(percentiles) != {50, 99}:
        message = f"unexpected wrk output:\n{output}"
        raise RuntimeError(message)
    if statuses.total() != int(total[1]):
        message = f"the status counts do not add up to the requests:\n{output}"
        raise RuntimeError(message)
    errors = SOCKET_ERRORS.search(output)
    if errors is not None:
        print(f"  ({server.name}: wrk socket errors: {errors[1]})")
    return Sample(
        requests=int(total[1]),
        requests_per_second=float(rate[1]),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        statuses=statuses,
        cpu_us=cpu / int(total[1]) * 1e6,
    )


def compare(servers: list[Server], paths: dict[str, str], script: Path) -> dict[str, list[Sample]]:
    """Load each server in turn for ROUNDS rounds; a warm-up round is not counted."""
    samples: dict[str, list[Sample]] = {server.name: [] for server in servers}
    for round_number in range(ROUNDS + 1):
        for server in servers:
            tag = f"{server.name}-{round_number}".replace(" ", "-")
            seconds = WARM_UP_SECONDS if round_number == 0 else SECONDS_PER_ROUND
            sample = load(server, paths[server.name], seconds, script, tag)
            if round_number > 0:
                samples[server.name].append(sample)
    return samples


def report(title: str, samples: dict[str, list[Sample]], baseline: str) -> bool:
    """Print the medians and the ratio to the baseline; False if any answer was not 2xx."""
    print(title)
    header = f"{'requests/s':>10s} {'ratio':>6s} {'p50':>9s} {'p99':>9s} {'server CPU':>15s}"
    print(f"  {'':16s} {header}")
    medians = {
        name: statistics.median(sample.requests_per_second for sample in values)
        for name, values in samples.items()
    }
    complete = True
    for name, values in samples.items():
        p50 = statistics.median(sample.p50_ms for sample in values)
        p99 = statistics.median(sample.p99_ms for sample in values)
        cpu = statistics.median(sample.cpu_us for sample in values)
        ratio = medians[name] / medians[baseline]
        print(
            f"  {name:16s} {medians[name]:10.0f} {ratio:6.2f} {p50:6.2f} ms {p99:6.2f} ms"
            f" {cpu:6.0f} us/req"
        )
        statuses = sum((sample.statuses for sample in values), Counter[int]())
        if any(status not in OK_STATUSES for status in statuses):
            complete = False
            print(f"  !! {name} answered {dict(statuses)}: the apps did not do the same work")
    return complete


async def create_item(server: Server) -> str:
    answer = await send(server, "POST", "/v1/items", BODY.encode(), {"Idempotency-Key": "seed"})
    assert answer.status == 201, answer  # noqa: PLR2004 - Created
    return answer.headers["location"]


async def measure(run: Run, stack: ExitStack, *, breakdown: bool) -> bool:
    guarded_env = run.environment("load", HIGH_LIMITS)
    bare_server = stack.enter_context(serve(run, "bare FastAPI", "guardrails_overhead:bare", {}))
    guarded = stack.enter_context(serve(run, "all gates", run.factory, guarded_env))
    servers = [bare_server, guarded]
    if breakdown:
        for name, switches in WITHOUT.items():
            environment = run.environment(name.replace(" ", "-"), {**HIGH_LIMITS, **switches})
            servers.append(stack.enter_context(serve(run, name, run.factory, environment)))
    post_script = run.scratch / "post.lua"
    post_script.write_text(POST_SCRIPT + STATUS_SCRIPT)
    get_script = run.scratch / "get.lua"
    get_script.write_text(STATUS_SCRIPT)
    print(
        f"median of {ROUNDS} rounds of {SECONDS_PER_ROUND}s, wrk -t1 -c{CONNECTIONS} --latency,"
        " one uvicorn worker per app, alternating rounds; guarded: APP_ENV=staging, JSON log"
        f" lines to /dev/null, Redis and PostgreSQL keys and database named {run.prefix}"
    )
    spent_before = (await read_budget(guarded)).principal_spent
    posts = compare(servers, dict.fromkeys((s.name for s in servers), "/v1/items"), post_script)
    complete = report(
        "POST /v1/items with a fresh Idempotency-Key (guarded: API key, rate limit, cost"
        " reservation, idempotency)",
        posts,
        baseline=bare_server.name,
    )
    charged = ((await read_budget(guarded)).principal_spent - spent_before) / item_cost(
        run.package, 2
    )
    counted = sum(sample.requests for sample in posts[guarded.name])
    # The warm-up and the requests wrk cuts off at the end of a round are charged too.
    charged_all = charged >= counted
    complete &= charged_all
    print(
        f"  the guarded service charged the budget for {charged:.0f} items,"
        f" {'at least' if charged_all else 'FEWER THAN'} the {counted} answers wrk counted"
    )
    reads = [bare_server, guarded]
    paths = {server.name: await create_item(server) for server in reads}
    complete &= report(
        "GET /v1/items/{id} (guarded: API key, rate limit)",
        compare(reads, paths, get_script),
        baseline=bare_server.name,
    )
    print("exactness (all gates on, Redis, concurrent requests)")
    exact = await check_idempotency(guarded, run.package)
    for check in (check_rate_limit, check_budget):
        exact &= await check(run, HIGH_LIMITS)
    return complete and exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("package")
    parser.add_argument("--breakdown", action="store_true", help="also switch each gate off")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        Run.prepare(args.package, Path(scratch)) as run,
        ExitStack() as servers,
    ):
        ok = asyncio.run(measure(run, servers, breakdown=args.breakdown))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
