"""What a travel-information provider offers, and how its calls are made: timeouts and bounded retries.

Each adapter (Open-Meteo, AeroDataBox, later rail or FX rates) implements one small Protocol and raises
`ProviderError` for anything that went wrong on the provider's side; the `TravelInfo` facade turns that
into an `Unavailable` result, so no provider fault ever reaches a conversation or a reminder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from agent.travel_info.models import DailyForecast, FlightStatus, Place, UnavailableReason

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 2.0


class ProviderError(Exception):
    """The provider could not give an answer: down, slow, refusing, or answering in an unknown shape."""

    def __init__(self, provider: str, reason: UnavailableReason, detail: str) -> None:
        super().__init__(f"{provider}: {detail}")
        self.provider = provider
        self.reason = reason
        self.detail = detail


class WeatherProvider(Protocol):
    name: str

    async def find_place(self, query: str) -> Place | None:
        """The best match for a place name, or None when there is none."""
        ...

    async def daily_forecast(self, place: Place) -> list[DailyForecast]:
        """Every forecast day the provider has for the place, from today on."""
        ...


class FlightStatusProvider(Protocol):
    name: str

    async def flight_status(self, flight_number: str, day: dt.date) -> FlightStatus | None:
        """The status of the flight departing on that local day, or None when the provider has none."""
        ...


def http_client(*, timeout_seconds: float) -> httpx.AsyncClient:
    """One pooled client for every provider, with explicit timeouts for each phase of a request."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 3.0)),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        headers={"User-Agent": "AITravelMate/0.1 (+travel information)"},
        follow_redirects=False,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    params: Mapping[str, str | int | float] | None = None,
    headers: Mapping[str, str] | None = None,
    max_retries: int,
    missing_statuses: frozenset[int] = frozenset(),
) -> Any:
    """GET a JSON document, retrying transport faults, 429 and 5xx at most `max_retries` times.

    Returns None for a status in `missing_statuses` (the provider's "no such thing"). Raises ProviderError
    for everything else that is not a JSON 200. Query values and headers are never logged (keys live there).
    """
    attempt = 0
    while True:
        try:
            response = await client.get(url, params=params, headers=headers)
        except httpx.TimeoutException as error:
            failure = ProviderError(provider, "timeout", f"timed out ({type(error).__name__})")
            wait = None
        except httpx.TransportError as error:
            failure = ProviderError(provider, "provider_error", f"transport error ({type(error).__name__})")
            wait = None
        else:
            if response.status_code in missing_statuses:
                return None
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError as error:
                    raise ProviderError(provider, "provider_error", "answered with invalid JSON") from error
            failure = ProviderError(provider, "provider_error", f"answered HTTP {response.status_code}")
            if response.status_code not in RETRYABLE_STATUS:
                raise failure
            wait = _retry_after(response)
        if attempt >= max_retries:
            raise failure
        backoff = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**attempt)
        attempt += 1
        log.info("%s call failed (%s); retry %d of %d", provider, failure.detail, attempt, max_retries)
        await asyncio.sleep(min(MAX_BACKOFF_SECONDS, wait) if wait is not None else backoff)
