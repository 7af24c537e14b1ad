"""Trips as an iCalendar file: one event per flight, train, hotel stay and meeting, each in its local time.

Where a time is and which zone it is in:
- A flight or train departs in the zone of its origin and arrives in the zone of its destination.
- A meeting is in the zone of its city; without one, where the traveller is that day: the destination of
  the last flight or train so far, or the city of the last hotel, or else the trip's first destination.
- A hotel stay is an all-day event from check-in to check-out day, as calendars show stays.
- Places are IATA airport codes or city names; a place that is not known counts as the trip's first
  destination, and when that is not known either, as the traveller's own time zone.
- A time written without a zone is the local time of its place; a time with a zone is the same instant,
  shown in the place's zone. An item without a time is an all-day event on its day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy.ext.asyncio import AsyncSession

from agent.replies import AgentReply, Attachment
from storage.itineraries import ItineraryView, get_itinerary, list_itineraries
from storage.places import place_zone
from storage.plans import DayPlan, ItemKind, TravelItem

JOURNEYS = (ItemKind.FLIGHT, ItemKind.TRAIN)
PRODUCT_ID = "-//AITravelMate//Trips//EN"


@dataclass(frozen=True)
class TripCalendar:
    """An ICS file and what it holds."""

    content: bytes
    trips: int
    events: int

    def as_attachment(self) -> Attachment:
        return Attachment(
            filename="travelmate-trips.ics",
            content=self.content,
            title=f"{self.trips} {'trip' if self.trips == 1 else 'trips'} as a calendar ({self.events} events)",
            mime_type="text/calendar",
        )

    def reply(self) -> AgentReply:
        """What every channel answers to `/trips export`."""
        if not self.trips:
            return AgentReply.say("You have no upcoming confirmed trips to put in a calendar.")
        return AgentReply(
            text=f"Your upcoming trips as a calendar file: {self.events} events, each in its local time.",
            attachments=(self.as_attachment(),),
        )


async def upcoming_trip_calendar(
    session: AsyncSession, *, user_id: uuid.UUID, home_zone: str, now: dt.datetime
) -> TripCalendar:
    """The traveller's confirmed trips that have not ended yet, as a calendar."""
    trips = await list_itineraries(
        session, user_id=user_id, status="confirmed", upcoming_from=now.date(), limit=100
    )
    views = [await get_itinerary(session, itinerary_id=trip.itinerary_id) for trip in trips]
    return trip_calendar(views, home_zone=home_zone, now=now)


def trip_calendar(trips: Sequence[ItineraryView], *, home_zone: str, now: dt.datetime) -> TripCalendar:
    """Every trip's flights, trains, hotel stays and meetings as events of one calendar."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "AITravelMate trips")
    events = 0
    for trip in trips:
        for event in _trip_events(trip, home=ZoneInfo(home_zone), now=now):
            calendar.add_component(event)
            events += 1
    # Rows written by other systems may lack trip dates; the days themselves always have theirs.
    dates = [day.date for trip in trips for day in trip.days]
    if dates:
        calendar.add_missing_timezones(
            first_date=min(dates) - dt.timedelta(days=366), last_date=max(dates) + dt.timedelta(days=366)
        )
    return TripCalendar(calendar.to_ical(), trips=len(trips), events=events)


def _trip_events(trip: ItineraryView, *, home: ZoneInfo, now: dt.datetime) -> list[Event]:
    destinations = list(trip.itinerary.destinations or [])
    here = (place_zone(destinations[0]) if destinations else None) or home
    events: list[Event] = []
    for day in trip.days:
        for index, item in enumerate(day.items):
            event: Event | None = None
            if item.kind in JOURNEYS:
                event = _journey(item, day, here)
                here = place_zone(item.destination) or here
            elif item.kind == ItemKind.HOTEL:
                here = place_zone(item.city) or here
                event = _hotel_stay(item, day, trip.itinerary.end_date)
            elif item.kind == ItemKind.MEETING:
                event = _meeting(item, day, place_zone(item.city) or here)
            if event is not None:
                event.add("uid", f"{trip.id}-{day.day_number}-{index}@aitravelmate")
                event.add("dtstamp", now.astimezone(dt.UTC))
                event.add("description", _details(item))
                events.append(event)
    return events


def _local(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A naive time is the place's wall-clock time; an aware one is shown in the place's zone."""
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _journey(item: TravelItem, day: DayPlan, here: ZoneInfo) -> Event:
    departs_in = place_zone(item.origin) or here
    return _timed(item, day, starts_in=departs_in, ends_in=place_zone(item.destination) or departs_in)


def _meeting(item: TravelItem, day: DayPlan, zone: ZoneInfo) -> Event:
    return _timed(item, day, starts_in=zone, ends_in=zone)


def _timed(item: TravelItem, day: DayPlan, *, starts_in: ZoneInfo, ends_in: ZoneInfo) -> Event:
    """An event from `depart_at` to `arrive_at` in the zones of its two ends; all day when it has no time."""
    event = Event()
    event.add("summary", f"{item.kind.value.capitalize()}: {item.description}")
    if item.depart_at is None:
        _all_day(event, day.date, day.date + dt.timedelta(days=1))
    else:
        event.add("dtstart", _local(item.depart_at, starts_in))
        if item.arrive_at is not None:
            event.add("dtend", _local(item.arrive_at, ends_in))
    location = item.origin if item.kind in JOURNEYS else item.city
    if location:
        event.add("location", location)
    return event


def _hotel_stay(item: TravelItem, day: DayPlan, trip_end: dt.date | None) -> Event:
    nights = item.nights or max((trip_end - day.date).days if trip_end else 1, 1)
    event = Event()
    event.add("summary", f"Hotel: {item.description}")
    _all_day(event, day.date, day.date + dt.timedelta(days=nights))
    location = ", ".join(part for part in (item.vendor, item.city) if part)
    if location:
        event.add("location", location)
    event.add("transp", "TRANSPARENT")  # a stay does not make the traveller busy
    return event


def _all_day(event: Event, first: dt.date, after_last: dt.date) -> None:
    event.add("dtstart", first)
    event.add("dtend", after_last)


def _details(item: TravelItem) -> str:
    facts = [item.description]
    if item.carrier or item.number:
        facts.append(" ".join(part for part in (item.carrier, item.number) if part))
    if item.cost is not None:
        facts.append(f"{item.cost:,.2f} {item.currency}")
    return "\n".join(facts)
