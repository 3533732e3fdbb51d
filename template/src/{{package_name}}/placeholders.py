"""Recognise secrets that were never really set."""

import re

# Values copied from examples and tutorials that must never guard a real system.
_PLACEHOLDERS = frozenset(
    {
        "changeme",
        "changethis",
        "default",
        "dummy",
        "example",
        "fixme",
        "insecure",
        "none",
        "null",
        "password",
        "placeholder",
        "replaceme",
        "secret",
        "test",
        "todo",
        "xxx",
    }
)
_PLACEHOLDER_PATTERNS = (
    re.compile(r"^(sk|pk|key|token)?[-_]?x{3,}.*$"),  # sk-xxx..., xxxx
    re.compile(r"^<[^>]*>$"),  # <your-key>, <generated-secret>
    re.compile(r"^\$\{[^}]*\}$"),  # ${SECRET}: an unexpanded template variable
    re.compile(r"^(your|my|insert|put|enter)[-_ ].*$"),  # your-api-key, insert_key_here
    re.compile(r"^(.)\1*$"),  # one repeated character: 0000, ****
)


def is_placeholder(value: str) -> bool:
    """Return True for an empty, example or template value.

    Matching ignores case and separators, so `Change-Me` and `CHANGE_ME` are
    caught like `changeme`.
    """
    normalised = value.strip().lower()
    if not normalised:
        return True
    if re.sub(r"[-_ .]", "", normalised) in _PLACEHOLDERS:
        return True
    return any(pattern.match(normalised) for pattern in _PLACEHOLDER_PATTERNS)
