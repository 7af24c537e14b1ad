"""The words of a reminder: the trip, the booking's facts, and live travel information when it is available."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from storage.reminder_runs import ClaimedReminder

# The hook for live travel information (weather, flight status): given the reminder, a few plain lines,
# or None. It gets a deadline; when it is slow or fails, the reminder goes out without it.
LiveTravelInformation = Callable[[ClaimedReminder], Awaitable[str | None]]

KIND_LABELS = {"flight": "Flight", "hotel": "Hotel", "train": "Train", "car": "Car"}


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _span(start: dt.date, end: dt.date) -> str:
    if start == end:
        return _day(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{end.day} {end:%b %Y}"
    return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"


def _how_soon(service_date: dt.date, today: dt.date) -> str:
    days = (service_date - today).days
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


def booking_line(reminder: ClaimedReminder) -> str:
    """One line with what was booked: kind, description, route or stay, times, locator and price."""
    facts = reminder.booking_details
    parts = [
        f"{KIND_LABELS.get(reminder.booking_type, reminder.booking_type.title())}: {facts.get('description', '')}".strip()
    ]
    if facts.get("number"):
        parts.append(str(facts["number"]))
    if facts.get("origin") and facts.get("destination"):
        parts.append(f"{facts['origin']} → {facts['destination']}")
    elif facts.get("city"):
        parts.append(str(facts["city"]))
    if facts.get("depart_at"):
        parts.append(f"departs {dt.datetime.fromisoformat(facts['depart_at']):%H:%M}")
    if facts.get("service_date"):
        day = dt.date.fromisoformat(facts["service_date"])
        if facts.get("end_date") and reminder.booking_type in ("hotel", "car"):
            parts.append(f"{_day(day)} to {_day(dt.date.fromisoformat(facts['end_date']))}")
        else:
            parts.append(_day(day))
    if facts.get("reference"):
        parts.append(f"locator {facts['reference']}")
    if facts.get("amount") and facts.get("currency"):
        parts.append(f"{facts['amount']} {facts['currency']}")
    return ", ".join(part for part in parts if part) + "."


def reminder_text(reminder: ClaimedReminder, *, now: dt.datetime, live: str | None = None) -> str:
    """The reminder as plain text, the same on every channel."""
    today = now.astimezone(ZoneInfo(reminder.timezone)).date()
    service_date = reminder.service_date
    places = ", ".join(str(place) for place in reminder.destinations) or "your trip"
    lines = [
        f"Trip reminder: {places}, {_span(reminder.trip_start, reminder.trip_end)} "
        f"({_how_soon(service_date, today)}).",
        booking_line(reminder),
    ]
    if live:
        lines.append(live.strip())
    return "\n".join(lines)
