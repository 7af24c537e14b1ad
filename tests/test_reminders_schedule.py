"""When reminders fall due: 09:00 in the traveller's own time zone (across DST changes), moved with the trip,
gone with a cancellation, snoozed or muted per trip, and listed for the traveller."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.reminder_courier import ReminderCourier
from bot.reminder_delivery import ReminderChannels
from storage.audit import OPERATOR, Actor
from storage.console_outbox import console_messages
from storage.database import Database
from storage.errors import Conflict, InvalidInput, NotFound
from storage.preferences import set_tenant_preference
from storage.reminder_controls import mute_trip_reminders, snooze_trip_reminders, upcoming_reminders
from storage.reminders import reminder_times
from storage.tenants import add_user
from storage.trip_changes import cancel_trip, move_trip
from tests.conftest import Company, make_company
from tests.reminder_trips import book_trip, deliveries, outbox_counts

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts)  # naive UTC, as booking_reminders stores it


@pytest.mark.parametrize(
    ("timezone", "travel_date", "expected"),
    [
        # Tokyo has no DST: 09:00 JST is always 00:00 UTC.
        ("Asia/Tokyo", dt.date(2026, 11, 3), [at(2026, 10, 27, 0), at(2026, 11, 2, 0)]),
        # Los Angeles leaves DST on 1 November 2026: 09:00 PDT is 16:00 UTC, 09:00 PST is 17:00 UTC.
        ("America/Los_Angeles", dt.date(2026, 11, 3), [at(2026, 10, 27, 16), at(2026, 11, 2, 17)]),
        # ... and enters it on 8 March 2026.
        ("America/Los_Angeles", dt.date(2026, 3, 10), [at(2026, 3, 3, 17), at(2026, 3, 9, 16)]),
        # Berlin's change on 25 October 2026 falls between the two reminders.
        ("Europe/Berlin", dt.date(2026, 10, 27), [at(2026, 10, 20, 7), at(2026, 10, 26, 8)]),
    ],
)
def test_reminders_are_at_nine_in_the_morning_local_time_on_both_sides_of_a_dst_change(
    timezone: str, travel_date: dt.date, expected: list[dt.datetime]
) -> None:
    booked_at = dt.datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert (
        reminder_times(travel_date=travel_date, days_before=[7, 1], timezone=timezone, now=booked_at)
        == expected
    )


def test_past_slots_are_skipped_and_a_trip_tomorrow_still_gets_its_reminder() -> None:
    # Booked at 15:00 Tokyo time for a flight tomorrow: today's 09:00 slot has passed, so it goes now.
    booked_at = dt.datetime(2026, 11, 24, 6, tzinfo=UTC)
    tomorrow = dt.date(2026, 11, 25)
    assert reminder_times(travel_date=tomorrow, days_before=[7, 1], timezone="Asia/Tokyo", now=booked_at) == [
        at(2026, 11, 24, 6)
    ]
    # Booked at 07:00 Tokyo time: the 1-day reminder at 09:00 is still ahead, the 7-day one is skipped.
    early = dt.datetime(2026, 11, 23, 22, tzinfo=UTC)
    assert reminder_times(travel_date=tomorrow, days_before=[7, 1], timezone="Asia/Tokyo", now=early) == [
        at(2026, 11, 24, 0)
    ]


async def test_tokyo_and_los_angeles_travellers_are_each_reminded_at_nine_local(db: Database) -> None:
    company = await make_company(db, "Globetrotters", timezone="Asia/Tokyo")
    async with db.tenant(company.tenant_id) as session:
        angeleno = await add_user(
            session,
            actor=OPERATOR,
            display_name="LA Traveller",
            email="la@globetrotters.test",
            timezone="America/Los_Angeles",
        )
    booked_at = dt.datetime(2026, 10, 1, 12, tzinfo=UTC)
    tokyo = await book_trip(db, company, start=dt.date(2026, 11, 3), now=booked_at)
    la = await book_trip(db, company, start=dt.date(2026, 11, 3), now=booked_at, user_id=angeleno.user_id)
    flight_tokyo, flight_la = tokyo.reminders[0], la.reminders[0]
    assert [r.due_at for r in tokyo.reminders[:2]] == [at(2026, 10, 27, 0), at(2026, 11, 2, 0)]
    assert [r.due_at for r in la.reminders[:2]] == [at(2026, 10, 27, 16), at(2026, 11, 2, 17)]

    for reminder in (flight_tokyo, flight_la):
        due = reminder.due_at.replace(tzinfo=UTC)
        early = ReminderCourier(
            db=db, channels=ReminderChannels({}), clock=lambda due=due: due - dt.timedelta(minutes=1)
        )
        on_time = ReminderCourier(db=db, channels=ReminderChannels({}), clock=lambda due=due: due)
        assert (
            await early.deliver(tenant_id=company.tenant_id, reminder_id=reminder.reminder_id)
        ).outcome == "absent"
        assert (
            await on_time.deliver(tenant_id=company.tenant_id, reminder_id=reminder.reminder_id)
        ).outcome == "delivered"

    async with db.tenant(company.tenant_id) as session:
        to_tokyo = await console_messages(session, user_id=company.traveler_id)
        to_la = await console_messages(session, user_id=angeleno.user_id)
    # Each traveller's reminders due that morning (the flight's, the hotel's) went out at their own 09:00.
    # One message per trip and time, filed under one of the reminders it carries.
    for trip, flight, messages in ((tokyo, flight_tokyo, to_tokyo), (la, flight_la, to_la)):
        that_morning = {r.reminder_id for r in trip.reminders if r.due_at == flight.due_at}
        assert len(that_morning & {m.reminder_id for m in messages}) == 1
    assert all("(in 7 days)" in message.body for message in [*to_tokyo, *to_la])


async def test_moving_a_trip_moves_its_reminders_and_old_jobs_find_nothing(
    db: Database, acme: Company
) -> None:
    booked_at = dt.datetime.now(UTC)
    start = booked_at.date() + dt.timedelta(days=20)
    outcome = await book_trip(db, acme, start=start, now=booked_at)
    old_ids = {r.reminder_id for r in outcome.reminders}

    async with db.tenant(acme.tenant_id) as session:
        moved = await move_trip(
            session,
            actor=Actor.user(acme.traveler_id),
            user_id=acme.traveler_id,
            itinerary_id=outcome.itinerary_id,
            start_date=start + dt.timedelta(days=14),
            now=booked_at,
        )
        upcoming = await upcoming_reminders(session, user_id=acme.traveler_id)

    assert len(moved) == 6 and not old_ids & {r.reminder_id for r in moved}
    berlin = ZoneInfo("Europe/Berlin")
    old_days = sorted(r.due_at.replace(tzinfo=UTC).astimezone(berlin).date() for r in outcome.reminders)
    new_local = sorted(r.due_at.astimezone(berlin) for r in upcoming)
    assert [moment.date() for moment in new_local] == [day + dt.timedelta(days=14) for day in old_days]
    assert {moment.time() for moment in new_local} == {dt.time(9, 0)}
    assert {r.reminder_id for r in upcoming} == {r.reminder_id for r in moved}
    courier = ReminderCourier(
        db=db, channels=ReminderChannels({}), clock=lambda: booked_at + dt.timedelta(days=40)
    )
    for reminder_id in old_ids:
        assert (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder_id)).outcome == "absent"
    assert await outbox_counts(db, acme) == {}


async def test_cancelling_a_trip_removes_its_reminders(db: Database, acme: Company) -> None:
    booked_at = dt.datetime.now(UTC) - dt.timedelta(days=30)
    outcome = await book_trip(db, acme, start=booked_at.date() + dt.timedelta(days=33), now=booked_at)
    async with db.tenant(acme.tenant_id) as session:
        cancelled = await cancel_trip(
            session,
            actor=Actor.user(acme.traveler_id),
            user_id=acme.traveler_id,
            itinerary_id=outcome.itinerary_id,
        )
        assert await upcoming_reminders(session, user_id=acme.traveler_id) == []
    with pytest.raises(Conflict, match="cancelled"):
        async with db.tenant(acme.tenant_id) as session:
            await cancel_trip(session, actor=OPERATOR, user_id=None, itinerary_id=outcome.itinerary_id)
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))
    outcomes = {
        (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=r.reminder_id)).outcome
        for r in outcome.reminders
    }
    assert cancelled == 3 and outcomes == {"absent"}
    assert await outbox_counts(db, acme) == {}


async def test_a_new_days_before_preference_applies_to_trips_booked_after_it(
    db: Database, acme: Company
) -> None:
    booked_at = dt.datetime(2026, 9, 1, 12, tzinfo=UTC)
    before = await book_trip(db, acme, start=dt.date(2026, 12, 1), now=booked_at)
    async with db.tenant(acme.tenant_id) as session:
        await set_tenant_preference(
            session, actor=Actor.user(acme.admin_id), key="reminders.days_before", value=[14, 3, 1]
        )
    after = await book_trip(db, acme, start=dt.date(2026, 12, 10), now=booked_at)
    assert len(before.reminders) == 6 and len(after.reminders) == 9
    async with db.tenant(acme.tenant_id) as session:
        still = await upcoming_reminders(session, user_id=acme.traveler_id, itinerary_id=before.itinerary_id)
    assert len(still) == 6


async def test_snoozing_a_trip_moves_its_earlier_reminders_to_one_per_booking(
    db: Database, acme: Company
) -> None:
    now = dt.datetime.now(UTC)
    outcome = await book_trip(
        db, acme, start=now.date() + dt.timedelta(days=3), now=now - dt.timedelta(days=30)
    )
    until = now + dt.timedelta(days=1, hours=6)
    actor = Actor.user(acme.traveler_id)
    async with db.tenant(acme.tenant_id) as session:
        moved = await snooze_trip_reminders(
            session,
            actor=actor,
            user_id=acme.traveler_id,
            itinerary_id=outcome.itinerary_id,
            until=until,
            now=now,
        )
        upcoming = await upcoming_reminders(session, user_id=acme.traveler_id)
    moment = until.replace(tzinfo=None)
    # The three due 7-day reminders and the 1-day ones before `until` collapse to one per booking.
    before_until = [r for r in outcome.reminders if r.due_at < moment]
    assert len(moved) == len({r.booking_id for r in before_until}) == 3
    assert sorted(r.due_at for r in upcoming)[:3] == [until] * 3
    assert {r.snoozed_until for r in upcoming} == {until}
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))
    for reminder in before_until:
        assert (
            await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)
        ).outcome == "absent"
    for reminder in moved:
        assert (
            await courier.deliver(tenant_id=acme.tenant_id, reminder_id=reminder.reminder_id)
        ).outcome == "absent"
    assert await outbox_counts(db, acme) == {}

    for wrong, message in [
        (now - dt.timedelta(minutes=1), "future"),
        (now + dt.timedelta(days=31), "30 days"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            async with db.tenant(acme.tenant_id) as session:
                await snooze_trip_reminders(
                    session,
                    actor=actor,
                    user_id=acme.traveler_id,
                    itinerary_id=outcome.itinerary_id,
                    until=wrong,
                    now=now,
                )


async def test_a_muted_trip_gets_no_reminders_until_it_is_unmuted(
    db: Database, acme: Company, globex: Company
) -> None:
    now = dt.datetime.now(UTC)
    outcome = await book_trip(
        db, acme, start=now.date() + dt.timedelta(days=3), now=now - dt.timedelta(days=30)
    )
    due = [r for r in outcome.reminders if r.due_at <= now.replace(tzinfo=None)]
    actor = Actor.user(acme.traveler_id)
    async with db.tenant(acme.tenant_id) as session:
        await mute_trip_reminders(
            session, actor=actor, user_id=acme.traveler_id, itinerary_id=outcome.itinerary_id
        )
        listed = await upcoming_reminders(session, user_id=acme.traveler_id)
    assert listed and all(r.muted for r in listed)
    courier = ReminderCourier(db=db, channels=ReminderChannels({}))

    muted = (await courier.deliver(tenant_id=acme.tenant_id, reminder_id=due[0].reminder_id)).outcome
    async with db.tenant(acme.tenant_id) as session:
        await mute_trip_reminders(
            session, actor=actor, user_id=acme.traveler_id, itinerary_id=outcome.itinerary_id, muted=False
        )
    # The day before the trip, its 1-day reminders fall due and go out again.
    later = [r for r in outcome.reminders if r not in due]
    day_before = ReminderCourier(
        db=db, channels=ReminderChannels({}), clock=lambda: later[0].due_at.replace(tzinfo=UTC)
    )
    unmuted = (await day_before.deliver(tenant_id=acme.tenant_id, reminder_id=later[0].reminder_id)).outcome

    assert (muted, unmuted) == ("muted", "delivered")
    recorded = await deliveries(db, acme)
    assert {recorded[r.reminder_id].outcome for r in due} == {"muted"}
    # The 1-day reminders due together (day 1's flight and hotel) arrive as one message.
    assert sorted((await outbox_counts(db, acme)).values()) == [1]
    assert {recorded[r.reminder_id].outcome for r in later if r.due_at <= later[0].due_at} == {"delivered"}
    # Another company's traveller cannot mute this trip: it is not theirs to find.
    with pytest.raises(NotFound):
        async with db.tenant(globex.tenant_id) as session:
            await mute_trip_reminders(
                session,
                actor=Actor.user(globex.traveler_id),
                user_id=globex.traveler_id,
                itinerary_id=outcome.itinerary_id,
            )
