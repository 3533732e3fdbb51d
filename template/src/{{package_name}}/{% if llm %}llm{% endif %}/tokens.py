"""Token counting: exact with tiktoken when its encoding is at hand, a safe estimate otherwise.

Counts decide the 413 before any upstream call, the tokens-per-minute limit,
routing, history fitting and the cost reservation, so a count that is too low
is the dangerous mistake: every counter here errs high, never low.

tiktoken downloads an encoding from the internet the first time it is used,
with no timeout. The service never lets it: `load_token_counter` uses tiktoken
only when the encoding file is already in tiktoken's local cache, which the
image build fills with `seed_tiktoken_cache()`.
"""

import asyncio
import hashlib
import math
import os
import re
import tempfile
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol

from ..logging import get_logger
from .messages import Message

if TYPE_CHECKING:
    import tiktoken

_logger = get_logger("llm.gateway")

ENCODING_NAME: Final = "o200k_base"
# Where tiktoken fetches o200k_base and the SHA-256 it expects of the file, exactly
# as in tiktoken_ext/openai_public.py (a test compares them with the installed tiktoken).
_ENCODING_URL: Final = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_ENCODING_SHA256: Final = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

# OpenAI's chat format wraps each message as <|start|>{role}<|message|>{content}<|end|>:
# three tokens besides role and content. Every reply is primed with
# <|start|>assistant<|message|>, three more ("How to count tokens with tiktoken",
# OpenAI cookbook). Other providers' framing is of the same size or smaller.
TOKENS_PER_MESSAGE: Final = 3
REPLY_PRIMING_TOKENS: Final = 3

# Below this many characters a count costs the event loop well under a millisecond,
# less than handing it to a worker thread; above it, counting moves off the loop.
OFF_LOOP_MIN_CHARS: Final = 16_384


class TokenizerUnavailableError(RuntimeError):
    """`LLM__TOKENIZER=tiktoken` but the encoding is not in tiktoken's local cache."""


class TokenCounter(Protocol):
    """Counts tokens of text and of chat messages.

    `count_messages` is additive: a list counts the sum of its messages
    counted alone, plus `REPLY_PRIMING_TOKENS` once. History fitting relies on it.
    """

    @property
    def name(self) -> str:
        """`tiktoken:o200k_base` or `estimate`: for logs."""
        ...

    def count_text(self, text: str) -> int: ...

    def count_messages(self, messages: Sequence[Message]) -> int: ...

    async def count_messages_async(self, messages: Sequence[Message]) -> int:
        """`count_messages`, in a worker thread when the messages are long."""
        ...


class _ChatCounter(ABC):
    """The chat format's framing around a `count_text` of a subclass."""

    name: str

    @abstractmethod
    def count_text(self, text: str) -> int: ...

    def count_messages(self, messages: Sequence[Message]) -> int:
        return REPLY_PRIMING_TOKENS + sum(
            TOKENS_PER_MESSAGE + self.count_text(message.role) + self.count_text(message.content)
            for message in messages
        )

    async def count_messages_async(self, messages: Sequence[Message]) -> int:
        if sum(len(message.content) for message in messages) < OFF_LOOP_MIN_CHARS:
            return self.count_messages(messages)
        # A megabyte of prompt takes tens of milliseconds to count: in a thread,
        # other requests go on meanwhile.
        return await asyncio.to_thread(self.count_messages, messages)


