"""The registry of tenant preferences and policies, and of personal preferences: one schema per key."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import InvalidInput
from storage.models import TenantPreference, TenantUser
from storage.money import Currency, Money
from storage.sessions import current_tenant
from storage.validation import validate_value

IataAirport = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]
IataAirline = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{2}$", to_upper=True)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Cabin(StrEnum):
    ECONOMY = "economy"
    PREMIUM_ECONOMY = "premium_economy"
    BUSINESS = "business"
    FIRST = "first"

    @property
    def rank(self) -> int:
        return list(Cabin).index(self)


PolicyRule = Literal[
    "hotel_cap",
    "cabin",
    "preferred_airline",
    "preferred_hotel",
    "blocked_supplier",
    "advance_booking",
    "trip_budget",
    "unverified",
]
PolicyAction = Literal["warn", "justify", "approve", "block"]


class CabinRules(BaseModel):
    """The highest cabin allowed: `default`, or `long_haul` for flights of at least `long_haul_hours`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Cabin = Cabin.ECONOMY
    long_haul_hours: float = Field(default=6.0, gt=0, le=24)
    long_haul: Cabin = Cabin.BUSINESS

    def allowed_for(self, hours: float) -> Cabin:
        return self.long_haul if hours >= self.long_haul_hours else self.default


def _days_before(values: list[int]) -> list[int]:
    if len(set(values)) != len(values):
        raise ValueError("each number of days may appear once")
    return sorted(values, reverse=True)


@dataclass(frozen=True)
class PreferenceSpec:
    """One known preference: its key, schema, default, and how to explain it."""

    key: str
    adapter: TypeAdapter[Any]
    default: Any
    description: str
    example: str

    def parse(self, value: Any) -> Any:
        """The validated JSON-ready form of `value`, or InvalidInput naming the expected shape."""
        parsed = validate_value(
            self.adapter, value, subject=f"{self.key} (expected {self.description}, e.g. {self.example})"
        )
        return self.adapter.dump_python(parsed, mode="json")


def _spec(key: str, schema: Any, default: Any, description: str, example: str) -> PreferenceSpec:
    return PreferenceSpec(key, TypeAdapter(schema), default, description, example)


_ReminderDays = Annotated[
    list[Annotated[int, Field(ge=0, le=60)]], Field(max_length=5), AfterValidator(_days_before)
]

