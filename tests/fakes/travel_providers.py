"""Fake Open-Meteo (geocoding and forecast) and AeroDataBox servers answering in the providers' documented shapes.

One aiohttp server in a background thread serves all three; point the settings at its URLs::

    with FakeTravelProviders(today=dt.date(2026, 11, 25)) as fake:
        fake.set_weather("Berlin", dt.date(2026, 12, 3), code=63, high=3.2, low=0.5, precipitation=6.1)
        fake.add_flight("LH 1234", dt.date(2026, 12, 3), gate="B22", delay_minutes=40)
        fake.fail("forecast", status=500)           # the next forecast call fails
        fake.stall("flight", seconds=5, times=None)  # every flight call hangs
        info = TravelInfo.from_client(client, fake.settings(), redis=redis)
        assert fake.calls("geocoding") == 1

Shapes follow open-meteo.com/en/docs (GET /v1/search, GET /v1/forecast with `daily=`; errors as
{"error": true, "reason": ...} with HTTP 400) and AeroDataBox's Flight API (GET /flights/number/{number}/
{dateLocal} returning a list of FlightContract; "YYYY-MM-DD HH:mmZ" / "...+01:00" DateTimeContracts;
204 when there is no such flight; RapidAPI's 401 for a wrong X-RapidAPI-Key).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from redis.asyncio import Redis

from agent.travel_info.settings import TravelInfoSettings
from tests.fakes.threaded_server import ThreadedHttpServer
from tests.fakes.travel_shapes import AIRPORTS, DAILY_UNITS, PLACES

Endpoint = Literal["geocoding", "forecast", "flight"]
API_KEY = "test-aerodatabox-key"
FORECAST_DAYS_SERVED = 16


@dataclass(frozen=True)
class DayWeather:
    code: int = 3
    high: float = 5.0
    low: float = 1.0
    precipitation: float = 0.0
    probability: int = 10


@dataclass(frozen=True)
class FakeFlight:
    """One scripted leg; `status` uses AeroDataBox's FlightStatus values."""

    number: str
    day: dt.date
    departs: dt.time = dt.time(8, 5)
    duration: dt.timedelta = dt.timedelta(hours=1, minutes=5)
    origin: str = "FRA"
    destination: str = "BER"
    delay_minutes: int | None = None
    gate: str | None = "B20"
    terminal: str | None = "1"
    status: str = "Expected"


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # an HTTP error status, or None for a stall
    stall_seconds: float = 0.0


@dataclass
class _Script:
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    standing: dict[str, Fault] = field(default_factory=dict)  # faults with times=None
    weather: dict[tuple[str, dt.date], DayWeather] = field(default_factory=dict)
    flights: dict[tuple[str, dt.date], FakeFlight] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    requests: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))


def _compact(number: str) -> str:
    return "".join(number.split()).upper()


def _adb_time(moment: dt.datetime, zone: str) -> dict[str, str]:
    """An AeroDataBox DateTimeContract: {"utc": "2026-12-03 07:05Z", "local": "2026-12-03 08:05+01:00"}."""
    local = moment.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return {
        "utc": moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%MZ"),
        "local": local.strftime("%Y-%m-%d %H:%M") + f"{offset[:3]}:{offset[3:]}",
    }


