"""Typed results of the travel-information providers: places, daily forecasts, flight status, unavailability."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# WMO weather interpretation codes, as Open-Meteo documents them, in the words a traveller uses.
WEATHER_WORDS: dict[int, str] = {
    0: "clear sky",
    1: "mostly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "freezing fog",
    51: "light drizzle",
    53: "drizzle",
    55: "heavy drizzle",
    56: "freezing drizzle",
    57: "freezing drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    66: "freezing rain",
    67: "freezing rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    77: "snow grains",
    80: "rain showers",
    81: "rain showers",
    82: "heavy rain showers",
    85: "snow showers",
    86: "heavy snow showers",
    95: "thunderstorms",
    96: "thunderstorms with hail",
    99: "thunderstorms with hail",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Place(_Frozen):
    """A geocoded destination."""

    name: str
    country: str | None = None
    country_code: str | None = None
    latitude: float
    longitude: float
    timezone: str | None = None


class DailyForecast(_Frozen):
    """The forecast for one local day at a place."""

    date: dt.date
    weather_code: int | None = None
    temperature_max: float | None = None
    temperature_min: float | None = None
    precipitation_mm: float | None = None
    precipitation_probability: int | None = None

    @property
    def conditions(self) -> str | None:
        if self.weather_code is None:
            return None
        return WEATHER_WORDS.get(self.weather_code, "mixed weather")


class Weather(_Frozen):
    """The daily forecast for a place over the asked dates; days beyond the forecast horizon are missing."""

    place: Place
    start: dt.date
    end: dt.date
    days: list[DailyForecast] = Field(default_factory=list)


class FlightPhase(StrEnum):
    """Where a flight stands; the provider's own vocabulary maps onto this."""

    SCHEDULED = "scheduled"
    CHECK_IN = "check_in"
    BOARDING = "boarding"
    GATE_CLOSED = "gate_closed"
    DELAYED = "delayed"
    DEPARTED = "departed"
    EN_ROUTE = "en_route"
    APPROACHING = "approaching"
    ARRIVED = "arrived"
    DIVERTED = "diverted"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


AIRBORNE_OR_DONE = frozenset(
    {
        FlightPhase.DEPARTED,
        FlightPhase.EN_ROUTE,
        FlightPhase.APPROACHING,
        FlightPhase.ARRIVED,
        FlightPhase.DIVERTED,
    }
)


class FlightStatus(_Frozen):
    """The live status of one flight on one day (times are aware, in the airport's local offset)."""

    flight_number: str  # as displayed, e.g. "LH 1234"
    day: dt.date
    phase: FlightPhase
    departure_airport: str | None = None
    arrival_airport: str | None = None
    scheduled_departure: dt.datetime | None = None
    estimated_departure: dt.datetime | None = None
    scheduled_arrival: dt.datetime | None = None
    estimated_arrival: dt.datetime | None = None
    gate: str | None = None
    terminal: str | None = None

    @property
    def delay_minutes(self) -> int | None:
        """Minutes late at departure (0 when on time or early); None when no estimate is known."""
        if self.scheduled_departure is None or self.estimated_departure is None:
            return None
        late = (self.estimated_departure - self.scheduled_departure).total_seconds() / 60
        return max(0, round(late))

    @property
    def expected_departure(self) -> dt.datetime | None:
        return self.estimated_departure or self.scheduled_departure

    @property
    def cancelled(self) -> bool:
        return self.phase is FlightPhase.CANCELLED

    @property
    def departed(self) -> bool:
        return self.phase in AIRBORNE_OR_DONE


UnavailableReason = Literal["not_configured", "not_found", "out_of_range", "provider_error", "timeout"]


class Unavailable(_Frozen):
    """A lookup that gave no information; `describe()` is the sentence a traveller reads."""

    what: str  # e.g. "the weather in Berlin", "the status of LH 1234"
    reason: UnavailableReason
    detail: str | None = None  # for logs; never shown verbatim to users

    def describe(self) -> str:
        because = {
            "not_configured": "live flight status is not set up",
            "not_found": "the provider does not know it",
            "out_of_range": "forecasts cover today and the next 15 days",
            "provider_error": "the provider is not answering",
            "timeout": "the provider did not answer in time",
        }[self.reason]
        return f"Information unavailable for {self.what} ({because})"
