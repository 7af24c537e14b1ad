"""The one parser of slash-command arguments: whatever is typed, it returns values or a sentence.

Every command reads its arguments through these functions, which raise `InvalidInput` (a clear sentence for
the user) instead of `ValueError` or `OverflowError`. Numbers are ASCII digits only: `str.isdigit()` also
accepts "²" and other digits `int()` refuses. Counts and durations are bounded, so `99999999d` is a sentence,
not an overflow, and control characters (which PostgreSQL refuses in text) never reach a query.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from storage.errors import InvalidInput

MAX_ARGUMENTS_CHARS = 2000
LONGEST_SNOOZE = dt.timedelta(days=365)

_NUMBER = re.compile(r"[0-9]{1,9}")
_DURATION = re.compile(r"([0-9]{1,9})([dhm])", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def clean_arguments(text: str) -> str:
    """The arguments as typed, refused with a sentence when they cannot be read at all."""
    if len(text) > MAX_ARGUMENTS_CHARS:
        raise InvalidInput(f"That command is too long; keep it under {MAX_ARGUMENTS_CHARS:,} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cs") and not ch.isspace() for ch in text):
        raise InvalidInput("That command contains control characters I cannot read; please type it again.")
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """The arguments split at any kind of white space."""
    return clean_arguments(text).split()


def count(text: str, *, default: int, low: int, high: int, usage: str) -> int:
    """A whole number between `low` and `high`; `default` when nothing was given."""
    text = text.strip()
    if not text:
        return default
    if not _NUMBER.fullmatch(text):
        raise InvalidInput(f"'{text[:40]}' is not a number; write it in digits, e.g. {usage}.")
    return max(low, min(int(text), high))


def duration(text: str, *, longest: dt.timedelta = LONGEST_SNOOZE) -> dt.timedelta:
    """`2d`, `12h` or `90m` as a time span, at most `longest`."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise InvalidInput(f"'{text[:40]}' is not a duration; write 2d, 12h or 90m.")
    span = dt.timedelta(**{_UNITS[found.group(2).lower()]: int(found.group(1))})
    if span > longest:
        raise InvalidInput(f"That is too far ahead; the longest is {longest.days} days.")
    return span


__all__ = ["clean_arguments", "count", "duration", "words"]
