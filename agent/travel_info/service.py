"""The `TravelInfo` facade: weather for a trip's destination and dates, and flight status, never raising for
provider faults. A slow or broken provider yields `Unavailable` within the deadline; bad input is InvalidInput.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import httpx
from pydantic import TypeAdapter
from redis.asyncio import Redis

from agent.travel_info.cache import FLIGHT_STATUS, FORECAST, GEOCODING, TravelInfoCache
from agent.travel_info.flight_status import AeroDataBox, normalise_flight_number
from agent.travel_info.models import DailyForecast, FlightStatus, Place, Unavailable, Weather
from agent.travel_info.open_meteo import FORECAST_DAYS, OpenMeteo
from agent.travel_info.providers import FlightStatusProvider, ProviderError, WeatherProvider, http_client
from agent.travel_info.settings import TravelInfoSettings
from storage.errors import InvalidInput

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_DESTINATION_LENGTH = 100
MAX_WEATHER_DAYS = 60

_PLACE: TypeAdapter[Place | None] = TypeAdapter(Place | None)
_DAYS: TypeAdapter[list[DailyForecast] | None] = TypeAdapter(list[DailyForecast] | None)
_FLIGHT: TypeAdapter[FlightStatus | None] = TypeAdapter(FlightStatus | None)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def short_date(day: dt.date) -> str:
    return f"{day.day} {day:%b}"


def date_span(start: dt.date, end: dt.date) -> str:
    return short_date(start) if start == end else f"{short_date(start)}–{short_date(end)}"


def place_query(destination: str) -> str:
    """The destination as asked, trimmed and with single spaces; InvalidInput when empty or too long."""
    query = " ".join(destination.split())
    if not query:
        raise InvalidInput("Which city is the weather wanted for?")
    if len(query) > MAX_DESTINATION_LENGTH:
        raise InvalidInput(f"A destination has at most {MAX_DESTINATION_LENGTH} characters.")
    return query


def check_dates(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise InvalidInput("The trip cannot end before it starts.")
    if (end - start).days >= MAX_WEATHER_DAYS:
        raise InvalidInput(f"Weather can be given for at most {MAX_WEATHER_DAYS} days at a time.")


class TravelInfo:
    """Live travel information for answers, reminders and flight watches."""

    def __init__(
        self,
        *,
        weather: WeatherProvider,
        flights: FlightStatusProvider | None,
        cache: TravelInfoCache,
        deadline_seconds: float,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._weather = weather
        self._flights = flights
        self.cache = cache
        self._deadline = deadline_seconds
        self._clock = clock

    @property
    def flight_status_enabled(self) -> bool:
        return self._flights is not None

    def now(self) -> dt.datetime:
        return self._clock()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: TravelInfoSettings,
        *,
        redis_url: str | None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> AsyncIterator[TravelInfo]:
        """The providers the settings enable, one pooled HTTP client and a Redis cache; closed on exit."""
        redis = (
            Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0) if redis_url else None
        )
        async with http_client(timeout_seconds=settings.timeout_seconds) as client:
            info = cls.from_client(client, settings, redis=redis, clock=clock)
            try:
                yield info
            finally:
                await info.cache.cancel_loads()
                if redis is not None:
                    await redis.aclose()

    @classmethod
    def from_client(
        cls,
        client: httpx.AsyncClient,
        settings: TravelInfoSettings,
        *,
        redis: Redis | None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> TravelInfo:
        """A facade on a client and Redis the caller owns (a worker's or a server's shared ones)."""
        weather = OpenMeteo(
            client,
            forecast_url=settings.open_meteo_url,
            geocoding_url=settings.open_meteo_geocoding_url,
            max_retries=settings.max_retries,
        )
        flights: FlightStatusProvider | None = None
        if settings.flight_status_enabled and settings.flight_status_api_key is not None:
            flights = AeroDataBox(
                client,
                api_url=settings.flight_status_api_url,
                api_key=settings.flight_status_api_key.get_secret_value().strip(),
                max_retries=settings.max_retries,
            )
        return cls(
            weather=weather,
            flights=flights,
            cache=TravelInfoCache(redis),
            deadline_seconds=settings.deadline_seconds,
            clock=clock,
        )

    async def _within_deadline(self, what: str, provider: str, lookup: Awaitable[T]) -> T | Unavailable:
        """The lookup's result, or Unavailable when its provider fails or the deadline passes first."""
        try:
            async with asyncio.timeout(self._deadline):
                return await lookup
        except ProviderError as error:
            log.warning("%s unavailable from %s: %s", what, error.provider, error.detail)
            return Unavailable(what=what, reason=error.reason, detail=error.detail)
        except TimeoutError:
            log.warning("%s unavailable from %s: no answer within %.1fs", what, provider, self._deadline)
            return Unavailable(what=what, reason="timeout", detail=f"deadline {self._deadline}s")
        except httpx.HTTPError as error:  # e.g. an invalid provider URL in the settings
            log.warning("%s unavailable from %s: %s", what, provider, type(error).__name__)
            return Unavailable(what=what, reason="provider_error", detail=type(error).__name__)

    async def weather(self, *, destination: str, start: dt.date, end: dt.date) -> Weather | Unavailable:
        """The daily forecast at the destination for the dates; days past the horizon are left out."""
        query = place_query(destination)
        check_dates(start, end)
        what = f"the weather in {query} on {date_span(start, end)}"
        today = self._clock().astimezone(dt.UTC).date()
        # The destination's local day may be one ahead or behind UTC, so allow a day on either side.
        if start > today + dt.timedelta(days=FORECAST_DAYS) or end < today - dt.timedelta(days=1):
            return Unavailable(what=what, reason="out_of_range", detail=f"today is {today}")
        return await self._within_deadline(
            what, self._weather.name, self._weather_for(query, start, end, what)
        )

    async def _weather_for(
        self, query: str, start: dt.date, end: dt.date, what: str
    ) -> Weather | Unavailable:
        provider = self._weather
        place = await self.cache.read_through(
            provider=provider.name,
            kind="place",
            key=query.casefold(),
            freshness=GEOCODING,
            shape=_PLACE,
            load=lambda: provider.find_place(query),
        )
        if place is None:
            return Unavailable(what=what, reason="not_found", detail="no geocoding match")
        days = await self.cache.read_through(
            provider=provider.name,
            kind="forecast",
            key=f"{place.latitude:.4f},{place.longitude:.4f}",
            freshness=FORECAST,
            shape=_DAYS,
            load=lambda: provider.daily_forecast(place),
        )
        wanted = [day for day in days or [] if start <= day.date <= end]
        if not wanted:
            return Unavailable(what=what, reason="out_of_range", detail="no forecast day in range")
        return Weather(place=place, start=start, end=end, days=wanted)

    async def flight_status(
        self, *, flight_number: str, day: dt.date, fresh: bool = False
    ) -> FlightStatus | Unavailable:
        """The live status of the flight departing on `day`. `fresh` bypasses the cache (flight watches)."""
        compact, shown = normalise_flight_number(flight_number)
        what = f"the status of {shown} on {short_date(day)}"
        flights = self._flights
        if flights is None:
            return Unavailable(what=what, reason="not_configured")

        async def lookup() -> FlightStatus | Unavailable:
            status = await self.cache.read_through(
                provider=flights.name,
                kind="flight",
                key=f"{compact}:{day.isoformat()}",
                freshness=FLIGHT_STATUS,
                shape=_FLIGHT,
                load=lambda: flights.flight_status(compact, day),
                fresh=fresh,
            )
            return status if status is not None else Unavailable(what=what, reason="not_found")

        return await self._within_deadline(what, flights.name, lookup())
