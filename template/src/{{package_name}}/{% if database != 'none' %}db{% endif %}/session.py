"""One session per request, through an `Annotated` dependency."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for this request; it is closed (and rolled back if open) afterwards.

    Write in an explicit transaction, `async with session.begin(): ...`, so a
    change and its audit record commit or fail together.
    """
    sessions: async_sessionmaker[AsyncSession] = request.state.sessions
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
