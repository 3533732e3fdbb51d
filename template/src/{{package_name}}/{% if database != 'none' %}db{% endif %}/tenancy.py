"""Tenant scoping in one place: every read of tenant data goes through a scope."""

import uuid
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


class TenantScope:
    """Queries that can only see one tenant's rows.

    Handlers never write `WHERE tenant_id = ...` themselves: they ask the scope,
    so forgetting the filter is not possible. Another tenant's row is simply
    not found, and the API answers 404 rather than 403.
    """

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def condition(self, model: type[object]) -> ColumnElement[bool]:
        """`model.tenant_id == <this tenant>`, for queries that are not a plain select."""
        column = getattr(model, "tenant_id")  # noqa: B009 - every tenant-owned model has it
        condition: ColumnElement[bool] = column == self.tenant_id
        return condition

    def select(self, model: type[Row]) -> Select[Row]:
        return select(model).where(self.condition(model))

    async def get(self, model: type[Row], row_id: object) -> Row | None:
        identifier = getattr(model, "id")  # noqa: B009 - every tenant-owned model has it
        found: Row | None = await self.session.scalar(
            self.select(model).where(identifier == row_id)
        )
        return found
