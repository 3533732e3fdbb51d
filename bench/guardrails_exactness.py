"""Check that the gates enforce exactly what they are configured to, under concurrency.

Each check fires a burst of concurrent requests, each on its own connection,
at a server of the rendered service and counts the answers: a rate limit
admits exactly its quota, a budget exactly the reservations it can cover,
and one idempotency key runs the handler exactly once.
"""

import asyncio
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module
from typing import Any

from guardrails_service import Run, Server, serve

RATE_LIMIT = 100  # per hour: no capacity comes back during the burst
BUDGETED_ITEMS = 40
BURST = 250
SAME_KEY_BURST = 50
REQUEST_TIMEOUT_SECONDS = 30
CREATED = 201
CONFLICT = 409
TOO_MANY = 429
BUDGET_PROBLEM = "/problems/budget-exhausted"


@dataclass(frozen=True, slots=True)
class Answer:
    """A response, read to the end."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:  # noqa: ANN401 - any JSON document
        """Parse the body."""
        return json.loads(self.body)


async def send(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request on a connection of its own, as the caller with the run's API key."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Connection: close",
        f"Authorization: Bearer {server.api_key}",
        f"Content-Length: {len(body)}",
        "Content-Type: application/json",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write("\r\n".join([*lines, "", ""]).encode() + body)
            await writer.drain()
            raw = await reader.read()  # to the end: the server closes the connection
        finally:
            writer.close()
            await writer.wait_closed()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in header_lines)
    return Answer(
        status=int(status_line.split()[1]),
        headers={name.strip().lower(): value.strip() for name, _, value in fields},
        body=content,
    )


def item_body(tags: int) -> bytes:
    document = {"name": "widget", "quantity": 3, "tags": [f"t{n}" for n in range(tags)]}
    return json.dumps(document).encode()


def item_cost(package: str, tags: int) -> Decimal:
    """Return what the example route settles for an item with `tags` tags."""
    examples = import_module(f"{package}.api.examples")
    cost: Decimal = examples.ITEM_BASE_COST + tags * examples.ITEM_TAG_COST
    return cost


@dataclass(frozen=True, slots=True)
class Budgets:
    """The parts of `GET /v1/budget` the checks compare."""

    principal_spent: Decimal
    tenant_spent: Decimal
    tenant_reserved: Decimal


async def read_budget(server: Server) -> Budgets:
    answer = await send(server, "GET", "/v1/budget")
    assert answer.status == 200, answer  # noqa: PLR2004 - OK
    view = answer.json()
    return Budgets(
        principal_spent=Decimal(view["principal"]["spent"]),
        tenant_spent=Decimal(view["tenant"]["spent"]),
        tenant_reserved=Decimal(view["tenant"]["reserved"]),
    )


async def burst(server: Server, count: int, body: bytes, *, same_key: bool) -> list[Answer]:
    return await asyncio.gather(
        *(
            send(
                server,
                "POST",
                "/v1/items",
                body,
                {"Idempotency-Key": "one-key" if same_key else f"burst-{index}"},
            )
            for index in range(count)
        )
    )


def verdict(exact: bool) -> str:  # noqa: FBT001 - a plain predicate
    return "exact" if exact else "NOT EXACT"


async def check_rate_limit(run: Run, limits: Mapping[str, str]) -> bool:
    environment = run.environment("rate", {**limits, "RATE_LIMIT__LIMITS": f"{RATE_LIMIT}/hour"})
    with serve(run, "rate limit check", run.factory, environment) as server:
        answers = await burst(server, BURST, item_body(2), same_key=False)
    statuses = Counter(answer.status for answer in answers)
    refused = [answer for answer in answers if answer.status == TOO_MANY]
    exact = statuses == {CREATED: RATE_LIMIT, TOO_MANY: BURST - RATE_LIMIT} and all(
        "retry-after" in answer.headers and "ratelimit" in answer.headers for answer in refused
    )
    others = {status: n for status, n in statuses.items() if status not in {CREATED, TOO_MANY}}
    print(
        f"  rate limit {RATE_LIMIT}/hour per caller, {BURST} concurrent POSTs:"
        f" {statuses[CREATED]} created, {statuses[TOO_MANY]} refused with 429 + Retry-After"
        f" + RateLimit{f', others {others}' if others else ''}  {verdict(exact)}"
    )
    return exact


async def check_budget(run: Run, limits: Mapping[str, str]) -> bool:
    examples = import_module(f"{run.package}.api.examples")
    # With every tag the actual cost is the worst case: a settlement releases
    # nothing, so the budget covers exactly BUDGETED_ITEMS whatever the order.
    tags: int = examples.MAX_TAGS
    worst: Decimal = examples.ITEM_WORST_CASE_COST
    assert item_cost(run.package, tags) == worst
    limit = BUDGETED_ITEMS * worst
    environment = run.environment("budget", {**limits, "COST_CAP__TENANT_DAILY_LIMIT": str(limit)})
    with serve(run, "budget check", run.factory, environment) as server:
        answers = await burst(server, BURST, item_body(tags), same_key=False)
        budgets = await read_budget(server)
    statuses = Counter(answer.status for answer in answers)
    refused = [answer for answer in answers if answer.status == TOO_MANY]
    exact = (
        statuses == {CREATED: BUDGETED_ITEMS, TOO_MANY: BURST - BUDGETED_ITEMS}
        and all(answer.json()["type"] == BUDGET_PROBLEM for answer in refused)
        and budgets.tenant_spent == limit
        and budgets.tenant_reserved == 0
    )
    print(
        f"  tenant budget {limit} ({BUDGETED_ITEMS} x worst case {worst}), {BURST} concurrent"
        f" POSTs: {statuses[CREATED]} created, {statuses[TOO_MANY]} refused with 429"
        f" {BUDGET_PROBLEM}; spent {budgets.tenant_spent}, reserved {budgets.tenant_reserved}"
        f"  {verdict(exact)}"
    )
    return exact


async def check_idempotency(server: Server, package: str) -> bool:
    before = await read_budget(server)
    answers = await burst(server, SAME_KEY_BURST, item_body(2), same_key=True)
    retry = (await burst(server, 1, item_body(2), same_key=True))[0]
    after = await read_budget(server)
    statuses = Counter(answer.status for answer in answers)
    created = [answer for answer in [*answers, retry] if answer.status == CREATED]
    replayed = [answer for answer in created if answer.headers.get("idempotent-replayed")]
    items = {answer.json()["id"] for answer in created}
    charged = after.principal_spent - before.principal_spent
    exact = (
        set(statuses) <= {CREATED, CONFLICT}
        and len(created) - len(replayed) == 1
        and len(items) == 1
        and retry.headers.get("idempotent-replayed") == "true"
        and charged == item_cost(package, 2)
    )
    print(
        f"  one Idempotency-Key, {SAME_KEY_BURST} concurrent POSTs then a retry:"
        f" {len(created) - len(replayed)} run, {len(replayed)} replayed,"
        f" {statuses[CONFLICT]} in flight (409), {len(items)} distinct item(s),"
        f" budget charged {charged}  {verdict(exact)}"
    )
    return exact
