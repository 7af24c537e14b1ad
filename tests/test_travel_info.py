"""Live travel information against fake providers over real HTTP and the embedded Redis: summaries, outages,
timeouts, bad input and the cache."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agent.travel_info import TravelInfo, TravelInfoSettings, Unavailable, Weather, travel_info_for_trip
from storage.embedded import EmbeddedUrls
from storage.errors import InvalidInput
from tests.fakes.travel_providers import API_KEY, FakeTravelProviders, forget_travel_state

TODAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
TRIP_DAY = dt.date(2026, 12, 3)


@pytest.fixture(scope="module")
def providers() -> Iterator[FakeTravelProviders]:
    with FakeTravelProviders(today=TODAY) as fake:
        yield fake


@pytest.fixture
async def fake(providers: FakeTravelProviders, embedded: EmbeddedUrls) -> FakeTravelProviders:
    providers.reset()
    await forget_travel_state(embedded.redis_url)
    return providers


def opened(fake: FakeTravelProviders, redis_url: str | None, **settings: Any) -> Any:
    return TravelInfo.open(fake.settings(**settings), redis_url=redis_url, clock=lambda: NOW)


@pytest.fixture
async def info(fake: FakeTravelProviders, embedded: EmbeddedUrls) -> AsyncIterator[TravelInfo]:
    async with opened(fake, embedded.redis_url) as travel_info:
        yield travel_info


def berlin_in_rain(fake: FakeTravelProviders) -> None:
    fake.set_weather("Berlin", TRIP_DAY, code=63, high=3.2, low=0.4, precipitation=6.1, probability=90)


async def test_a_summary_carries_the_weather_and_the_flight_status(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    berlin_in_rain(fake)
    fake.add_flight("LH 1234", TRIP_DAY, gate="B22", delay_minutes=40)

    text = await travel_info_for_trip(
        info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[("LH1234", TRIP_DAY)]
    )

    assert text == (
        "3 °C and rain in Berlin on 3 Dec; LH 1234 departs 40 min late at 08:45 from gate B22, terminal 1"
    )


async def test_a_few_days_are_listed_one_by_one(fake: FakeTravelProviders, info: TravelInfo) -> None:
    berlin_in_rain(fake)
    fake.set_weather("Berlin", TRIP_DAY + dt.timedelta(days=1), code=73, high=-1.4, low=-4.0)
    fake.set_weather("Berlin", TRIP_DAY + dt.timedelta(days=2), code=0, high=2.0, low=-3.0)

    text = await travel_info_for_trip(
        info, destination="berlin", start=TRIP_DAY, end=TRIP_DAY + dt.timedelta(days=2), flights=[]
    )

    assert text == "In Berlin: 3 °C and rain on 3 Dec, -1 °C and snow on 4 Dec, 2 °C and clear sky on 5 Dec"


async def test_on_time_cancelled_and_departed_flights_read_plainly(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    fake.add_flight("LH 1234", TRIP_DAY, gate=None, terminal="1", delay_minutes=0)
    fake.add_flight("BA 981", TRIP_DAY, origin="LHR", status="Canceled")
    fake.add_flight("LH 100", TRIP_DAY, delay_minutes=12, status="Departed")

    text = await travel_info_for_trip(
        info,
        destination="Berlin",
        start=TRIP_DAY,
        end=TRIP_DAY,
        flights=[("lh 1234", TRIP_DAY), ("BA981", TRIP_DAY), ("LH100", TRIP_DAY)],
    )

    parts = text.split("; ")
    assert parts[1:] == [
        "LH 1234 departs on time at 08:05 from terminal 1",
        "BA 981 on 3 Dec is cancelled",
        "LH 100 departed at 08:17",
    ]


async def test_a_forecast_outage_still_answers_quickly_and_says_unavailable(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    fake.add_flight("LH 1234", TRIP_DAY, gate="B22")
    fake.fail("forecast", status=500, times=None)

    started = time.monotonic()
    text = await travel_info_for_trip(
        info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[("LH1234", TRIP_DAY)]
    )

    assert time.monotonic() - started < 2.0
    assert text == (
        "Information unavailable for the weather in Berlin on 3 Dec (the provider is not answering); "
        "LH 1234 is scheduled to depart at 08:05 from gate B22, terminal 1"
    )
    assert fake.calls("forecast") == 2  # one retry, then it gives up


async def test_a_provider_that_hangs_is_cut_off_at_the_deadline(
    fake: FakeTravelProviders, embedded: EmbeddedUrls
) -> None:
    fake.stall("forecast", seconds=10, times=None)
    fake.stall("flight", seconds=10, times=None)
    fake.add_flight("LH 1234", TRIP_DAY)

    started = time.monotonic()
    async with opened(
        fake,
        embedded.redis_url,
        TRAVEL_INFO_TIMEOUT_SECONDS=0.3,
        TRAVEL_INFO_MAX_RETRIES=3,
        TRAVEL_INFO_DEADLINE_SECONDS=0.8,
    ) as info:
        text = await travel_info_for_trip(
            info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[("LH1234", TRIP_DAY)]
        )
    elapsed = time.monotonic() - started

    assert elapsed < 1.5
    assert text == (
        "Information unavailable for the weather in Berlin on 3 Dec (the provider did not answer in time); "
        "Information unavailable for the status of LH 1234 on 3 Dec (the provider did not answer in time)"
    )


async def test_a_flight_status_outage_leaves_the_weather_intact(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    berlin_in_rain(fake)
    fake.fail("flight", status=503, times=None)

    text = await travel_info_for_trip(
        info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[("LH1234", TRIP_DAY)]
    )

    assert text == (
        "3 °C and rain in Berlin on 3 Dec; "
        "Information unavailable for the status of LH 1234 on 3 Dec (the provider is not answering)"
    )


async def test_one_failed_call_is_retried_and_the_answer_arrives(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    berlin_in_rain(fake)
    fake.fail("forecast", status=502, times=1)

    result = await info.weather(destination="Berlin", start=TRIP_DAY, end=TRIP_DAY)

    assert isinstance(result, Weather) and result.days[0].conditions == "rain"
    assert fake.calls("forecast") == 2


async def test_without_a_key_flight_status_is_not_set_up_and_never_called(
    fake: FakeTravelProviders, embedded: EmbeddedUrls
) -> None:
    fake.add_flight("LH 1234", TRIP_DAY)
    async with opened(fake, embedded.redis_url, FLIGHT_STATUS_API_KEY="") as info:
        assert not info.flight_status_enabled
        result = await info.flight_status(flight_number="LH1234", day=TRIP_DAY)

    assert isinstance(result, Unavailable)
    assert result.describe() == (
        "Information unavailable for the status of LH 1234 on 3 Dec (live flight status is not set up)"
    )
    assert fake.calls("flight") == 0


async def test_a_rejected_key_is_not_retried(fake: FakeTravelProviders, embedded: EmbeddedUrls) -> None:
    fake.add_flight("LH 1234", TRIP_DAY)
    async with opened(fake, embedded.redis_url, FLIGHT_STATUS_API_KEY="wrong-key") as info:
        result = await info.flight_status(flight_number="LH1234", day=TRIP_DAY)

    assert isinstance(result, Unavailable) and result.reason == "provider_error"
    assert fake.calls("flight") == 1


async def test_the_flight_provider_gets_its_key_and_the_departure_date(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    fake.add_flight("LH 1234", TRIP_DAY)

    await info.flight_status(flight_number="LH1234", day=TRIP_DAY)

    (sent,) = fake.requests("flight")
    assert sent["X-RapidAPI-Key"] == API_KEY
    assert sent["X-RapidAPI-Host"] == "127.0.0.1"
    assert sent["dateLocalRole"] == "Departure"


async def test_an_unknown_place_or_flight_is_said_so_and_remembered(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    for _ in range(3):
        weather = await info.weather(destination="Atlantis", start=TRIP_DAY, end=TRIP_DAY)
        flight = await info.flight_status(flight_number="XX 999", day=TRIP_DAY)
        assert isinstance(weather, Unavailable) and weather.reason == "not_found"
        assert isinstance(flight, Unavailable) and flight.reason == "not_found"

    assert weather.describe() == (
        "Information unavailable for the weather in Atlantis on 3 Dec (the provider does not know it)"
    )
    assert (fake.calls("geocoding"), fake.calls("forecast"), fake.calls("flight")) == (1, 0, 1)


async def test_dates_beyond_the_forecast_ask_no_provider(fake: FakeTravelProviders, info: TravelInfo) -> None:
    result = await info.weather(destination="Berlin", start=dt.date(2027, 1, 10), end=dt.date(2027, 1, 12))

    assert isinstance(result, Unavailable)
    assert result.describe() == (
        "Information unavailable for the weather in Berlin on 10 Jan–12 Jan "
        "(forecasts cover today and the next 15 days)"
    )
    assert fake.calls("geocoding") + fake.calls("forecast") == 0


async def test_a_stay_running_past_the_horizon_shows_the_forecast_days_there_are(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    last = TODAY + dt.timedelta(days=15)

    text = await travel_info_for_trip(
        info,
        destination="Paris",
        start=last - dt.timedelta(days=1),
        end=last + dt.timedelta(days=3),
        flights=[],
    )

    assert (
        text
        == "In Paris: 5 °C and overcast on 9 Dec, 5 °C and overcast on 10 Dec (no forecast yet after 10 Dec)"
    )


async def test_a_trip_under_way_shows_the_days_still_ahead(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    text = await travel_info_for_trip(
        info,
        destination="London",
        start=TODAY - dt.timedelta(days=2),
        end=TODAY + dt.timedelta(days=1),
        flights=[],
    )

    assert text == "In London: 5 °C and overcast on 25 Nov, 5 °C and overcast on 26 Nov"


async def test_repeated_questions_about_a_city_and_date_are_served_from_the_cache(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    berlin_in_rain(fake)
    fake.add_flight("LH 1234", TRIP_DAY, gate="B22")
    questions = 50

    answers = {
        await travel_info_for_trip(
            info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[("LH1234", TRIP_DAY)]
        )
        for _ in range(questions)
    }

    lookups = questions * 3  # a place, a forecast and a flight status per question
    provider_calls = fake.calls("geocoding") + fake.calls("forecast") + fake.calls("flight")
    hit_rate = 1 - provider_calls / lookups
    assert len(answers) == 1 and "3 °C and rain" in answers.pop()
    assert provider_calls == 3
    assert hit_rate > 0.9


async def test_the_cache_serves_other_dates_in_the_same_city_and_concurrent_questions_share_a_call(
    fake: FakeTravelProviders, info: TravelInfo
) -> None:
    days = [TRIP_DAY + dt.timedelta(days=n) for n in range(5)]

    results = await asyncio.gather(
        *(info.weather(destination="Berlin", start=day, end=day) for day in days for _ in range(4))
    )

    assert all(isinstance(result, Weather) for result in results)
    assert (fake.calls("geocoding"), fake.calls("forecast")) == (1, 1)


async def test_without_redis_the_answers_still_come(fake: FakeTravelProviders, tmp_path: Any) -> None:
    berlin_in_rain(fake)
    async with opened(fake, f"unix://{tmp_path}/no-redis-here.sock") as info:
        text = await travel_info_for_trip(
            info, destination="Berlin", start=TRIP_DAY, end=TRIP_DAY, flights=[]
        )

    assert text == "3 °C and rain in Berlin on 3 Dec"


@pytest.mark.parametrize(
    ("destination", "start", "end", "flights", "message"),
    [
        ("Berlin", TRIP_DAY, TRIP_DAY - dt.timedelta(days=1), [], "The trip cannot end before it starts."),
        ("  ", TRIP_DAY, TRIP_DAY, [], "Which city is the weather wanted for?"),
        ("Berlin", TRIP_DAY, TRIP_DAY, [("next monday", TRIP_DAY)], "'next monday' is not a flight number"),
    ],
)
async def test_bad_input_is_refused_before_any_provider_is_asked(
    fake: FakeTravelProviders,
    info: TravelInfo,
    destination: str,
    start: dt.date,
    end: dt.date,
    flights: list[tuple[str, dt.date]],
    message: str,
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await travel_info_for_trip(info, destination=destination, start=start, end=end, flights=flights)

    assert fake.calls("geocoding") + fake.calls("forecast") + fake.calls("flight") == 0


def test_settings_come_from_the_documented_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN_METEO_URL", "http://weather.test/v1")
    monkeypatch.setenv("OPEN_METEO_GEOCODING_URL", "http://places.test/v1")
    monkeypatch.setenv("FLIGHT_STATUS_PROVIDER", "aerodatabox")
    monkeypatch.setenv("FLIGHT_STATUS_API_URL", "http://flights.test")
    monkeypatch.delenv("FLIGHT_STATUS_API_KEY", raising=False)

    without_key = TravelInfoSettings()
    monkeypatch.setenv("FLIGHT_STATUS_API_KEY", "secret-key")
    with_key = TravelInfoSettings()

    assert without_key.open_meteo_url == "http://weather.test/v1"
    assert without_key.open_meteo_geocoding_url == "http://places.test/v1"
    assert without_key.flight_status_api_url == "http://flights.test"
    assert not without_key.flight_status_enabled
    assert with_key.flight_status_enabled
    assert "secret-key" not in repr(with_key)
