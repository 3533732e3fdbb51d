"""FastAPI dependencies: the current principal, and role checks per route."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from ..errors import ForbiddenError
from .principal import ADMINS, READERS, WRITERS, Principal, Role

if TYPE_CHECKING:
    from .authenticator import Authenticator

# Where the request-context middleware finds the principal for the log line.
PRINCIPAL_STATE = "principal"


async def current_principal(request: Request) -> Principal:
    authenticator: Authenticator = request.state.authenticator
    principal = await authenticator.authenticate(request.headers)
    request.state.principal = principal
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
