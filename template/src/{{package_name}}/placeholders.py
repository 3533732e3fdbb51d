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
# Shapes of example values. Each is narrow enough that a random secret (mixed
# letters and digits) practically never matches: a false refusal of a real
# generated secret would be a production outage.
_PLACEHOLDER_PATTERNS = (
    re.compile(r"^([a-z]+[-_])*x{3,}[-_.x*]*$"),  # sk-xxxxxxxx, sk-proj-xxxx..., a bare run of x
    re.compile(r"x{8,}"),  # a run of x's anywhere: sk-live-xxxxxxxxxxxx1234
    re.compile(r"^<[^>]*>$"),  # <your-key>, <generated-secret>
    re.compile(r"^\$\{[^}]*\}$"),  # ${SECRET}: an unexpanded template variable
    re.compile(r"^(your|my|insert|put|enter)[-_ ][a-z_ -]*$"),  # your-api-key, insert_key_here
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
    return any(pattern.search(normalised) for pattern in _PLACEHOLDER_PATTERNS)
