"""Weather from Open-Meteo (no key): its geocoding API finds the destination, its forecast API the days."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from agent.travel_info.models import DailyForecast, Place
from agent.travel_info.providers import ProviderError, get_json

FORECAST_DAYS = 16  # the longest daily forecast Open-Meteo serves
DAILY_VARIABLES = (
    "weather_code",
    "temperature_2m_max",
    "temperature_2m_min",
    "precipitation_sum",
    "precipitation_probability_max",
)


class OpenMeteo:
    """The Open-Meteo adapter. `forecast_url` and `geocoding_url` are API bases including /v1."""

    name = "open-meteo"

    def __init__(
        self, client: httpx.AsyncClient, *, forecast_url: str, geocoding_url: str, max_retries: int
    ) -> None:
        self._client = client
        self._forecast = forecast_url.rstrip("/") + "/forecast"
        self._search = geocoding_url.rstrip("/") + "/search"
        self._max_retries = max_retries

    async def find_place(self, query: str) -> Place | None:
        body = await get_json(
            self._client,
            self._search,
            provider=self.name,
            params={"name": query, "count": 1, "language": "en", "format": "json"},
            max_retries=self._max_retries,
        )
        results = _object(body, self.name).get("results") or []  # no match: the key is absent
        if not isinstance(results, list) or not results:
            return None
        first = results[0]
        try:
            return Place(
                name=first["name"],
                country=first.get("country"),
                country_code=first.get("country_code"),
                latitude=float(first["latitude"]),
                longitude=float(first["longitude"]),
                timezone=first.get("timezone"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ProviderError(self.name, "provider_error", "geocoding result of unknown shape") from error

    async def daily_forecast(self, place: Place) -> list[DailyForecast]:
        body = await get_json(
            self._client,
            self._forecast,
            provider=self.name,
            params={
                "latitude": round(place.latitude, 4),
                "longitude": round(place.longitude, 4),
                "daily": ",".join(DAILY_VARIABLES),
                "timezone": place.timezone or "auto",
                "forecast_days": FORECAST_DAYS,
            },
            max_retries=self._max_retries,
        )
        return parse_daily(_object(body, self.name), provider=self.name)


def _object(body: Any, provider: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProviderError(provider, "provider_error", "answered with something other than an object")
    if body.get("error") is True:  # Open-Meteo's error shape: {"error": true, "reason": "..."}
        raise ProviderError(provider, "provider_error", f"refused the request: {body.get('reason')!s:.200}")
    return body


def parse_daily(body: dict[str, Any], *, provider: str) -> list[DailyForecast]:
    """The `daily` block: parallel arrays keyed by variable, one entry per local date in `time`."""
    daily = body.get("daily")
    if not isinstance(daily, dict) or not isinstance(daily.get("time"), list):
        raise ProviderError(provider, "provider_error", "forecast without daily data")

    def column(name: str) -> list[Any]:
        values = daily.get(name)
        return values if isinstance(values, list) else []

    def at(values: list[Any], index: int) -> Any:
        return values[index] if index < len(values) else None

    codes, highs, lows = column("weather_code"), column("temperature_2m_max"), column("temperature_2m_min")
    rain, chance = column("precipitation_sum"), column("precipitation_probability_max")
    days = []
    try:
        for index, day in enumerate(daily["time"]):
            code, chance_value = at(codes, index), at(chance, index)
            days.append(
                DailyForecast(
                    date=dt.date.fromisoformat(day),
                    weather_code=int(code) if code is not None else None,
                    temperature_max=at(highs, index),
                    temperature_min=at(lows, index),
                    precipitation_mm=at(rain, index),
                    precipitation_probability=int(chance_value) if chance_value is not None else None,
                )
            )
    except (TypeError, ValueError) as error:
        raise ProviderError(provider, "provider_error", "forecast of unknown shape") from error
    return days
