"""/spend shows booked trips as committed spend until they are over, then as completed spend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from agent.commands import CommandRunner
from storage.database import Database
from storage.periods import parse_period
from storage.trip_completion import complete_trip
from tests.conftest import NOW, Company, traveller
from tests.reminder_trips import book_trip

TODAY = dt.date(2026, 11, 25)


async def test_a_booked_trip_is_committed_spend_until_it_is_over_then_completed_spend(
    db: Database, acme: Company
) -> None:
    outcome = await book_trip(db, acme, start=dt.date(2026, 12, 3), now=NOW)
    booked = sum(
        (Decimal(b.booking_details["amount"]) for b in outcome.bookings if b.status == "confirmed"),
        Decimal(0),
    )
    runner = CommandRunner(db, clock=lambda: NOW)

    before = (await runner.run(traveller(acme), "/spend this year")).text.splitlines()
    assert before[0] == "No completed travel spend is recorded for you in 2026 (1 Jan – 31 Dec 2026)."
    assert before[1] == (
        f"Committed (booked, not yet travelled): {booked:,.2f} EUR on 1 trip. "
        "It counts as completed spend once the trip is over."
    )
    december = (await runner.run(traveller(acme), "/spend next month")).text
    assert "Committed (booked, not yet travelled)" in december and "(1 Dec – 31 Dec 2026)" in december

    over = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    async with db.tenant(acme.tenant_id) as session:
        assert await complete_trip(session, itinerary_id=outcome.itinerary_id, now=over) is True
    after = (await runner.run(traveller(acme), "/spend this year")).text.splitlines()
    assert (
        after[0] == f"Your completed travel spend in 2026 (1 Jan – 31 Dec 2026): {booked:,.2f} EUR on 1 trip."
    )
    assert not any(line.startswith("Committed") for line in after)


def test_next_month_quarter_and_year_are_the_coming_calendar_periods() -> None:
    assert parse_period("next month", today=TODAY).describe() == "December 2026 (1 Dec – 31 Dec 2026)"
    assert parse_period("next quarter", today=TODAY).describe().startswith("Q1 2027 (1 Jan – 31 Mar 2027)")
    assert parse_period("next year", today=TODAY).describe().startswith("2027 (1 Jan – 31 Dec 2027)")
    assert parse_period("next month", today=dt.date(2026, 12, 31)).describe().startswith("January 2027")
