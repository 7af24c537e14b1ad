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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy import func, select

from agent.booking import BookingOutcome, book_itinerary
from agent.context import Context
from storage.audit import OPERATOR, Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import link_identity
from storage.itineraries import create_draft
from storage.models import Booking, BookingReminder, TravelAnalytics, UserTravelHistory
from storage.reminder_runs import ConsoleMessage, ReminderDelivery
from storage.reminders import ScheduledReminder
from storage.reminders import add_reminders as schedule_at
from storage.tenants import get_user
from storage.trip_changes import shift_dates
from tests.conftest import Company
from tests.plans import berlin_days


def trip_plan(start: dt.date) -> dict[str, Any]:
    """The tests' Berlin plan moved to `start`: flight and hotel on day one, a workshop, a train home."""
    plan = berlin_days()
    shift = start - dt.date.fromisoformat(plan["start_date"])
    return {
        **plan,
        "start_date": start.isoformat(),
        "end_date": (dt.date.fromisoformat(plan["end_date"]) + shift).isoformat(),
        "days": [shift_dates(day, shift) for day in plan["days"]],
    }


@pytest.fixture(name="arq_redis")
async def arq_redis_fixture(embedded: EmbeddedUrls) -> AsyncIterator[ArqRedis]:
    """The embedded Redis as arq sees it, emptied before and after the test (import it to use it)."""
    pool = await create_pool(RedisSettings.from_dsn(embedded.redis_url))
    await pool.flushdb()
    yield pool
    await pool.flushdb()
    await pool.aclose()


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


async def link_telegram(db: Database, company: Company, *, chat_id: int) -> None:
    """The company's traveller linked from a Telegram chat (so reminders go there)."""
    async with db.tenant(company.tenant_id) as session:
        await link_identity(
            session,
            actor=OPERATOR,
            channel="telegram",
            workspace_id="",
            external_user_id=str(chat_id),
            user_id=company.traveler_id,
            chat_id=str(chat_id),
        )


async def add_reminders(
    db: Database, company: Company, *, booking_ids: list[uuid.UUID], due: list[dt.datetime]
) -> list[ScheduledReminder]:
    """Extra reminders at chosen times, spread over the bookings; for volume tests."""
    rows: list[ScheduledReminder] = []
    async with db.tenant(company.tenant_id) as session:
        for index, when in enumerate(due):
            booking = await session.get(Booking, (company.tenant_id, booking_ids[index % len(booking_ids)]))
            assert booking is not None
            moment = when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
            rows += await schedule_at(session, booking=booking, times=[moment], timezone="Europe/Berlin")
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


async def history(db: Database, company: Company) -> tuple[list[UserTravelHistory], list[TravelAnalytics]]:
    async with db.tenant(company.tenant_id) as session:
        trips = list((await session.scalars(select(UserTravelHistory))).all())
        spend = list((await session.scalars(select(TravelAnalytics))).all())
    return trips, spend


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
