"""Flight status from AeroDataBox (RapidAPI headers), used only when FLIGHT_STATUS_API_KEY is set."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from agent.travel_info.models import FlightPhase, FlightStatus
from agent.travel_info.providers import ProviderError, get_json
from storage.errors import InvalidInput

# IATA (two characters, one may be a digit) or ICAO (three letters) airline code, then 1-4 digits and a suffix.
_FLIGHT_NUMBER = re.compile(r"^([A-Z0-9]{2}[A-Z]?)\s*-?\s*(\d{1,4}[A-Z]?)$")

# AeroDataBox's FlightStatus enum onto ours. "CanceledUncertain" (no updates came) is not a cancellation.
_PHASES: dict[str, FlightPhase] = {
    "Unknown": FlightPhase.UNKNOWN,
    "Expected": FlightPhase.SCHEDULED,
    "EnRoute": FlightPhase.EN_ROUTE,
    "CheckIn": FlightPhase.CHECK_IN,
    "Boarding": FlightPhase.BOARDING,
    "GateClosed": FlightPhase.GATE_CLOSED,
    "Departed": FlightPhase.DEPARTED,
    "Delayed": FlightPhase.DELAYED,
    "Approaching": FlightPhase.APPROACHING,
    "Arrived": FlightPhase.ARRIVED,
    "Canceled": FlightPhase.CANCELLED,
    "Diverted": FlightPhase.DIVERTED,
    "CanceledUncertain": FlightPhase.UNKNOWN,
}


def normalise_flight_number(text: str) -> tuple[str, str]:
    """("LH1234", "LH 1234") from "lh1234", "LH 1234" or "LH-1234"; InvalidInput for anything else."""
    match = _FLIGHT_NUMBER.match(text.strip().upper())
    if match is None:
        raise InvalidInput(f"'{text.strip()[:20]}' is not a flight number like LH 1234.")
    airline, number = match.groups()
    return f"{airline}{number}", f"{airline} {number}"


class AeroDataBox:
    """GET /flights/number/{number}/{dateLocal}: a list of FlightContract, one per leg with that number."""

    name = "aerodatabox"

    def __init__(self, client: httpx.AsyncClient, *, api_url: str, api_key: str, max_retries: int) -> None:
        self._client = client
        self._base = api_url.rstrip("/")
        self._headers = {
            "X-RapidAPI-Key": api_key,
            "X-RapidAPI-Host": urlsplit(self._base).hostname or "",
            "Accept": "application/json",
        }
        self._max_retries = max_retries

    async def flight_status(self, flight_number: str, day: dt.date) -> FlightStatus | None:
        compact, shown = normalise_flight_number(flight_number)
        body = await get_json(
            self._client,
            f"{self._base}/flights/number/{quote(compact)}/{day.isoformat()}",
            provider=self.name,
            params={"dateLocalRole": "Departure", "withAircraftImage": "false", "withLocation": "false"},
            headers=self._headers,
            max_retries=self._max_retries,
            missing_statuses=frozenset({204, 404}),  # no flight with that number on that day
        )
        if body is None:
            return None
        if not isinstance(body, list):
            raise ProviderError(self.name, "provider_error", "flight status of unknown shape")
        leg = _leg_departing_on(body, day)
        if leg is None:
            return None
        try:
            return parse_flight(leg, day=day, fallback_number=shown)
        except (KeyError, TypeError, ValueError) as error:
            raise ProviderError(self.name, "provider_error", "flight status of unknown shape") from error


def _local_date(movement: Any) -> dt.date | None:
    when = _time(movement, "scheduledTime")
    return when.date() if when else None


def _leg_departing_on(flights: list[Any], day: dt.date) -> dict[str, Any] | None:
    """The leg departing on the day asked (a number may fly several legs, or arrive from the day before)."""
    legs = [flight for flight in flights if isinstance(flight, dict)]
    for leg in legs:
        if _local_date(leg.get("departure")) == day:
            return leg
    return legs[0] if legs else None


def _time(movement: Any, name: str) -> dt.datetime | None:
    """A DateTimeContract's local time ("2025-01-16 23:40+10:00"), aware; UTC when only that is given."""
    if not isinstance(movement, dict):
        return None
    value = movement.get(name)
    if not isinstance(value, dict):
        return None
    text = value.get("local") or value.get("utc")
    if not text:
        return None
    parsed = dt.datetime.fromisoformat(str(text))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _airport(movement: Any) -> str | None:
    if not isinstance(movement, dict) or not isinstance(movement.get("airport"), dict):
        return None
    airport = movement["airport"]
    return airport.get("iata") or airport.get("icao") or airport.get("name")


def _text(movement: Any, name: str) -> str | None:
    if not isinstance(movement, dict):
        return None
    value = movement.get(name)
    if value is None:
        return None
    return str(value).strip() or None


def parse_flight(leg: dict[str, Any], *, day: dt.date, fallback_number: str) -> FlightStatus:
    departure, arrival = leg.get("departure"), leg.get("arrival")
    return FlightStatus(
        flight_number=str(leg.get("number") or fallback_number),
        day=day,
        phase=_PHASES.get(str(leg.get("status")), FlightPhase.UNKNOWN),
        departure_airport=_airport(departure),
        arrival_airport=_airport(arrival),
        scheduled_departure=_time(departure, "scheduledTime"),
        estimated_departure=_time(departure, "revisedTime"),
        scheduled_arrival=_time(arrival, "scheduledTime"),
        estimated_arrival=_time(arrival, "revisedTime") or _time(arrival, "predictedTime"),
        gate=_text(departure, "gate"),
        terminal=_text(departure, "terminal"),
    )
