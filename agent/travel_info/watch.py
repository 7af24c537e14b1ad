"""The flight-status watch: from 24 hours before departure, one alert per change (delay, gate, cancellation).

`alerts_for(previous, current)` is the pure decision. `FlightWatch.poll(...)` asks the provider (bypassing the
cache), decides, and records what was seen in Redis with a compare-and-set, so two pollers of the same flight,
or a cron job that runs twice, alert once. The record is written before the alerts are handed back: delivery
is at most once, which is what a traveller wants from "gate changed" messages. It knows nothing of arq; a
worker's cron calls `poll` for each booked flight in `watch_window_open` and sends the returned alerts.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from agent.travel_info.flight_status import normalise_flight_number
from agent.travel_info.models import FlightPhase, FlightStatus, Unavailable
from agent.travel_info.service import TravelInfo, short_date

log = logging.getLogger(__name__)

WATCH_WINDOW = dt.timedelta(hours=24)
DELAY_STEP_MINUTES = 15  # a delay alert when the delay moved this much since the last one
STATE_TTL = dt.timedelta(days=3)
KEY_PREFIX = "travelmate:flight-watch:v1"

AlertKind = Literal["delay", "gate_change", "cancellation"]

# Set the record only if it still holds what this poller read ("" = no record yet); 1 when written.
_COMPARE_AND_SET = """
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
end
return 0
"""


@dataclass(frozen=True)
class FlightAlert:
    """One change worth a message to the traveller."""

    kind: AlertKind
    flight_number: str
    day: dt.date
    text: str


class WatchState(BaseModel):
    """What the traveller has been told about a flight so far."""

    model_config = ConfigDict(frozen=True)

    phase: FlightPhase
    gate: str | None = None
    terminal: str | None = None
    alerted_delay: int = 0
    departs_at: dt.datetime | None = None
    finished: bool = False


@dataclass(frozen=True)
class WatchOutcome:
    alerts: list[FlightAlert] = field(default_factory=list)
    finished: bool = False  # departed, cancelled or past departure: the cron can stop polling this flight
    polled: bool = False  # whether the provider was asked


def watch_window_open(departs_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a flight is watched now: from 24 hours before its departure until it leaves."""
    return departs_at - WATCH_WINDOW <= now < departs_at


def _gate_words(gate: str | None, terminal: str | None) -> str:
    if gate and terminal:
        return f"gate {gate}, terminal {terminal}"
    return f"gate {gate}" if gate else f"terminal {terminal}"


def alerts_for(
    previous: WatchState | None, current: FlightStatus, *, now: dt.datetime
) -> tuple[list[FlightAlert], WatchState]:
    """The alerts a new status calls for after what was already told, and the state to remember."""
    number, day = current.flight_number, current.day
    alerts: list[FlightAlert] = []

    def alert(kind: AlertKind, text: str) -> None:
        alerts.append(FlightAlert(kind=kind, flight_number=number, day=day, text=text))

    if current.cancelled:
        if previous is None or previous.phase is not FlightPhase.CANCELLED:
            alert("cancellation", f"{number} on {short_date(day)} has been cancelled.")
        return alerts, WatchState(phase=current.phase, finished=True)

    # A provider that briefly drops the gate must not make the same gate look new when it returns.
    gate = current.gate or (previous.gate if previous else None)
    terminal = current.terminal or (previous.terminal if previous else None)
    # A first gate assignment is not a change: the reminder and the traveller's own check cover it.
    moved = previous is not None and (
        (previous.gate is not None and gate != previous.gate)
        or (previous.terminal is not None and terminal != previous.terminal)
    )
    if moved and previous is not None:
        alert(
            "gate_change",
            f"Gate change: {number} now departs from {_gate_words(gate, terminal)} "
            f"(was {_gate_words(previous.gate, previous.terminal)}).",
        )

    told = previous.alerted_delay if previous else 0
    delay = current.delay_minutes or 0
    if abs(delay - told) >= DELAY_STEP_MINUTES:
        at = f", now at {current.estimated_departure:%H:%M}" if current.estimated_departure else ""
        if delay >= DELAY_STEP_MINUTES:
            alert("delay", f"{number} is delayed: it departs {delay} min late{at}.")
        else:
            alert("delay", f"{number} is back on time{at}.")
        told = delay

    departs_at = current.expected_departure
    finished = current.departed or (departs_at is not None and now >= departs_at)
    state = WatchState(
        phase=current.phase,
        gate=gate,
        terminal=terminal,
        alerted_delay=told,
        departs_at=departs_at,
        finished=finished,
    )
    return alerts, state


class FlightWatch:
    """Polls one booked flight at a time for one traveller (the watch id, e.g. tenant and booking)."""

    def __init__(self, info: TravelInfo, redis: Redis) -> None:
        self._info = info
        self._redis = redis
        self._compare_and_set = redis.register_script(_COMPARE_AND_SET)

    @staticmethod
    def key(watch_id: str, compact_number: str, day: dt.date) -> str:
        return f"{KEY_PREFIX}:{watch_id}:{compact_number}:{day.isoformat()}"

    async def poll(
        self, *, watch_id: str, flight_number: str, day: dt.date, departs_at: dt.datetime | None = None
    ) -> WatchOutcome:
        """Ask for the flight's status and return the alerts not yet given. Never raises for provider or
        Redis faults (it then alerts nothing this round); InvalidInput for a malformed flight number."""
        compact, _ = normalise_flight_number(flight_number)
        key = self.key(watch_id, compact, day)
        now = self._info.now()
        try:
            raw = await self._redis.get(key)
        except (RedisError, OSError) as error:
            log.warning("flight watch %s skipped: its record is unreadable (%s)", key, type(error).__name__)
            return WatchOutcome()
        previous = self._state(raw, key)
        if previous is not None and previous.finished:
            return WatchOutcome(finished=True)
        expected = (previous.departs_at if previous else None) or departs_at
        if expected is not None and now < expected - WATCH_WINDOW:
            return WatchOutcome()
        if expected is not None and now >= expected:
            await self._store(key, raw, self._finished(previous))
            return WatchOutcome(finished=True)

        status = await self._info.flight_status(flight_number=compact, day=day, fresh=True)
        if isinstance(status, Unavailable):
            log.info("flight watch %s: %s", key, status.reason)
            return WatchOutcome(polled=True)
        alerts, state = alerts_for(previous, status, now=now)
        if not await self._store(key, raw, state):
            return WatchOutcome(finished=state.finished, polled=True)  # another poller told this change
        return WatchOutcome(alerts=alerts, finished=state.finished, polled=True)

    @staticmethod
    def _state(raw: object, key: str) -> WatchState | None:
        if not isinstance(raw, bytes):
            return None
        try:
            return WatchState.model_validate_json(raw)
        except ValidationError:
            log.warning("flight watch %s: unreadable record, starting over", key)
            return None

    @staticmethod
    def _finished(previous: WatchState | None) -> WatchState:
        if previous is None:
            return WatchState(phase=FlightPhase.UNKNOWN, finished=True)
        return previous.model_copy(update={"finished": True})

    async def _store(self, key: str, raw: object, state: WatchState) -> bool:
        expected = raw if isinstance(raw, bytes) else b""
        try:
            written = await self._compare_and_set(
                keys=[key],
                args=[expected, state.model_dump_json(), int(STATE_TTL.total_seconds() * 1000)],
            )
        except (RedisError, OSError) as error:
            log.warning(
                "flight watch %s: record not written (%s), no alert this round", key, type(error).__name__
            )
            return False
        return bool(written)
