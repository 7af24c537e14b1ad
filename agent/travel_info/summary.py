"""Travel information in a few words: "3 °C and rain in Berlin on 3 Dec; LH 1234 departs 40 min late from gate B22"."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable

from agent.travel_info.flight_status import normalise_flight_number
from agent.travel_info.models import DailyForecast, FlightPhase, FlightStatus, Unavailable, Weather
from agent.travel_info.service import TravelInfo, check_dates, date_span, place_query, short_date
from storage.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_FLIGHTS = 10
MAX_DAYS_LISTED = 5  # longer stays get a range instead of one phrase per day


def _degrees(value: float | None) -> str | None:
    return None if value is None else f"{round(value)} °C"


def _day_phrase(day: DailyForecast) -> str:
    parts = [part for part in (_degrees(day.temperature_max), day.conditions) if part]
    return " and ".join(parts) if parts else "no forecast"


def describe_weather(weather: Weather) -> str:
    """One day: "3 °C and rain in Berlin on 3 Dec"; a few: each day; a long stay: the range and the wet days."""
    place = weather.place.name
    days = weather.days
    if len(days) == 1:
        text = f"{_day_phrase(days[0])} in {place} on {short_date(days[0].date)}"
    elif len(days) <= MAX_DAYS_LISTED:
        text = f"In {place}: " + ", ".join(f"{_day_phrase(day)} on {short_date(day.date)}" for day in days)
    else:
        highs = [day.temperature_max for day in days if day.temperature_max is not None]
        wet = [day for day in days if (day.precipitation_mm or 0) >= 1]
        span = date_span(days[0].date, days[-1].date)
        warmth = f"{round(min(highs))} to {round(max(highs))} °C" if highs else "no temperatures known"
        text = f"In {place} on {span}: {warmth}, {len(wet)} wet day{'s' if len(wet) != 1 else ''}"
    if days and days[-1].date < weather.end:  # days already past are simply not mentioned
        text += f" (no forecast yet after {short_date(days[-1].date)})"
    return text


def _clock(when: dt.datetime | None) -> str:
    return f" at {when:%H:%M}" if when else ""


def _where(status: FlightStatus) -> str:
    if status.gate and status.terminal:
        return f" from gate {status.gate}, terminal {status.terminal}"
    if status.gate:
        return f" from gate {status.gate}"
    if status.terminal:
        return f" from terminal {status.terminal}"
    return ""


def describe_flight(status: FlightStatus) -> str:
    """ "LH 1234 departs 40 min late from gate B22", "LH 1234 on 3 Dec is cancelled", ..."""
    number = status.flight_number
    if status.phase is FlightPhase.CANCELLED:
        return f"{number} on {short_date(status.day)} is cancelled"
    if status.phase is FlightPhase.DIVERTED:
        return f"{number} on {short_date(status.day)} was diverted"
    if status.phase is FlightPhase.ARRIVED:
        return f"{number} has arrived{_clock(status.estimated_arrival or status.scheduled_arrival)}"
    if status.departed:
        return f"{number} departed{_clock(status.estimated_departure or status.scheduled_departure)}"
    delay = status.delay_minutes
    if delay is not None and delay >= 5:
        timing = f"departs {delay} min late{_clock(status.estimated_departure)}"
    elif delay is not None:
        timing = f"departs on time{_clock(status.scheduled_departure)}"
    elif status.phase is FlightPhase.DELAYED:
        timing = "is delayed"
    else:  # only the schedule is known so far (days ahead, or an airport without live data)
        timing = f"is scheduled to depart{_clock(status.scheduled_departure)}"
    extra = {FlightPhase.BOARDING: ", boarding now", FlightPhase.GATE_CLOSED: ", gate closed"}
    return f"{number} {timing}{_where(status)}{extra.get(status.phase, '')}"


def describe(result: Weather | FlightStatus | Unavailable) -> str:
    if isinstance(result, Unavailable):
        return result.describe()
    if isinstance(result, Weather):
        return describe_weather(result)
    return describe_flight(result)


async def travel_info_for_trip(
    info: TravelInfo,
    *,
    destination: str,
    start: dt.date,
    end: dt.date,
    flights: list[tuple[str, dt.date]],
    known_only: bool = False,
) -> str:
    """A short summary of the destination's weather over the dates and each flight's status.

    Provider faults read as "information unavailable" (the traveller asked); with `known_only` (reminders,
    which nobody asked for) they are left out and logged for operators, and the summary may be empty.
    Malformed input (an unknown flight-number shape, an end before the start) raises InvalidInput before any
    provider is asked.
    """
    place_query(destination)
    check_dates(start, end)
    if len(flights) > MAX_FLIGHTS:
        raise InvalidInput(f"At most {MAX_FLIGHTS} flights can be looked up at once.")
    wanted: dict[tuple[str, dt.date], str] = {}
    for number, day in flights:
        compact, _ = normalise_flight_number(number)
        wanted.setdefault((compact, day), number)
    lookups: list[Awaitable[Weather | FlightStatus | Unavailable]] = [
        info.weather(destination=destination, start=start, end=end)
    ]
    lookups += [info.flight_status(flight_number=number, day=day) for number, day in wanted]
    results = await asyncio.gather(*lookups)
    if known_only:
        for missing in (r for r in results if isinstance(r, Unavailable)):
            log.info("travel information left out of a reminder: %s (%s)", missing.what, missing.reason)
        results = [r for r in results if not isinstance(r, Unavailable)]
    return "; ".join(describe(result) for result in results)