# Pieces as a BPE tokenizer's pre-tokenizer splits ASCII text (tokens never cross
# them), each cut short where real tokenizers often need a further token. Non-ASCII
# characters match nothing here: they are counted by their bytes.
_PIECE: Final = re.compile(
    # A word with the space before it, in parts of at most three lowercase letters,
    # starting a new part at each capital: common words are one token, but rare
    # words, identifiers and mixed-case strings (base64) need one per 2-4 letters.
    r"[^\S\r\n]?(?:[A-Z]?[a-z]{1,3}|[A-Z]{1,2})"
    # Numbers: o200k and cl100k cut digits in groups of three, other tokenizers smaller.
    r"|[0-9]{1,2}"
    # Punctuation and symbols, two at a time.
    r"|[^\sA-Za-z0-9\x80-\U0010ffff]{1,2}"
    # Whitespace: runs of spaces and newlines (indentation) merge well.
    r"|\s{1,8}"
)
# Non-ASCII bytes: 3/4 of a token each. CJK characters (3 bytes) are one token in
# o200k but up to two (rare ones more) in older tokenizers; Greek, Cyrillic, Arabic
# (2 bytes) and Indic or Thai scripts (3 bytes) are close to one token per byte pair
# in cl100k and older Claude tokenizers.
_NON_ASCII_TOKENS_PER_BYTE: Final = 0.75
# The estimate works on slices of this many characters: a regex holds the GIL for
# all of its input, and a slice at a time lets the event loop run in between.
_ESTIMATE_SLICE_CHARS: Final = 16_384


class EstimateCounter(_ChatCounter):
    """A conservative estimate that needs no vocabulary: at least what real tokenizers count.

    The rule, per text: count the pieces of `_PIECE` (ASCII words in parts of at
    most three lowercase letters, numbers in groups of two digits, punctuation two
    characters at a time, whitespace eight at a time), then add 3/4 of a token per
    UTF-8 byte of non-ASCII characters.

    Why not bytes / 3 or characters / 4: those rules hold for English prose only.
    Real tokenizers never merge across a change of letter, digit, punctuation and
    space, so `[1, 2, 3]` is nine tokens in nine bytes, a UUID or a float list is one
    token per 1.5-2 bytes, and a CJK, Greek or Hindi sentence is one token per 1.5-3
    bytes in cl100k or Claude's published tokenizer. Measured against the largest of
    o200k_base, cl100k_base and Claude's published tokenizer, the estimate is at or
    above all of them for prose in English, German, French, Spanish, Vietnamese,
    Russian, Greek, Arabic, Hebrew, Hindi, Bengali, Tamil, Thai, Chinese, Japanese and
    Korean, for Python, JavaScript, SQL, JSON, Markdown, logs, URLs, hex and UUIDs,
    for numbers, CSV and emoji. It costs: English counts about 1.8x what o200k
    counts, code 1.5-1.9x, CJK 2.5x, Indic scripts 5-6x; set the tokenizer to
    tiktoken for exact OpenAI counts. Random strings (base64, random letters or
    rare CJK) can count up to 1.3x more than estimated: nothing short of one token
    per byte bounds every input.
    """

    name = "estimate"

    def count_text(self, text: str) -> int:
        return sum(
            _estimate(text[start : start + _ESTIMATE_SLICE_CHARS])
            for start in range(0, len(text), _ESTIMATE_SLICE_CHARS)
        )


def _estimate(text: str) -> int:
    non_ascii_bytes = len(text.encode()) - len(text.encode("ascii", "ignore"))
    return len(_PIECE.findall(text)) + math.ceil(non_ascii_bytes * _NON_ASCII_TOKENS_PER_BYTE)


class TiktokenCounter(_ChatCounter):
    """Exact counts of OpenAI's tokenizer, close ones for other providers."""

    def __init__(self, encoding: "tiktoken.Encoding") -> None:
        self._encoding = encoding
        self.name = f"tiktoken:{encoding.name}"

    def count_text(self, text: str) -> int:
        # encode_ordinary: text that spells a special token (<|endoftext|>) is counted
        # as the plain text it is, not refused.
        return len(self._encoding.encode_ordinary(text))


