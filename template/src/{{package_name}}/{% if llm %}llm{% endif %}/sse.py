"""Server-sent events, as both providers stream their answers.

A small parser of the WHATWG event stream format: `event:` and `data:` fields,
data spread over several lines, `:` comments, any of CRLF, LF and CR as line
ends. A line or an event larger than its limit is an error rather than
unbounded memory.
"""

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Final

# The biggest chunk either API sends is a few KB; these leave plenty of room.
MAX_LINE_BYTES: Final = 1024 * 1024
MAX_EVENT_BYTES: Final = 4 * 1024 * 1024

# A CR at the very end of the buffer may be the first half of a CRLF: it waits for more.
_LINE_END: Final = re.compile(rb"\r\n|\n|\r(?=.)", re.DOTALL)


class SseError(Exception):
    """The stream is not a valid event stream, or breaks a size limit."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    # `message` when the event named no type, as the format specifies.
    event: str
    # The data lines, joined with newlines.
    data: str


async def iter_sse(
    chunks: AsyncIterable[bytes],
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> AsyncIterator[SseEvent]:
    """The events of a stream of bytes, such as `response.content.iter_any()`.

    An event is dispatched at the blank line that ends it; one left unfinished
    when the bytes end is dropped, as the format specifies, so a caller that
    waits for a final event notices the stream broke off.
    """
    buffer = b""
    parser = _EventParser(max_event_bytes)
    async for chunk in chunks:
        buffer += chunk
        start = 0
        for match in _LINE_END.finditer(buffer):
            event = parser.feed(buffer[start : match.start()])
            start = match.end()
            if event is not None:
                yield event
        buffer = buffer[start:]
        if len(buffer) > max_line_bytes:
            message = f"a line exceeds {max_line_bytes} bytes"
            raise SseError(message)
    # The bytes ended: a CR held back for a LF that never came ended its line.
    if buffer.endswith(b"\r") and (event := parser.feed(buffer[:-1])) is not None:
        yield event


class _EventParser:
    def __init__(self, max_event_bytes: int) -> None:
        self._max_event_bytes = max_event_bytes
        self._event = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, raw: bytes) -> SseEvent | None:
        """Take one line (without its end); return the event a blank line completes."""
        if not raw:
            return self._dispatch()
        line = raw.decode(errors="replace")
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._size += len(raw)
            if self._size > self._max_event_bytes:
                message = f"an event exceeds {self._max_event_bytes} bytes"
                raise SseError(message)
            self._data.append(value)
        # `id` and `retry` serve reconnecting browsers; an API call never reconnects.
        return None

    def _dispatch(self) -> SseEvent | None:
        event = SseEvent(self._event or "message", "\n".join(self._data)) if self._data else None
        self._event = ""
        self._data = []
        self._size = 0
        return event
