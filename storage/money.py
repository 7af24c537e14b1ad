"""Money as exact decimals with ISO 4217 currencies; amounts are never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, field_validator

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

# No single travel item costs more than this; a larger figure is a typo or an attack.
MAX_AMOUNT = Decimal("1000000")
CENT = Decimal("0.01")


def parse_amount(value: Any) -> Decimal:
    """Read an amount from user or model input: a non-negative decimal with at most two places."""
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
    if amount > MAX_AMOUNT:
        raise ValueError(f"an amount above {MAX_AMOUNT:,} is not plausible for one travel item")
    if amount != amount.quantize(CENT):
        raise ValueError("an amount has at most two decimal places")
    return amount.quantize(CENT)


def parse_currency(value: Any) -> str:
    """Read a three-letter ISO 4217 currency code, case-insensitively."""
    code = str(value).strip().upper()
    if code not in ISO_CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code such as EUR, USD or GBP")
    return code


Amount = Annotated[
    Decimal, BeforeValidator(parse_amount), PlainSerializer(lambda d: f"{d:.2f}", return_type=str)
]
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

    def __str__(self) -> str:
        return f"{self.amount:,.2f} {self.currency}"