def tiktoken_cache_path() -> Path | None:
    """Where tiktoken keeps o200k_base, found as tiktoken.load.read_file_cached finds it.

    `TIKTOKEN_CACHE_DIR`, else `DATA_GYM_CACHE_DIR`, else `data-gym-cache` in the
    temporary directory; the file is named by the SHA-1 of the encoding's URL.
    None when `TIKTOKEN_CACHE_DIR` is empty, which turns tiktoken's cache off.
    """
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = str(Path(tempfile.gettempdir()) / "data-gym-cache")
    if not cache_dir:
        return None
    key = hashlib.sha1(_ENCODING_URL.encode(), usedforsecurity=False).hexdigest()
    return Path(cache_dir) / key


def _is_cached(path: Path | None) -> bool:
    # The hash too: tiktoken deletes a cached file that does not match and downloads anew.
    try:
        return path is not None and _matches(path.read_bytes())
    except OSError:
        return False


def _matches(data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() == _ENCODING_SHA256


async def load_token_counter(mode: Literal["auto", "tiktoken", "estimate"]) -> TokenCounter:
    """The counter `LLM__TOKENIZER` asks for, never downloading anything.

    auto: tiktoken when o200k_base is in its local cache, else the estimate.
    tiktoken: tiktoken, or `TokenizerUnavailableError` when the file is missing.
    estimate: the estimate; tiktoken is not even imported.

    Reading and building the encoding takes a few hundred milliseconds, in a
    worker thread: call it once, at startup. It logs which counter it chose.
    """
    if mode == "estimate":
        counter = EstimateCounter()
        _logger.info("tokenizer chosen", tokenizer=counter.name, mode=mode)
        return counter
    return await asyncio.to_thread(_load_cached, mode)


def _load_cached(mode: Literal["auto", "tiktoken"]) -> TokenCounter:
    counter: TokenCounter
    path = tiktoken_cache_path()
    if _is_cached(path):
        import tiktoken  # noqa: PLC0415 - only when used: it is large, and estimate never needs it

        counter = TiktokenCounter(tiktoken.get_encoding(ENCODING_NAME))
        _logger.info("tokenizer chosen", tokenizer=counter.name, mode=mode)
        return counter
    if mode == "tiktoken":
        message = (
            f"LLM__TOKENIZER=tiktoken, but tiktoken's encoding {ENCODING_NAME} is not in its "
            f"cache ({path or 'off: TIKTOKEN_CACHE_DIR is empty'}). Set TIKTOKEN_CACHE_DIR "
            "to the directory the image build seeded with seed_tiktoken_cache(), or set "
            "LLM__TOKENIZER=auto or estimate; the service never downloads it while running."
        )
        raise TokenizerUnavailableError(message)
    counter = EstimateCounter()
    _logger.info(
        "tokenizer chosen",
        tokenizer=counter.name,
        mode=mode,
        reason=f"{ENCODING_NAME} is not in tiktoken's cache (TIKTOKEN_CACHE_DIR)",
        cache_path=str(path),
    )
    return counter


def seed_tiktoken_cache(*, timeout_seconds: float = 60.0) -> Path:
    """Download o200k_base into tiktoken's cache, for the image build. Never at run time.

    Run it with the `TIKTOKEN_CACHE_DIR` the service will have, and ship that
    directory in the image. Does nothing when the file is already there.

    Raises:
        TokenizerUnavailableError: the cache is off (`TIKTOKEN_CACHE_DIR` empty) or
            the download is not the file tiktoken expects.
        OSError: the download failed or timed out.
    """
    path = tiktoken_cache_path()
    if path is None:
        message = "TIKTOKEN_CACHE_DIR is empty, which turns tiktoken's cache off: nothing to seed"
        raise TokenizerUnavailableError(message)
    if _is_cached(path):
        return path
    # The timeout bounds each connect and read: a build never hangs on a dead network.
    with urllib.request.urlopen(_ENCODING_URL, timeout=timeout_seconds) as response:
        data: bytes = response.read()
    if not _matches(data):
        message = f"the download of {ENCODING_NAME} does not have the SHA-256 tiktoken expects"
        raise TokenizerUnavailableError(message)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path
