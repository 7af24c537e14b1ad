"""The words of a reminder: the trip, the booking's facts, and live travel information when it is available."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from zoneinfo import ZoneInfo

from storage.reminder_runs import ClaimedReminder

# The hook for live travel information (weather, flight status): given the reminder, a few plain lines,
# or None. It gets a deadline; when it is slow or fails, the reminder goes out without it.
LiveTravelInformation = Callable[[ClaimedReminder], Awaitable[str | None]]


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


def trip_reminder_text(
    reminders: Sequence[ClaimedReminder], *, now: dt.datetime, live: Sequence[str | None] = ()
) -> str:
    """One message for a trip's reminders due together: the trip once, each booking's line, what is known live."""
    first = reminders[0]
    if len(reminders) == 1:
        return reminder_text(first, now=now, live=next(iter(live), None))
    today = now.astimezone(ZoneInfo(first.timezone)).date()
    places = ", ".join(str(place) for place in first.destinations) or "your trip"
    assert first.trip_start is not None and first.trip_end is not None  # grouped only within a trip
    soonest = min(reminder.service_date for reminder in reminders)
    lines = [
        f"Trip reminder: {places}, {_span(first.trip_start, first.trip_end)} ({_how_soon(soonest, today)})."
    ]
    ordered = sorted(reminders, key=lambda reminder: (reminder.service_date, reminder.message))
    lines += [f"• {reminder.message.strip()}" for reminder in ordered]
    known: list[str] = []
    for note in live:
        for part in (note or "").split("; "):
            if part.strip() and part.strip() not in known:
                known.append(part.strip())
    if known:
        lines.append("; ".join(known))
    return "\n".join(lines)


def reminder_text(reminder: ClaimedReminder, *, now: dt.datetime, live: str | None = None) -> str:
    """The reminder as plain text, the same on every channel: the trip, the reminder's message, live news."""
    if not (reminder.trip_start and reminder.trip_end):  # a reminder of its own, outside any trip
        lines = [f"Reminder: {reminder.message.strip()}"]
    else:
        today = now.astimezone(ZoneInfo(reminder.timezone)).date()
        when = _how_soon(reminder.service_date, today)
        places = ", ".join(str(place) for place in reminder.destinations) or "your trip"
        lines = [
            f"Trip reminder: {places}, {_span(reminder.trip_start, reminder.trip_end)} ({when}).",
            reminder.message.strip(),
        ]
    if live:
        lines.append(live.strip())
    return "\n".join(lines)