async def forget_travel_state(redis_url: str) -> None:
    """Remove cached answers and flight-watch records of earlier tests; other keys in Redis stay."""
    client = Redis.from_url(redis_url)
    try:
        for pattern in ("travelmate:travel-info:*", "travelmate:flight-watch:*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=500)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


class FakeTravelProviders(ThreadedHttpServer):
    """The three provider APIs at `open_meteo_url`, `geocoding_url` and `flight_status_url`."""

    thread_name = "fake-travel-providers"
    shutdown_timeout = 0.2

    def __init__(self, *, today: dt.date | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.today = today or dt.datetime.now(dt.UTC).date()
        self._lock = threading.Lock()
        self._script = _Script()

    # -- lifecycle ---------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/geocoding/v1/search", self._geocoding)
        app.router.add_get("/open-meteo/v1/forecast", self._forecast)
        app.router.add_get("/aerodatabox/flights/number/{number}/{date}", self._flight)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def open_meteo_url(self) -> str:
        return f"{self.base_url}/open-meteo/v1"

    @property
    def geocoding_url(self) -> str:
        return f"{self.base_url}/geocoding/v1"

    @property
    def flight_status_url(self) -> str:
        return f"{self.base_url}/aerodatabox"

    def settings(self, **overrides: Any) -> TravelInfoSettings:
        """Settings pointing at this server, built from the environment names as production reads them."""
        values: dict[str, Any] = {
            "OPEN_METEO_URL": self.open_meteo_url,
            "OPEN_METEO_GEOCODING_URL": self.geocoding_url,
            "FLIGHT_STATUS_PROVIDER": "aerodatabox",
            "FLIGHT_STATUS_API_URL": self.flight_status_url,
            "FLIGHT_STATUS_API_KEY": API_KEY,
            "TRAVEL_INFO_TIMEOUT_SECONDS": 1.0,
            "TRAVEL_INFO_MAX_RETRIES": 1,
            "TRAVEL_INFO_DEADLINE_SECONDS": 2.0,
        }
        values.update(overrides)
        return TravelInfoSettings.model_validate({k: v for k, v in values.items() if v is not None})

    # -- scripting and inspection --------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._script = _Script()

    def set_weather(
        self,
        city: str,
        day: dt.date,
        *,
        code: int,
        high: float,
        low: float,
        precipitation: float = 0.0,
        probability: int = 10,
    ) -> None:
        with self._lock:
            self._script.weather[(city.casefold(), day)] = DayWeather(
                code, high, low, precipitation, probability
            )

    def add_flight(self, number: str, day: dt.date, **details: Any) -> FakeFlight:
        flight = FakeFlight(number=number, day=day, **details)
        with self._lock:
            self._script.flights[(_compact(number), day)] = flight
        return flight

    def update_flight(self, number: str, day: dt.date, **changes: Any) -> FakeFlight:
        """Change a scripted flight as the airline would: a new gate, a delay, a cancellation."""
        with self._lock:
            key = (_compact(number), day)
            self._script.flights[key] = flight = replace(self._script.flights[key], **changes)
        return flight

    def fail(self, endpoint: Endpoint, *, status: int = 500, times: int | None = 1) -> None:
        """The next `times` calls (every call when None) answer with HTTP `status`."""
        self._fault(endpoint, Fault(status=status), times)

    def stall(self, endpoint: Endpoint, *, seconds: float, times: int | None = 1) -> None:
        """The next `times` calls (every call when None) hang for `seconds` before answering."""
        self._fault(endpoint, Fault(stall_seconds=seconds), times)

    def heal(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._script.standing.pop(endpoint, None)
            self._script.faults.pop(endpoint, None)

    def _fault(self, endpoint: Endpoint, fault: Fault, times: int | None) -> None:
        with self._lock:
            if times is None:
                self._script.standing[endpoint] = fault
            else:
                self._script.faults[endpoint].extend([fault] * times)

    def calls(self, endpoint: Endpoint) -> int:
        """How many requests reached `endpoint`, failed ones included."""
        with self._lock:
            return self._script.calls[endpoint]

    def requests(self, endpoint: Endpoint) -> list[dict[str, str]]:
        """The query parameters and headers of each request, oldest first."""
        with self._lock:
            return list(self._script.requests[endpoint])

    # -- the APIs ---------------------------------------------------------------------------------------

    async def _arrive(self, endpoint: Endpoint, request: web.Request) -> web.Response | None:
        """Count the call and play its scripted fault, if any: an error response, or a stall first."""
        with self._lock:
            self._script.calls[endpoint] += 1
            self._script.requests[endpoint].append(dict(request.query) | dict(request.headers))
            queued = self._script.faults.get(endpoint)
            fault = queued.popleft() if queued else self._script.standing.get(endpoint)
        if fault is None:
            return None
        if fault.stall_seconds:
            await asyncio.sleep(fault.stall_seconds)
        if fault.status is None:
            return None
        if endpoint == "flight":
            return web.json_response({"message": "Internal server error"}, status=fault.status)
        return web.json_response({"error": True, "reason": "Internal server error"}, status=fault.status)

    async def _geocoding(self, request: web.Request) -> web.Response:
        if (faulty := await self._arrive("geocoding", request)) is not None:
            return faulty
        name = request.query.get("name", "")
        city, _, country = (part.strip().casefold() for part in name.partition(","))
        place = PLACES.get(city)
        if (
            place is not None
            and country
            and country not in (place["country"].casefold(), place["country_code"].casefold())
        ):
            place = None
        body: dict[str, Any] = {"generationtime_ms": 0.4}
        if place is not None:  # no match: Open-Meteo leaves "results" out
            body["results"] = [place]
        return web.json_response(body)

    async def _forecast(self, request: web.Request) -> web.Response:
        if (faulty := await self._arrive("forecast", request)) is not None:
            return faulty
        query = request.query
        try:
            latitude, longitude = float(query["latitude"]), float(query["longitude"])
        except (KeyError, ValueError):
            return self._open_meteo_error("Parameter 'latitude' and 'longitude' must be set")
        variables = [v for v in query.get("daily", "").split(",") if v]
        unknown = [v for v in variables if v not in DAILY_UNITS]
        if unknown:
            return self._open_meteo_error(
                f"Cannot initialize ForecastVariableDaily from invalid String value {unknown[0]}."
            )
        if variables and "timezone" not in query:
            return self._open_meteo_error("Timezone is required")
        days = int(query.get("forecast_days", "7"))
        if not 0 <= days <= FORECAST_DAYS_SERVED:
            return self._open_meteo_error(f"Forecast days is invalid. Allowed range 0 to 16. Given {days}.")
        city = next(
            (
                key
                for key, place in PLACES.items()
                if abs(place["latitude"] - latitude) < 0.01 and abs(place["longitude"] - longitude) < 0.01
            ),
            None,
        )
        zone = query["timezone"] if query.get("timezone") not in (None, "auto") else "GMT"
        if zone == "GMT" and city is not None:
            zone = PLACES[city]["timezone"]
        dates = [self.today + dt.timedelta(days=n) for n in range(days)]
        with self._lock:
            weather = [self._script.weather.get((city or "", day), DayWeather()) for day in dates]
        columns = {
            "weather_code": [w.code for w in weather],
            "temperature_2m_max": [w.high for w in weather],
            "temperature_2m_min": [w.low for w in weather],
            "precipitation_sum": [w.precipitation for w in weather],
            "precipitation_probability_max": [w.probability for w in weather],
        }
        offset = dt.datetime.combine(self.today, dt.time(12), ZoneInfo(zone)).utcoffset() or dt.timedelta()
        return web.json_response(
            {
                "latitude": round(latitude, 2),  # the grid cell, not the exact point asked for
                "longitude": round(longitude, 2),
                "generationtime_ms": 0.07,
                "utc_offset_seconds": int(offset.total_seconds()),
                "timezone": zone,
                "timezone_abbreviation": "GMT+1" if offset == dt.timedelta(hours=1) else "GMT",
                "elevation": 38.0,
                "daily_units": {"time": "iso8601"} | {v: DAILY_UNITS[v] for v in variables},
                "daily": {"time": [day.isoformat() for day in dates]} | {v: columns[v] for v in variables},
            }
        )

    @staticmethod
    def _open_meteo_error(reason: str) -> web.Response:
        return web.json_response({"error": True, "reason": reason}, status=400)

    async def _flight(self, request: web.Request) -> web.Response:
        if (faulty := await self._arrive("flight", request)) is not None:
            return faulty
        if request.headers.get("X-RapidAPI-Key") != API_KEY:
            return web.json_response(
                {"message": "Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info."},
                status=401,
            )
        try:
            day = dt.date.fromisoformat(request.match_info["date"])
        except ValueError:
            return web.json_response({"message": "Invalid date format"}, status=400)
        with self._lock:
            flight = self._script.flights.get((_compact(request.match_info["number"]), day))
        if flight is None:
            return web.Response(status=204)
        return web.json_response([self._flight_contract(flight)])

    @staticmethod
    def _flight_contract(flight: FakeFlight) -> dict[str, Any]:
        origin, destination = AIRPORTS[flight.origin], AIRPORTS[flight.destination]
        departs = dt.datetime.combine(flight.day, flight.departs, ZoneInfo(origin["timeZone"]))
        arrives = departs + flight.duration
        departure: dict[str, Any] = {
            "airport": origin,
            "scheduledTime": _adb_time(departs, origin["timeZone"]),
            "quality": ["Basic", "Live"],
        }
        arrival: dict[str, Any] = {
            "airport": destination,
            "scheduledTime": _adb_time(arrives, destination["timeZone"]),
            "quality": ["Basic", "Live"],
        }
        if flight.delay_minutes is not None:
            late = dt.timedelta(minutes=flight.delay_minutes)
            departure["revisedTime"] = _adb_time(departs + late, origin["timeZone"])
            arrival["predictedTime"] = _adb_time(arrives + late, destination["timeZone"])
        if flight.terminal is not None:
            departure["terminal"] = flight.terminal
            departure["checkInDesk"] = "355-359"
        if flight.gate is not None:
            departure["gate"] = flight.gate
        airline = flight.number.split()[0]
        return {
            "greatCircleDistance": {
                "meter": 423450.0,
                "km": 423.45,
                "mile": 263.12,
                "nm": 228.64,
                "feet": 1389271.0,
            },
            "departure": departure,
            "arrival": arrival,
            "lastUpdatedUtc": (departs - dt.timedelta(hours=2))
            .astimezone(dt.UTC)
            .strftime("%Y-%m-%d %H:%MZ"),
            "number": flight.number,
            "callSign": f"D{airline}{flight.number.split()[-1]}",
            "status": flight.status,
            "codeshareStatus": "IsOperator",
            "isCargo": False,
            "aircraft": {"reg": "D-AIUA", "modeS": "3C66A1", "model": "Airbus A320"},
            "airline": {"name": "Lufthansa", "iata": airline, "icao": "DLH"},
        }
