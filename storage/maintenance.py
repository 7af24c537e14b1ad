"""Cross-tenant maintenance lookups for the worker's crons: ids only, through SECURITY DEFINER functions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

from sqlalchemy import text

from storage.database import Database


async def every_tenant(db: Database, *, batch: int = 500) -> AsyncIterator[uuid.UUID]:
    """Every tenant id, in batches, without the application role ever seeing another tenant's rows."""
    after: uuid.UUID | None = None
    while True:
        async with db.unscoped() as session:
            ids = list(
                (
                    await session.scalars(
                        text("SELECT tenant_ids_after(:after, :n)"), {"after": after, "n": batch}
                    )
                ).all()
            )
        for tenant_id in ids:
            yield tenant_id
        if len(ids) < batch:
            return
        after = ids[-1]


async def flight_bookings_between(
    db: Database, *, first: dt.date, last: dt.date
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Confirmed flight bookings whose travel date falls in [first, last], grouped by tenant."""
    async with db.unscoped() as session:
        rows = (
            await session.execute(
                text("SELECT tenant_id, booking_id FROM flight_bookings_between(:a, :b)"),
                {"a": first, "b": last},
            )
        ).all()
    grouped: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        grouped[row.tenant_id].append(row.booking_id)
    return dict(grouped)
