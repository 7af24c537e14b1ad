"""Tenant and user facts for the tail of the prompt, and compact text views of trips and bookings."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from agent.context import Context
from prompts import render_prompt
from storage.models import Booking, Itinerary
from storage.profiles import TravellerProfile


def _lines(values: dict[str, object]) -> str:
    shown = {key: value for key, value in values.items() if value not in (None, [], {}, "")}
    return (
        "\n".join(f"- {key}: {json.dumps(value, ensure_ascii=False)}" for key, value in sorted(shown.items()))
        or "- none"
    )


def render_facts(profile: TravellerProfile, *, ctx: Context, now: dt.datetime) -> str:
    """Everything the model should know about this company and traveller, rendered once per turn."""
    trips = (
        "\n".join(
            f"- {trip.destination}, {trip.start_date:%d %b %Y}–{trip.end_date:%d %b %Y}"
            + (f", spent {trip.total_spend:,.2f}" if trip.total_spend is not None else "")
            for trip in profile.recent_trips
        )
        or "- none yet"
    )
    local = now.astimezone(ZoneInfo(ctx.timezone))
    return render_prompt(
        "facts",
        today=f"{local:%A %Y-%m-%d %H:%M}",
        timezone=ctx.timezone,
        traveller=ctx.display_name or "the traveller",
        role=ctx.role,
        policy=_lines(profile.company),
        personal=_lines(profile.personal),
        history=trips,
    )


def describe_itineraries(trips: Sequence[Itinerary]) -> str:
    if not trips:
        return "No itineraries."
    return "\n".join(
        f"- {trip.itinerary_id} [{trip.status}] {', '.join(trip.places)}, "
        f"{trip.start_date:%d %b}–{trip.end_date:%d %b %Y}"
        for trip in trips
    )


def booking_line(booking: Booking) -> str:
    facts = booking.booking_details
    reference = f", ref {facts['reference']}" if facts.get("reference") else ""
    return (
        f"- {booking.booking_id} [{booking.status}] {booking.booking_type}: {facts.get('description', '')}, "
        f"{facts.get('service_date', '')}, {facts.get('amount')} {facts.get('currency')}{reference}"
    )


def describe_bookings(bookings: Sequence[Booking]) -> str:
    return "\n".join(booking_line(booking) for booking in bookings) if bookings else "No bookings."
