"""The authenticated caller and what it may do."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """Roles, from most to least powerful. A route names the roles it accepts."""

    ADMIN = "admin"
    MEMBER = "member"
    READ_ONLY = "read_only"


# Who may read tenant data, and who may change it or spend money on its behalf.
READERS = frozenset({Role.ADMIN, Role.MEMBER, Role.READ_ONLY})
WRITERS = frozenset({Role.ADMIN, Role.MEMBER})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    `subject` identifies the credential (an API key's id, a token's `sub`),
    `tenant_id` the tenant whose data it may reach, never any other.
    """

    subject: str
    tenant_id: str
    roles: frozenset[Role]
    kind: Literal["api_key", "jwt", "anonymous"]

    def has_any(self, roles: frozenset[Role]) -> bool:
        return not self.roles.isdisjoint(roles)
