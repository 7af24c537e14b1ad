"""The IANA time zone of a place named in a trip plan: an IATA airport code, or a city."""

from __future__ import annotations

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
    name = re.sub(r"\s*\(.*?\)\s*", " ", place).split(",")[0].lower()
    words = name.split()
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
