"""Example endpoints: a validated POST and a GET. Replace them with your own.

They show the patterns the rest of the service follows: request models that
reject unknown fields and bound every string and list, dependencies declared
as `Annotated` aliases, a role check per route (`Writer`, `Reader`), data
scoped by the caller's tenant, state owned by the lifespan, and errors raised
as `ServiceError` subclasses rather than built by hand.
"""

import asyncio
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..auth.dependencies import Reader, Writer
from ..errors import NotFoundError

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[\w-]+$")
]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    quantity: int = Field(default=1, ge=0, le=1_000_000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class Item(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    name: str
    quantity: int
    tags: list[str]
    created_at: datetime


class ItemStore:
    """An in-process store keeping the newest `capacity` items, per tenant.

    A stand-in for a real repository: memory stays bounded however many
    items are posted, the lock keeps concurrent writers consistent, and every
    read is scoped by tenant, so another tenant's item is simply not found.
    """

    def __init__(self, capacity: int = 1000) -> None:
        self._items: OrderedDict[tuple[str, UUID], Item] = OrderedDict()
        self._capacity = capacity
        self._lock = asyncio.Lock()

    async def add(self, tenant_id: str, new: ItemCreate) -> Item:
        item = Item(id=uuid4(), created_at=datetime.now(UTC), **new.model_dump())
        async with self._lock:
            self._items[tenant_id, item.id] = item
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return item

    async def get(self, tenant_id: str, item_id: UUID) -> Item | None:
        return self._items.get((tenant_id, item_id))


async def get_item_store(request: Request) -> ItemStore:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a cost
    # paid on every request for no benefit when the function never blocks.
    store: ItemStore = request.state.item_store
    return store


ItemStoreDep = Annotated[ItemStore, Depends(get_item_store)]

router = APIRouter(prefix="/v1/items", tags=["items"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an item")
async def create_item(
    payload: ItemCreate, writer: Writer, store: ItemStoreDep, response: Response
) -> Item:
    item = await store.add(writer.tenant_id, payload)
    response.headers["Location"] = f"{router.prefix}/{item.id}"
    return item


@router.get("/{item_id}", summary="Read an item")
async def read_item(item_id: UUID, reader: Reader, store: ItemStoreDep) -> Item:
    item = await store.get(reader.tenant_id, item_id)
    if item is None:
        message = f"No item with id {item_id}."
        raise NotFoundError(message)
    return item
