"""Mask secrets before anything is written to a log.

Applied as a structlog processor, so it sees every event, including values
bound into the context and structured tracebacks.
"""

import functools
import re
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[REDACTED]"

# Key names that hold credentials, as a whole word of the key and ignoring case:
# `db_password` and `access_token` match; `tokens_in` and `author` do not.
SENSITIVE_KEY = re.compile(
    r"(^|[-_.\s])(pass(word|wd|phrase)?|secret|token|api[-_]?key|auth|authorization|"
    r"cookie|set[-_]cookie|credentials?|private[-_]?key|session|signature|dsn|jwt)($|[-_.\s])",
    re.IGNORECASE,
)
# Values that carry credentials whatever key they sit under.
_BEARER = re.compile(r"\b(Bearer|Basic|Digest|Token)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# Any userinfo (`user:password@` or a bare token `ghp_x@`), up to the last `@`
# before the path, query or fragment, so a password that itself holds `@` is
# masked whole while an `@` in a query string is left alone.
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@", re.IGNORECASE
)

_MAX_DEPTH = 20
# Values that cannot hold a credential: most of a log line's fields.
_PLAIN = (int, float, type(None))
# Added by the logging setup's own processors, never by a caller.
_OWN_FIELDS = frozenset({"timestamp", "level", "logger"})


# One cheap search decides whether a string needs the two substitutions at all:
# log values are mostly short and clean, and this runs for every one of them.
_SUSPECT = re.compile(r"bearer|basic|digest|token|://[^/?#\s]*@", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Mask credentials embedded in free text (messages, exception strings)."""
    if _SUSPECT.search(text) is None:
        return text
    text = _BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    return _URL_CREDENTIALS.sub(lambda match: f"{match.group('scheme')}{REDACTED}@", text)


def redact_query(query: str) -> str:
    """Mask the values of sensitive parameters in a URL query (`?access_token=...`).

    Values are masked decoded, so an encoded credential (`https%3A%2F%2Fu%3Ap%40h`)
    is found too; a query with nothing to mask is returned as it came.
    """
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [
        (name, REDACTED if _is_sensitive_name(name) else redact_text(value))
        for name, value in pairs
    ]
    if masked == pairs:
        return query
    return urlencode(masked, safe="[]")


def redact(value: Any, depth: int = 0) -> Any:  # noqa: ANN401 - any JSON-like structure
    """Return `value` with sensitive entries masked, at any depth.

    Mappings are masked by key; pairs such as `("authorization", "...")` (the
    shape of ASGI headers) by their first element; strings by content.
    """
    if depth > _MAX_DEPTH:
        return REDACTED
    match value:
        case str() | bytes():
            return redact_text(value if isinstance(value, str) else value.decode("latin-1"))
        case Mapping():
            return {
                key: REDACTED if _is_sensitive_key(key) else redact(item, depth + 1)
                for key, item in value.items()
            }
        case (name, _) if _is_sensitive_key(name):
            return (name, REDACTED)
        case list() | tuple():
            return [redact(item, depth + 1) for item in value]
        case _:
            return value


def _is_sensitive_key(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    return isinstance(key, str) and _is_sensitive_name(key)


@functools.lru_cache(maxsize=1024)
def _is_sensitive_name(key: str) -> bool:
    # Keys repeat on every event (request_id, status, ...): remember the verdict.
    return SENSITIVE_KEY.search(key) is not None


def redact_event(
    _logger: object, _method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Structlog processor: mask every sensitive key and value in the event.

    It runs for every log line, the canonical request line included, so the
    common cases take the shortest path: fields the logging setup itself adds
    are skipped, numbers are kept, and strings get one cheap search.
    """
    for key, value in event_dict.items():
        if key in _OWN_FIELDS:
            continue
        if _is_sensitive_name(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
        elif not isinstance(value, _PLAIN):
            event_dict[key] = redact(value)
    return event_dict