TENANT_PREFERENCES: dict[str, PreferenceSpec] = {
    spec.key: spec
    for spec in [
        _spec("currency", Currency, "EUR", "an ISO 4217 currency code", "EUR"),
        _spec("home_airport", IataAirport | None, None, "a three-letter IATA airport code", "FRA"),
        _spec(
            "policy.cabin",
            CabinRules,
            CabinRules().model_dump(mode="json"),
            "the highest cabin by flight length",
            '{"default":"economy","long_haul_hours":6,"long_haul":"business"}',
        ),
        _spec(
            "policy.hotel.max_nightly_rate",
            Money | None,
            None,
            "a nightly hotel cap",
            '{"amount":180,"currency":"EUR"}',
        ),
        _spec(
            "policy.hotel.city_caps",
            dict[ShortText, Money],
            {},
            "nightly hotel caps per city",
            '{"London":{"amount":250,"currency":"GBP"}}',
        ),
        _spec(
            "policy.advance_booking_days",
            Annotated[int, Field(ge=0, le=365)],
            0,
            "the minimum days between booking and departure",
            "14",
        ),
        _spec(
            "policy.trip_budget",
            Money | None,
            None,
            "the budget of one trip",
            '{"amount":2500,"currency":"EUR"}',
        ),
        _spec(
            "policy.preferred_airlines",
            Annotated[list[IataAirline], Field(max_length=30)],
            [],
            "a list of two-letter airline codes",
            '["LH","LX"]',
        ),
        _spec(
            "policy.preferred_hotels",
            Annotated[list[ShortText], Field(max_length=30)],
            [],
            "a list of hotel chains or names",
            '["Marriott","Motel One"]',
        ),
        _spec(
            "policy.actions",
            dict[PolicyRule, PolicyAction],
            {},
            "what each broken rule needs: warn, justify, approve (by an admin) or block",
            '{"hotel_cap":"justify","cabin":"approve","unverified":"justify","blocked_supplier":"block"}',
        ),
        _spec(
            "policy.approve_later",
            bool,
            False,
            "whether a trip that needs an admin's approval may be booked now and approved afterwards",
            "true",
        ),
        _spec(
            "policy.approval.finance_threshold",
            Money | None,
            None,
            "the trip total from which finance approves after the manager",
            '{"amount":5000,"currency":"EUR"}',
        ),
        _spec(
            "policy.approval.finance_approvers",
            Annotated[list[ShortText], Field(max_length=10)],
            [],
            "the emails of the finance approvers",
            '["cfo@example.com"]',
        ),
        _spec(
            "policy.approval.timeout_hours",
            Annotated[int, Field(ge=1, le=720)],
            48,
            "hours an approver has before any admin may answer instead",
            "48",
        ),
        _spec(
            "policy.blocked_suppliers",
            Annotated[list[ShortText], Field(max_length=30)],
            [],
            "airlines (names or codes) and hotels or chains the company never books",
            '["FR","Hotel Zentral"]',
        ),
        _spec(
            "reminders.days_before",
            _ReminderDays,
            [7, 1],
            "up to five whole numbers of days from 0 to 60",
            "[7,1]",
        ),
        _spec(
            "reminders.time",
            Annotated[str, StringConstraints(pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")],
            "09:00",
            "a local time of day as HH:MM",
            '"09:00"',
        ),
        _spec(
            "data_retention_days",
            Annotated[int, Field(ge=30, le=3650)],
            730,
            "a number of days from 30 to 3650",
            "365",
        ),
        _spec(
            "llm.daily_token_budget",
            Annotated[int, Field(ge=0, le=1_000_000_000)],
            0,
            "a number of model tokens per day for the whole company, 0 for no limit",
            "2000000",
        ),
    ]
}


class Seat(StrEnum):
    WINDOW = "window"
    AISLE = "aisle"
    ANY = "any"


PERSONAL_PREFERENCES: dict[str, PreferenceSpec] = {
    spec.key: spec
    for spec in [
        _spec("seat", Seat, "any", "window, aisle or any", "aisle"),
        _spec("meal", ShortText | None, None, "a meal preference", "vegetarian"),
        _spec("home_airport", IataAirport | None, None, "a three-letter IATA airport code", "MUC"),
        _spec(
            "loyalty",
            dict[IataAirline | ShortText, ShortText],
            {},
            "loyalty numbers by airline or chain",
            '{"LH":"992001234"}',
        ),
        _spec("hotel_chain", ShortText | None, None, "a preferred hotel chain", "Motel One"),
    ]
}


def _lookup(registry: Mapping[str, PreferenceSpec], key: str, *, kind: str) -> PreferenceSpec:
    spec = registry.get(key.strip().lower())
    if spec is None:
        raise InvalidInput(f"'{key}' is not a known {kind}. Known keys: {', '.join(sorted(registry))}.")
    return spec


def tenant_preference_spec(key: str) -> PreferenceSpec:
    return _lookup(TENANT_PREFERENCES, key, kind="tenant preference")


def personal_preference_spec(key: str) -> PreferenceSpec:
    return _lookup(PERSONAL_PREFERENCES, key, kind="personal preference")


async def tenant_preferences(session: AsyncSession) -> dict[str, Any]:
    """Every tenant preference: the stored value where it has the expected shape, else the default."""
    return with_defaults(TENANT_PREFERENCES, await stored_tenant_preferences(session))


async def stored_tenant_preferences(session: AsyncSession) -> dict[str, Any]:
    """The tenant's preference rows as stored, whoever wrote them."""
    rows = await session.execute(select(TenantPreference.preference_key, TenantPreference.preference_value))
    return {key: value for key, value in rows}


def with_defaults(registry: Mapping[str, PreferenceSpec], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Every key of a registry: the stored value, or its default where none is stored or it has the wrong shape.

    Rows can be written by other systems through the specified columns alone; a value this product cannot
    read never fails a turn, and `preference_problems` tells admins about it.
    """
    return {
        key: _readable(spec, stored[key]) if key in stored else spec.default for key, spec in registry.items()
    }


def _readable(spec: PreferenceSpec, value: Any) -> Any:
    try:
        return spec.parse(value)
    except InvalidInput:
        return spec.default


@dataclass(frozen=True)
class PreferenceProblem:
    """A stored preference this product cannot use, and what it expects instead."""

    key: str
    value: Any
    expected: str


def preference_problems(
    registry: Mapping[str, PreferenceSpec], stored: Mapping[str, Any]
) -> list[PreferenceProblem]:
    """Stored values of the wrong shape, and stored keys the product does not know, for admins to mend."""
    problems = []
    for key, value in sorted(stored.items()):
        spec = registry.get(key)
        if spec is None:
            problems.append(PreferenceProblem(key, value, "a known key (it is ignored)"))
            continue
        try:
            spec.parse(value)
        except InvalidInput:
            problems.append(PreferenceProblem(key, value, f"{spec.description}, e.g. {spec.example}"))
    return problems


_MONEY_KEYS = frozenset({"policy.hotel.max_nightly_rate", "policy.trip_budget"})
_BARE_AMOUNT = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<currency>[A-Za-z]{3})?\s*$")


async def _in_company_currency(session: AsyncSession, value: Any) -> Any:
    """A cap typed as a bare amount ("150", or "150 GBP") is an amount in the company's currency."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return value
    found = _BARE_AMOUNT.fullmatch(str(value))
    if found is None:
        return value
    currency = found["currency"] or (await tenant_preferences(session))["currency"]
    return {"amount": found["amount"], "currency": currency.upper()}


async def set_tenant_preference(session: AsyncSession, *, actor: Actor, key: str, value: Any) -> Any:
    """Validate and store one tenant preference; returns the stored JSON value. Audited."""
    spec = tenant_preference_spec(key)
    if spec.key in _MONEY_KEYS:
        value = await _in_company_currency(session, value)
    stored = spec.parse(value)
    statement = insert(TenantPreference).values(
        tenant_id=current_tenant(session), preference_key=spec.key, preference_value=stored
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[TenantPreference.tenant_id, TenantPreference.preference_key],
            set_={"preference_value": statement.excluded.preference_value},
        )
    )
    await record_audit(
        session,
        actor=actor,
        action="preference.set",
        entity="tenant_preference",
        entity_id=spec.key,
        details={"value": stored},
    )
    return stored


async def unset_tenant_preference(session: AsyncSession, *, actor: Actor, key: str) -> bool:
    """Return a tenant preference to its default; True when something was stored before."""
    spec = tenant_preference_spec(key)
    result = await session.execute(
        delete(TenantPreference).where(TenantPreference.preference_key == spec.key)
    )
    await record_audit(
        session, actor=actor, action="preference.unset", entity="tenant_preference", entity_id=spec.key
    )
    return bool(getattr(result, "rowcount", 0))


async def personal_preferences(session: AsyncSession, *, user_id: uuid.UUID) -> dict[str, Any]:
    user = await session.get(TenantUser, (current_tenant(session), user_id))
    return with_defaults(PERSONAL_PREFERENCES, user.preferences if user else {})


async def set_personal_preference(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, key: str, value: Any
) -> Any:
    spec = personal_preference_spec(key)
    stored = spec.parse(value)
    user = await session.get(TenantUser, (current_tenant(session), user_id), with_for_update=True)
    if user is None:
        raise InvalidInput("That traveller is not known in this company.")
    user.preferences = {**user.preferences, spec.key: stored}
    await record_audit(
        session,
        actor=actor,
        action="personal_preference.set",
        entity="tenant_user",
        entity_id=str(user_id),
        details={"key": spec.key},
    )
    return stored
