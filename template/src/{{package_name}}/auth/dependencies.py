"""FastAPI dependencies: the current principal, and role checks per route."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..errors import ForbiddenError, UnauthorizedError
from .principal import ADMINS, READERS, WRITERS, Principal, Role

if TYPE_CHECKING:
    from .authenticator import Authenticator

# Where the request-context middleware finds the principal for the log line.
PRINCIPAL_STATE = "principal"
# Why the credentials were refused, kept so they are checked once per request.
REFUSAL_STATE = "authentication_refusal"


async def identify(request: Request) -> Principal | None:
    """The caller's principal, or None when its credentials are missing or bad.

    Authenticates at most once per request: the outcome is kept on the request,
    so a gate that runs before the route (the rate limit keys on the principal)
    and the route's own role check share one lookup.
    """
    known: Principal | None = getattr(request.state, PRINCIPAL_STATE, None)
    if known is not None or getattr(request.state, REFUSAL_STATE, None) is not None:
        return known
    authenticator: Authenticator = request.state.authenticator
    try:
        principal = await authenticator.authenticate(request.headers)
    except UnauthorizedError as refusal:
        setattr(request.state, REFUSAL_STATE, refusal)
        return None
    setattr(request.state, PRINCIPAL_STATE, principal)
    return principal


async def current_principal(request: Request) -> Principal:
    """The authenticated caller; 401 with a challenge when there is none."""
    principal = await identify(request)
    if principal is None:
        refusal: UnauthorizedError = getattr(request.state, REFUSAL_STATE)
        raise refusal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(roles: frozenset[Role]) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only principals holding one of `roles` (else 403)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(roles):
            allowed = ", ".join(sorted(roles))
            message = f"This operation needs one of the roles: {allowed}."
            raise ForbiddenError(message)
        return principal

    return check


Reader = Annotated[Principal, Depends(require_roles(READERS))]
Writer = Annotated[Principal, Depends(require_roles(WRITERS))]
Admin = Annotated[Principal, Depends(require_roles(ADMINS))]
