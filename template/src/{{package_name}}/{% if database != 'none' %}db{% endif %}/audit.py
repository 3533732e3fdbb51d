"""Write the audit record of a privileged action, in the caller's transaction."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuditRecord


def audit(  # noqa: PLR0913 - the record's fields, all keyword-only
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    target: str,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Add an audit record to `session`; it commits or rolls back with the change.

    Call it inside the same `async with session.begin():` block as the change
    it describes, never after it.
    """
    record = AuditRecord(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        target=target,
        request_id=request_id,
        details=details or {},
    )
    session.add(record)
    return record
