"""Liveness and readiness.

`/livez` answers whether the process can serve at all and touches nothing
else, so a slow database never gets a healthy process restarted. `/readyz`
runs every registered readiness check concurrently, each under a timeout, and
names the ones that failed; it also fails while the service drains for
shutdown, so load balancers stop sending traffic before connections close.

A check that is not critical (the guardrails' store: the service keeps
answering without it, per each gate's failure policy) reports `degraded`
instead of failing: taking every replica out of the load balancer because
their shared Redis is down would turn a degraded service into an outage.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from .errors import problem_body, problem_response, request_id_of
from .logging import get_logger

Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    """A named dependency probe: returns when healthy, raises when not.

    `critical=False`: a failure degrades the service but leaves it ready.
    """

    name: str
    probe: Probe
    critical: bool = True


@dataclass(slots=True)
class ShutdownState:
    """Set once the process starts shutting down; /readyz then answers 503."""

    draining: bool = False


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: Sequence[ReadinessCheck]
    timeout_seconds: float
    shutdown: ShutdownState = field(default_factory=ShutdownState)


class CheckResult(BaseModel):
    status: Literal["ok", "degraded", "failed"]
    duration_ms: float
    error: str | None = None


class LiveStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    status: Literal["ready", "degraded"] = "ready"
    checks: dict[str, CheckResult]


logger = get_logger("health")


async def run_check(check: ReadinessCheck, timeout_seconds: float) -> CheckResult:
    started = time.perf_counter()
    error: str | None = None
    try:
        async with asyncio.timeout(timeout_seconds):
            await check.probe()
    except TimeoutError:
        error = f"timed out after {timeout_seconds:g}s"
    except Exception as failure:  # any failure means "not ready"; logged below
        # The reason is logged in full; the response names only the exception
        # type, because probe errors can carry hostnames and credentials.
        logger.warning("readiness check failed", check=check.name, exc_info=failure)
        error = type(failure).__name__
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    if error is None:
        return CheckResult(status="ok", duration_ms=duration_ms)
    status: Literal["degraded", "failed"] = "failed" if check.critical else "degraded"
    return CheckResult(status=status, duration_ms=duration_ms, error=error)


async def run_checks(readiness: Readiness) -> dict[str, CheckResult]:
    results = await asyncio.gather(
        *(run_check(check, readiness.timeout_seconds) for check in readiness.checks)
    )
    return {check.name: result for check, result in zip(readiness.checks, results, strict=True)}


async def get_readiness(request: Request) -> Readiness:
    readiness: Readiness = request.state.readiness
    return readiness


router = APIRouter(tags=["health"])


@router.get("/livez", summary="The process is alive")
async def livez() -> LiveStatus:
    return LiveStatus()


@router.get(
    "/readyz",
    response_model=ReadyStatus,
    summary="The service can take traffic",
    responses={503: {"description": "Not ready: draining, or a dependency failed"}},
)
async def readyz(
    request: Request, readiness: Annotated[Readiness, Depends(get_readiness)]
) -> ReadyStatus | Response:
    if readiness.shutdown.draining:
        return _not_ready(request, "The service is shutting down.", {})
    results = await run_checks(readiness)
    failed = sorted(name for name, result in results.items() if result.status == "failed")
    if failed:
        return _not_ready(request, f"Failed readiness checks: {', '.join(failed)}.", results)
    degraded = any(result.status == "degraded" for result in results.values())
    return ReadyStatus(status="degraded" if degraded else "ready", checks=results)


def _not_ready(request: Request, detail: str, results: dict[str, CheckResult]) -> Response:
    checks: dict[str, Any] = {name: result.model_dump() for name, result in results.items()}
    body = problem_body(
        status=HTTPStatus.SERVICE_UNAVAILABLE,
        title="Service Unavailable",
        detail=detail,
        problem_type="/problems/not-ready",
        instance=request.url.path,
        request_id=request_id_of(request),
        extensions={"checks": checks},
    )
    return problem_response(body, {"Retry-After": "5", "Cache-Control": "no-store"})
