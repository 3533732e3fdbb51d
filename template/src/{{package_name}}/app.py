"""The application factory. Nothing here runs at import time."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from . import about, health
from .api import examples
from .config import load_settings
from .errors import install_error_handlers
from .health import Readiness, ReadinessCheck, ShutdownState
from .logging import configure_logging, get_logger
from .middleware.body_limit import BodyLimitMiddleware
from .middleware.request_context import RequestContextMiddleware
from .middleware.security_headers import SecurityHeadersMiddleware
from .middleware.unhandled_errors import UnhandledErrorMiddleware
from .settings import Settings

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OPENAPI_URL = "/openapi.json"


class State(TypedDict):
    """What the lifespan owns; each request sees it as `request.state`."""

    settings: Settings
    readiness: Readiness
    item_store: examples.ItemStore


def create_app(
    settings: Settings,
    *,
    readiness_checks: Sequence[ReadinessCheck] = (),
    shutdown: ShutdownState | None = None,
) -> FastAPI:
    """Build the service from `settings`.

    Args:
        settings: validated settings; tests pass their own.
        readiness_checks: extra dependency probes for /readyz, in addition to
            those each gate registers in the lifespan.
        shutdown: shared with the server so /readyz fails while draining.
    """
    configure_logging(settings.log, production=settings.is_production)
    shutdown_state = shutdown or ShutdownState()
    logger = get_logger("app")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        # Each gate opens its resources here and adds its readiness checks.
        checks = list(readiness_checks)
        readiness = Readiness(
            checks=checks,
            timeout_seconds=settings.health.check_timeout_seconds,
            shutdown=shutdown_state,
        )
        logger.info(
            "service starting",
            service=settings.service_name,
            version=about.version(),
            app_env=settings.app_env.value,
        )
        try:
            yield State(settings=settings, readiness=readiness, item_store=examples.ItemStore())
        finally:
            shutdown_state.draining = True
            logger.info("service stopped")

    docs = settings.docs_enabled
    app = FastAPI(
        title=about.TITLE,
        description=about.description(),
        version=about.version(),
        debug=settings.debug,
        lifespan=lifespan,
        docs_url=DOCS_URL if docs else None,
        redoc_url=REDOC_URL if docs else None,
        openapi_url=OPENAPI_URL if docs else None,
    )
    install_error_handlers(app)
    install_middleware(app, settings)
    app.include_router(health.router)
    app.include_router(examples.router)
    return app


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add middleware innermost first: each `add_middleware` wraps the previous.

    Outermost first, a request meets: request context and the canonical log
    line, security headers, CORS, the unhandled-error answer, the body limit.
    """
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.http.max_body_bytes)
    app.add_middleware(UnhandledErrorMiddleware, expose_errors=settings.debug)
    if settings.http.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.http.cors_allow_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "RateLimit", "RateLimit-Policy"],
            max_age=600,
        )
    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts=settings.is_production,
        docs_paths=frozenset({DOCS_URL, REDOC_URL}),
    )
    app.add_middleware(RequestContextMiddleware, expose_errors=settings.debug)


def create_app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-worker serving."""
    return create_app(load_settings())
