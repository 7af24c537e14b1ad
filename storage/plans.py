"""The shape of a trip plan: days, travel items with costs and policy verdicts, and booking details."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from storage.money import Amount, Currency, check_amount
from storage.preferences import Cabin

Text300 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Name100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code32 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]

MAX_TRIP_DAYS = 60


class ItemKind(StrEnum):
    FLIGHT = "flight"
    HOTEL = "hotel"
    TRAIN = "train"
    CAR = "car"
    MEETING = "meeting"
    GROUND = "ground"
    ACTIVITY = "activity"  # anything else: a dinner, a site visit, what another system recorded


# Components that become a bookings row on confirmation (bookings.booking_type).
BOOKABLE = (ItemKind.FLIGHT, ItemKind.HOTEL, ItemKind.TRAIN, ItemKind.CAR)


class PolicyVerdict(BaseModel):
    """The result of the deterministic policy check of one item; the model only explains it."""

    model_config = ConfigDict(frozen=True)

    status: Literal["ok", "violation"] = "ok"
    reasons: list[str] = Field(default_factory=list)
    # The rule behind each reason (hotel_cap, cabin, …, unverified), for the company's action per rule.
    rules: list[str] = Field(default_factory=list)
    # Conversions the verdict used ("≈ 231.40 GBP at the ECB rate of 2026-12-02") and compliant options.
    notes: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list)
    # A capped hotel: its cost minus cap × nights (negative below the cap), in the cap's currency.
    cap_currency: Currency | None = None
    cap_difference: Decimal | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class PlannedItem(BaseModel):
    """One element of a day as planned: a flight, a hotel stay, a train, a car, a meeting or a transfer."""

    model_config = ConfigDict(extra="forbid")

    kind: ItemKind
    description: Text300
    cost: Amount | None = None
    currency: Currency | None = None
    origin: Name100 | None = None
    destination: Name100 | None = None
    carrier: Name100 | None = None
    number: Code32 | None = None
    depart_at: dt.datetime | None = None
    arrive_at: dt.datetime | None = None
    cabin: Cabin | None = None
    city: Name100 | None = None
    nights: int | None = Field(default=None, ge=1, le=MAX_TRIP_DAYS)
    vendor: Name100 | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlannedItem:
        if self.cost is not None and self.currency is None:
            raise ValueError(f"the cost of '{self.description}' needs a currency")
        if self.cost is not None and self.currency is not None:
            check_amount(self.cost, self.currency)
        hours = self.flight_hours
        if hours is not None and hours < 0:
            raise ValueError(f"'{self.description}' arrives before it departs")
        return self

    @property
    def bookable(self) -> bool:
        return self.kind in BOOKABLE

    @property
    def flight_hours(self) -> float | None:
        """Hours in the air; times without an offset are read in the airport's own zone."""
        minutes = self.duration_minutes
        return minutes / 60 if minutes is not None else None

    @property
    def duration_minutes(self) -> int | None:
        """Whole minutes from departure to arrival, None when a time or a needed airport zone is unknown."""
        if self.depart_at is None or self.arrive_at is None:
            return None
        from storage.places import minutes_between  # airport data is loaded on first use only

        return minutes_between(self.depart_at, self.origin, self.arrive_at, self.destination)


class TravelItem(PlannedItem):
    """A planned item with the verdict of the travel-policy check."""

    policy: PolicyVerdict = Field(default_factory=PolicyVerdict)


class DayPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day_number: int = Field(ge=1, le=MAX_TRIP_DAYS)
    date: dt.date
    items: list[TravelItem] = Field(default_factory=list, max_length=20)


class TripPlan(BaseModel):
    """A whole draft: dates, destinations and the day-by-day details."""

    model_config = ConfigDict(extra="forbid")

    start_date: dt.date
    end_date: dt.date
    destinations: list[Name100] = Field(min_length=1, max_length=10)
    days: list[DayPlan] = Field(default_factory=list, max_length=MAX_TRIP_DAYS)

    @model_validator(mode="after")
    def _dates_fit(self) -> TripPlan:
        check_trip_dates(self.start_date, self.end_date)
        seen: set[int] = set()
        for day in self.days:
            if not self.start_date <= day.date <= self.end_date:
                raise ValueError(f"day {day.day_number} ({day.date}) lies outside the trip dates")
            if day.day_number != (day.date - self.start_date).days + 1:
                raise ValueError(
                    f"day {day.day_number} should be dated {self.start_date + dt.timedelta(day.day_number - 1)}"
                )
            if day.day_number in seen:
                raise ValueError(f"day {day.day_number} appears twice")
            seen.add(day.day_number)
        return self


def check_trip_dates(start: dt.date, end: dt.date) -> None:
    """Refuse an end before the start, or a trip longer than the product plans."""
    if end < start:
        raise ValueError(f"the end date {end.isoformat()} is before the start date {start.isoformat()}")
    if (end - start).days + 1 > MAX_TRIP_DAYS:
        raise ValueError(f"a trip may last at most {MAX_TRIP_DAYS} days")


class BookingDetails(BaseModel):
    """What `bookings.booking_details` holds: the amount as an exact decimal string, and the facts."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount
    currency: Currency
    description: Text300
    service_date: dt.date
    end_date: dt.date | None = None
    vendor: Name100 | None = None
    reference: Code32 | None = None
    number: Code32 | None = None
    origin: Name100 | None = None
    destination: Name100 | None = None
    depart_at: dt.datetime | None = None
    city: Name100 | None = None
    nights: int | None = Field(default=None, ge=1, le=MAX_TRIP_DAYS)
    cabin: Cabin | None = None
    policy: PolicyVerdict = Field(default_factory=PolicyVerdict)
    justification: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    approved_by: str | None = None
    source: Literal["agent", "recorded"] = "agent"
    item_ref: Code32 | None = None

    @model_validator(mode="after")
    def _dates(self) -> BookingDetails:
        check_amount(self.amount, self.currency)
        if self.end_date and self.end_date < self.service_date:
            raise ValueError(
                f"the end date {self.end_date.isoformat()} is before the start date {self.service_date.isoformat()}"
            )
        return self
