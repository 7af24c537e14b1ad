"""Booked trips for the reminder tests, made through the product's own booking path, and a worker process."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from agent.booking import BookingOutcome, book_itinerary
from agent.context import Context
from storage.audit import Actor
from storage.database import Database
from storage.itineraries import create_draft
from storage.models import BookingReminder
from storage.reminder_runs import ConsoleMessage, ReminderDelivery
from storage.tenants import get_user
from tests.conftest import Company


def trip_plan(start: dt.date, *, city: str = "Berlin", hotel: str = "300.00") -> dict[str, Any]:
    """Three days: a flight and a hotel on day one, a workshop, a train home on day three."""
    end = start + dt.timedelta(days=2)
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "destinations": [city],
        "days": [
            {
                "day_number": 1,
                "date": start.isoformat(),
                "items": [
                    {
                        "kind": "flight",
                        "description": f"MUC → {city} LH 1234",
                        "cost": "189.00",
                        "currency": "EUR",
                        "origin": "MUC",
                        "destination": "BER",
                        "carrier": "LH",
                        "number": "LH1234",
                        "depart_at": f"{start.isoformat()}T07:00:00",
                        "arrive_at": f"{start.isoformat()}T08:10:00",
                        "cabin": "economy",
                    },
                    {
                        "kind": "hotel",
                        "description": "Motel One Mitte",
                        "cost": hotel,
                        "currency": "EUR",
                        "city": city,
                        "nights": 2,
                        "vendor": "Motel One",
                    },
                ],
            },
            {
                "day_number": 2,
                "date": (start + dt.timedelta(days=1)).isoformat(),
                "items": [{"kind": "meeting", "description": "Client workshop"}],
            },
            {
                "day_number": 3,
                "date": end.isoformat(),
                "items": [
                    {
                        "kind": "train",
                        "description": f"ICE {city} → Munich",
                        "cost": "139.90",
                        "currency": "EUR",
                        "origin": city,
                        "destination": "Munich",
                    }
                ],
            },
        ],
    }


async def book_trip(
    db: Database, company: Company, *, start: dt.date, now: dt.datetime, user_id: uuid.UUID | None = None
) -> BookingOutcome:
    """Plan and confirm a trip as the traveller would (reminders from the tenant preference)."""
    user_id = user_id or company.traveler_id
    async with db.tenant(company.tenant_id) as session:
        person = await get_user(session, user_id=user_id)
        ctx = Context(
            tenant_id=company.tenant_id,
            user_id=user_id,
            role="traveler",
            channel="console",
            timezone=person.timezone,
            locale="en",
        )
        draft = await create_draft(session, actor=Actor.user(user_id), user_id=user_id, plan=trip_plan(start))
        return await book_itinerary(
            session, ctx=ctx, itinerary_id=draft.id, justification="Client visit", approved_by=None, now=now
        )


async def add_reminders(
    db: Database, company: Company, *, booking_ids: list[uuid.UUID], due: list[dt.datetime]
) -> list[BookingReminder]:
    """Extra reminder rows at chosen times (naive UTC), spread over the bookings; for volume tests."""
    rows = [
        BookingReminder(
            tenant_id=company.tenant_id,
            reminder_id=uuid.uuid4(),
            booking_id=booking_ids[index % len(booking_ids)],
            reminder_date=when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when,
            sent=False,
        )
        for index, when in enumerate(due)
    ]
    async with db.tenant(company.tenant_id) as session:
        session.add_all(rows)
    return rows


async def outbox_counts(db: Database, company: Company) -> dict[uuid.UUID, int]:
    """How many console messages each reminder produced."""
    async with db.tenant(company.tenant_id) as session:
        rows = await session.execute(
            select(ConsoleMessage.reminder_id, func.count()).group_by(ConsoleMessage.reminder_id)
        )
        return {reminder_id: count for reminder_id, count in rows.all()}


async def deliveries(db: Database, company: Company) -> dict[uuid.UUID, ReminderDelivery]:
    async with db.tenant(company.tenant_id) as session:
        return {row.reminder_id: row for row in (await session.scalars(select(ReminderDelivery))).all()}


async def unsent(db: Database, company: Company) -> list[BookingReminder]:
    async with db.tenant(company.tenant_id) as session:
        statement = select(BookingReminder).where(BookingReminder.sent.is_(False))
        return list((await session.scalars(statement)).all())


class WorkerProcess:
    """`travelmate worker` as a real subprocess, with fast crons; its output goes to a log file."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        handle = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "worker"], env=self.env, stdout=handle, stderr=subprocess.STDOUT
        )
        handle.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no signal handler, connections dropped mid-transaction."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str) -> None:
    """Poll an async condition; fail saying `what` did not happen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
