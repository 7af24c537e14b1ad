"""Places named in a trip plan: airports (IATA codes, cities, time zones) and normalised city names."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# "MUC", "Munich (MUC)", "MUC Terminal 2": a code of three capitals standing on its own.
_IATA = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")


@lru_cache(maxsize=1)
def _airports() -> dict[str, tuple[str, str]]:
    """IATA code → (city, time zone)."""
    import airportsdata  # a few MB of data; loaded on first use only

    return {
        code: (str(airport["city"]), str(airport["tz"]))
        for code, airport in airportsdata.load("IATA").items()
    }


@lru_cache(maxsize=1)
def _cities() -> dict[str, str]:
    """City name (lower case) → the zone most of its airports use, so Paris is Europe/Paris, not Texas."""
    zones: dict[str, Counter[str]] = {}
    for city, zone in _airports().values():
        if city and zone:
            zones.setdefault(city.lower(), Counter())[zone] += 1
    # Zone names such as Europe/Berlin or America/New_York name a city too.
    for zone in available_timezones():
        city = zone.rsplit("/", 1)[-1].replace("_", " ").lower()
        zones.setdefault(city, Counter())[zone] += 10
    return {city: counter.most_common(1)[0][0] for city, counter in zones.items()}


def place_zone(place: str | None) -> ZoneInfo | None:
    """The zone of an airport code or a city name, or None when the place is unknown."""
    if not place or not place.strip():
        return None
    code = _IATA.search(place)
    if code and code.group(1) in _airports():
        return _zone(_airports()[code.group(1)][1])
    words = city_name(place).split()
    # "Berlin Hbf", "New York Penn Station": the longest leading words that name a city.
    for length in range(len(words), 0, -1):
        candidate = " ".join(words[:length])
        if candidate in _cities():
            return _zone(_cities()[candidate])
    return None


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def airport_code(place: str | None) -> str | None:
    """The IATA code a place names ("FRA", "Frankfurt (FRA)"), when it is a known airport."""
    code = _IATA.search(place or "")
    return code.group(1) if code and code.group(1) in _airports() else None


def city_name(place: str | None) -> str:
    """The city a place names, lower case: "London, UK", "London (LHR)" and "LHR" are all "london"."""
    if not place or not place.strip():
        return ""
    code = airport_code(place)
    if code and place.strip() == code:
        return _airports()[code][0].casefold()
    name = re.sub(r"\s*\(.*?\)\s*", " ", place).split(",")[0]
    return " ".join(name.casefold().split())


def aware_time(moment: dt.datetime, place: str | None) -> dt.datetime | None:
    """A timetable time with its offset: a time without one is local to the place; None if that is unknown."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment
    zone = place_zone(place)
    return moment.replace(tzinfo=zone) if zone is not None else None


def minutes_between(
    start: dt.datetime, start_place: str | None, end: dt.datetime, end_place: str | None
) -> int | None:
    """Whole minutes from a local time at one place to a local time at another; None if a zone is missing."""
    departs, arrives = aware_time(start, start_place), aware_time(end, end_place)
    if departs is None or arrives is None:
        return None
    return round((arrives - departs).total_seconds() / 60)
