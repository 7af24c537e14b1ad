"""The flight-status watch against a fake AeroDataBox and the embedded Redis: one alert per change, none twice,
none before the 24-hour window and none after departure."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from agent.travel_info import FlightAlert, FlightPhase, FlightStatus, FlightWatch, TravelInfo, alerts_for
from agent.travel_info.watch import WatchState, watch_window_open
from storage.embedded import EmbeddedUrls
from tests.fakes.travel_providers import FakeTravelProviders, forget_travel_state

DAY = dt.date(2026, 12, 3)
DEPARTS = dt.datetime(2026, 12, 3, 7, 5, tzinfo=dt.UTC)  # 08:05 in Frankfurt
EVENING_BEFORE = dt.datetime(2026, 12, 2, 20, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def providers() -> Iterator[FakeTravelProviders]:
    with FakeTravelProviders(today=DAY - dt.timedelta(days=1)) as fake:
        yield fake


@pytest.fixture
async def fake(providers: FakeTravelProviders, embedded: EmbeddedUrls) -> FakeTravelProviders:
    providers.reset()
    await forget_travel_state(embedded.redis_url)
    providers.add_flight("LH 1234", DAY, gate="B20", terminal="1")
    return providers


@pytest.fixture
def clock() -> Clock:
    return Clock(EVENING_BEFORE)


@pytest.fixture
async def redis(embedded: EmbeddedUrls) -> AsyncIterator[Redis]:
    client = Redis.from_url(embedded.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def watch(
    fake: FakeTravelProviders, embedded: EmbeddedUrls, redis: Redis, clock: Clock
) -> AsyncIterator[FlightWatch]:
    async with TravelInfo.open(fake.settings(), redis_url=embedded.redis_url, clock=clock) as info:
        yield FlightWatch(info, redis)


async def poll(watch: FlightWatch, *, watch_id: str = "acme:booking-1") -> list[FlightAlert]:
    outcome = await watch.poll(watch_id=watch_id, flight_number="LH1234", day=DAY, departs_at=DEPARTS)
    return outcome.alerts


def texts(alerts: list[FlightAlert]) -> list[str]:
    return [alert.text for alert in alerts]


async def test_two_gate_changes_give_exactly_two_alerts_and_a_quiet_poll_gives_none(
    fake: FakeTravelProviders, watch: FlightWatch
) -> None:
    sent: list[FlightAlert] = []
    sent += await poll(watch)  # the first look only notes gate B20
    fake.update_flight("LH 1234", DAY, gate="B22")
    sent += await poll(watch)
    fake.update_flight("LH 1234", DAY, gate="A5", terminal="2")
    sent += await poll(watch)
    third = await poll(watch)

    assert texts(sent) == [
        "Gate change: LH 1234 now departs from gate B22, terminal 1 (was gate B20, terminal 1).",
        "Gate change: LH 1234 now departs from gate A5, terminal 2 (was gate B22, terminal 1).",
    ]
    assert [alert.kind for alert in sent] == ["gate_change", "gate_change"]
    assert third == []
    assert fake.calls("flight") == 4  # every poll asks the provider, past the 2-minute cache


async def test_pollers_racing_on_one_change_alert_once(
    fake: FakeTravelProviders, watch: FlightWatch, redis: Redis
) -> None:
    await poll(watch)
    fake.update_flight("LH 1234", DAY, gate="C7")
    twin = FlightWatch(watch._info, redis)

    results = await asyncio.gather(*(poll(poller) for poller in [watch, twin, watch, twin]))

    assert sum(len(alerts) for alerts in results) == 1


async def test_each_traveller_on_the_flight_is_told(fake: FakeTravelProviders, watch: FlightWatch) -> None:
    await poll(watch, watch_id="acme:booking-1")
    await poll(watch, watch_id="globex:booking-9")
    fake.update_flight("LH 1234", DAY, gate="C7")

    assert len(await poll(watch, watch_id="acme:booking-1")) == 1
    assert len(await poll(watch, watch_id="globex:booking-9")) == 1


async def test_delays_alert_when_they_move_by_a_quarter_hour(
    fake: FakeTravelProviders, watch: FlightWatch
) -> None:
    alerts: list[list[str]] = []
    for delay in (10, 40, 45, 70, 0):
        fake.update_flight("LH 1234", DAY, delay_minutes=delay, status="Delayed" if delay else "Expected")
        alerts.append(texts(await poll(watch)))

    assert alerts == [
        [],
        ["LH 1234 is delayed: it departs 40 min late, now at 08:45."],
        [],
        ["LH 1234 is delayed: it departs 70 min late, now at 09:15."],
        ["LH 1234 is back on time, now at 08:05."],
    ]


async def test_a_cancellation_is_told_once_and_ends_the_watch(
    fake: FakeTravelProviders, watch: FlightWatch
) -> None:
    await poll(watch)
    fake.update_flight("LH 1234", DAY, status="Canceled")

    first = await poll(watch)
    again = await watch.poll(watch_id="acme:booking-1", flight_number="LH1234", day=DAY, departs_at=DEPARTS)

    assert texts(first) == ["LH 1234 on 3 Dec has been cancelled."]
    assert again.alerts == [] and again.finished and not again.polled
    assert fake.calls("flight") == 2


async def test_the_watch_starts_a_day_ahead_and_stops_at_departure(
    fake: FakeTravelProviders, watch: FlightWatch, clock: Clock
) -> None:
    clock.now = DEPARTS - dt.timedelta(hours=30)
    too_early = await watch.poll(
        watch_id="acme:booking-1", flight_number="LH1234", day=DAY, departs_at=DEPARTS
    )
    clock.now = DEPARTS - dt.timedelta(hours=2)
    watching = await watch.poll(
        watch_id="acme:booking-1", flight_number="LH1234", day=DAY, departs_at=DEPARTS
    )
    fake.update_flight("LH 1234", DAY, gate="Z9")
    clock.now = DEPARTS + dt.timedelta(minutes=1)
    after = [
        await watch.poll(watch_id="acme:booking-1", flight_number="LH1234", day=DAY, departs_at=DEPARTS)
        for _ in range(3)
    ]

    assert not too_early.polled
    assert watching.polled and not watching.finished
    assert all(outcome.finished and not outcome.polled and not outcome.alerts for outcome in after)
    assert fake.calls("flight") == 1


async def test_a_delayed_flight_is_watched_until_its_new_departure(
    fake: FakeTravelProviders, watch: FlightWatch, clock: Clock
) -> None:
    fake.update_flight("LH 1234", DAY, delay_minutes=50, status="Delayed")
    assert len(await poll(watch)) == 1
    clock.now = DEPARTS + dt.timedelta(minutes=20)  # past the schedule, before the estimate
    fake.update_flight("LH 1234", DAY, delay_minutes=50, gate="B30", status="Delayed")

    assert texts(await poll(watch)) == [
        "Gate change: LH 1234 now departs from gate B30, terminal 1 (was gate B20, terminal 1)."
    ]


async def test_an_outage_sends_nothing_and_the_change_is_told_once_it_is_back(
    fake: FakeTravelProviders, watch: FlightWatch
) -> None:
    await poll(watch)
    fake.update_flight("LH 1234", DAY, gate="D1")
    fake.fail("flight", status=500, times=None)
    during = [await poll(watch) for _ in range(2)]
    fake.heal("flight")

    assert during == [[], []]
    assert len(await poll(watch)) == 1
    assert await poll(watch) == []


def status(**changes: object) -> FlightStatus:
    base = FlightStatus(
        flight_number="LH 1234",
        day=DAY,
        phase=FlightPhase.SCHEDULED,
        scheduled_departure=DEPARTS,
        gate="B20",
        terminal="1",
    )
    return base.model_copy(update=changes)


def test_a_gate_the_provider_drops_for_a_while_is_not_news_when_it_returns() -> None:
    _, seen = alerts_for(None, status(), now=EVENING_BEFORE)
    dropped, seen = alerts_for(seen, status(gate=None), now=EVENING_BEFORE)
    back, seen = alerts_for(seen, status(), now=EVENING_BEFORE)

    assert dropped == [] and back == []
    assert seen == WatchState(phase=FlightPhase.SCHEDULED, gate="B20", terminal="1", departs_at=DEPARTS)


def test_a_first_gate_assignment_is_not_a_change() -> None:
    _, seen = alerts_for(None, status(gate=None), now=EVENING_BEFORE)
    alerts, _ = alerts_for(seen, status(gate="B20"), now=EVENING_BEFORE)

    assert alerts == []


def test_the_window_opens_a_day_before_departure() -> None:
    assert not watch_window_open(DEPARTS, DEPARTS - dt.timedelta(hours=25))
    assert watch_window_open(DEPARTS, DEPARTS - dt.timedelta(hours=24))
    assert not watch_window_open(DEPARTS, DEPARTS)
