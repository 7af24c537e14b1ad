"""Money as exact decimals with ISO 4217 currencies; amounts are never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, field_validator, model_validator

# Active ISO 4217 codes. A typo such as "EURO" or "US$" is refused rather than stored.
ISO_CURRENCIES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWL",
    ]
)

# No single travel item costs more than this, in euros or its equivalent at the ECB's reference rate: a
# larger figure is a typo or an attack. 1,500,000 IDR (about 90 EUR) is fine; 2,000,000 EUR is not.
MAX_ITEM_EUR = Decimal("1000000")
# Whatever the currency, no figure has more digits than this (currencies the ECB does not publish included).
MAX_DIGITS_AMOUNT = Decimal("999999999999")
CENT = Decimal("0.01")
MILL = Decimal("0.001")  # the smallest minor unit of any ISO 4217 currency (BHD, KWD, JOD, OMR, TND)


@cache
def minor_units(currency: str) -> int:
    """Decimal places of the currency's minor unit: 2 for EUR, 0 for JPY, 3 for KWD (CLDR, via babel)."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency))


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of the currency: 0.01 EUR, 1 JPY, 0.001 KWD."""
    return Decimal(1).scaleb(-minor_units(currency))


def amount_text(amount: Decimal, currency: str) -> str:
    """An amount with the currency's own decimals: 1,234.50 EUR, 150,000 JPY, 12.345 KWD."""
    return f"{amount:,.{minor_units(currency)}f} {currency}"


def parse_amount(value: Any) -> Decimal:
    """Read an amount from user or model input: a non-negative decimal with at most three places.

    Whether the places suit the currency, and whether the amount is plausible in it, is `check_amount`'s.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("an amount must be a number such as 245 or 245.50")
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount; write a number such as 245 or 245.50") from None
    if not amount.is_finite():
        raise ValueError("an amount must be a finite number")
    if amount < 0:
        raise ValueError("an amount cannot be negative")
    if amount > MAX_DIGITS_AMOUNT:
        raise ValueError(f"an amount above {MAX_DIGITS_AMOUNT:,} is not plausible for one travel item")
    if amount != amount.quantize(MILL):
        raise ValueError("an amount has at most three decimal places")
    return amount.quantize(CENT) if amount == amount.quantize(CENT) else amount.quantize(MILL)


def check_amount(amount: Decimal, currency: str) -> Decimal:
    """Refuse places the currency does not have, and an amount no travel item costs in it."""
    unit = minor_unit(currency)
    if amount != amount.quantize(unit):
        places = minor_units(currency)
        raise ValueError(
            f"{currency} amounts have {places or 'no'} decimal place{'' if places == 1 else 's'}; "
            f"{amount} {currency} cannot be paid"
        )
    from storage.exchange_rates import REFERENCE, reference_rates

    in_euros = reference_rates().convert(amount, currency, REFERENCE)
    if in_euros is not None and in_euros.amount > MAX_ITEM_EUR:
        equivalent = f" ({in_euros.note()})" if currency != REFERENCE else ""
        raise ValueError(
            f"{amount_text(amount, currency)}{equivalent} is not plausible for one travel item, "
            f"which costs at most {MAX_ITEM_EUR:,} {REFERENCE} or its equivalent"
        )
    return amount


def parse_currency(value: Any) -> str:
    """Read a three-letter ISO 4217 currency code, case-insensitively."""
    code = str(value).strip().upper()
    if code not in ISO_CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code such as EUR, USD or GBP")
    return code


def _plain_amount(amount: Decimal) -> str:
    return f"{amount:.3f}" if amount != amount.quantize(CENT) else f"{amount:.2f}"


Amount = Annotated[Decimal, BeforeValidator(parse_amount), PlainSerializer(_plain_amount, return_type=str)]
Currency = Annotated[str, BeforeValidator(parse_currency)]


class Money(BaseModel):
    """An amount in a currency, e.g. 245.00 EUR."""

    model_config = ConfigDict(frozen=True)

    amount: Amount
    currency: Currency

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _payable(self) -> Money:
        check_amount(self.amount, self.currency)
        return self

    def __str__(self) -> str:
        return amount_text(self.amount, self.currency)
