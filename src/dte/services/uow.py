"""Write transactions: one per use case, so bad input changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

WRITE_OPTION = "dte_write"


@asynccontextmanager
async def write(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A transaction that will write. On SQLite it starts with ``BEGIN IMMEDIATE`` (see the engine),
    so concurrent writers queue on the lock instead of failing when their read snapshot goes stale."""
    if session.in_transaction():
        # Services write only inside write(); an open transaction here is a read snapshot. End it.
        await session.commit()
    async with session.begin():
        await session.connection(execution_options={WRITE_OPTION: True})
        yield session
