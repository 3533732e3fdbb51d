"""The client's address: the socket's, or the one trusted proxies vouch for.

Behind N trusted reverse proxies the client is the entry the outermost of them
appended to `X-Forwarded-For`: the N-th from the right. Entries further left
were written by the client and prove nothing, so a spoofed header cannot
change the address; with N = 0 (`HTTP__TRUSTED_PROXY_HOPS`) the header is
ignored. The request log and the rate limit both use this one answer.
"""

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """An address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.

    An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is its IPv4 address.
    """
    candidate = text.strip()
    if candidate.startswith("["):
        candidate, closed, _ = candidate[1:].partition("]")
        if not closed:
            return None
    elif candidate.count(":") == 1:
        candidate = candidate.partition(":")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """Every X-Forwarded-For entry in order; repeated headers form one list."""
    return [entry.strip() for value in values for entry in value.split(",")]


def client_ip(scope: Scope, trusted_proxy_hops: int) -> IPAddress | None:
    """The client's address, or None when neither the proxies nor the socket give one.

    Falls back to the socket's address when the header has fewer entries than
    trusted hops or the chosen entry is not an address: the request did not
    come through every proxy, so the header is not theirs.
    """
    if trusted_proxy_hops > 0:
        headers = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        entries = _forwarded_for(headers)
        if len(entries) >= trusted_proxy_hops:
            address = parse_address(entries[-trusted_proxy_hops])
            if address is not None:
                return address
    client = scope.get("client")
    return parse_address(client[0]) if client else None
