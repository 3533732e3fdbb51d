"""The one interface every authentication mode implements."""

from typing import Protocol

from starlette.datastructures import Headers

from ..errors import UnauthorizedError
from .principal import Principal


class Authenticator(Protocol):
    """Turns a request's credentials into a principal, or refuses them."""

    async def authenticate(self, headers: Headers) -> Principal:
        """Return the caller's principal; raise `UnauthorizedError` if there is none."""
        ...


def bearer_token(headers: Headers, *, challenge: str) -> str:
    """The credential of `Authorization: Bearer <token>`; 401 when missing or malformed."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        message = "Credentials are missing: send `Authorization: Bearer <credential>`."
        raise UnauthorizedError(message, challenge=challenge)
    return token.strip()
