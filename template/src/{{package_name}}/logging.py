"""Structured logging: JSON lines in production, a readable console in development.

`configure_logging` is the only function with process-wide effects. It sets up
structlog for the service's own events and routes standard-library records
(uvicorn, libraries) through the same processors, so every line on stdout has
one format and passes through redaction.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import structlog
from opentelemetry import trace

from .redaction import redact_event

if TYPE_CHECKING:
    from structlog.types import EventDict, Processor, WrappedLogger

    # Only a type here: gate settings modules import logging, and the root
    # settings import them, so a runtime import would be circular.
    from .settings import LogSettings

_LEVELS = logging.getLevelNamesMapping()


def _orjson_dumps(event: Any, **_: Any) -> str:  # noqa: ANN401 - structlog's serializer signature
    # default=repr: an unexpected type must never make a log call raise.
    return orjson.dumps(event, default=repr).decode()


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's fast writer, with the name `add_logger_name` reports."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:  # noqa: ANN401 - structlog passes get_logger's args
        return _NamedWriteLogger(self._file, str(args[0]) if args else "")


def use_json(settings: LogSettings, *, production: bool, stream: TextIO) -> bool:
    """Decide the output format: JSON unless a human is watching a terminal."""
    if settings.format != "auto":
        return settings.format == "json"
    return production or not stream.isatty()


def add_trace_ids(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """Processor: the current span's trace and span ids, so a line leads to its trace.

    Without tracing there is never a current span, and nothing is added.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(context.trace_id)
        event_dict["span_id"] = trace.format_span_id(context.span_id)
    return event_dict


def shared_processors() -> list[Processor]:
    """Processors every event passes, whether it comes from structlog or stdlib."""
    return [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def renderer(*, json: bool) -> list[Processor]:
    """Final processors: structured traceback, redaction, then the output format."""
    if json:
        return [
            # Locals are left out: they are where secrets hide in a traceback.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            redact_event,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
    # The traceback becomes text before redaction, so a credential in an
    # exception message is masked on the console too.
    return [structlog.processors.format_exc_info, redact_event, structlog.dev.ConsoleRenderer()]


def configure_logging(
    settings: LogSettings, *, production: bool, stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger for this process.

    The service's own events take structlog's native path (a filtering bound
    logger writing straight to the stream): the canonical request line is on
    every request's hot path. Standard-library records (uvicorn, libraries)
    are rendered by the same processors through a stdlib handler.
    """
    out = stream or sys.stdout
    json = use_json(settings, production=production, stream=out)
    level = _LEVELS[settings.level]

    structlog.configure(
        processors=[*shared_processors(), *renderer(json=json)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_NamedWriteLoggerFactory(out),
        # Not cached: loggers must follow a later reconfiguration (tests, workers).
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *renderer(json=json),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level)
    # uvicorn's access log would duplicate the canonical request line.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger whose events carry `logger=name`.

    It is a lazy proxy: safe to create at import time, and it follows the
    configuration in force when it logs, not when it was created.
    """
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
