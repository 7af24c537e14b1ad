"""The verdict on a whole trip: every item under the policy in force, the budget, and the trip's dates.

Drafting, the confirmation card, the gate and the stored bookings all take their verdict from
`evaluate_trip`, so what the traveller is shown is what decides and what the reports read.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from agent.policy import UNVERIFIED, UNVERIFIED_RULE, TravelPolicy, check_item
from storage.exchange_rates import ReferenceRates
from storage.money import Money, amount_text, minor_unit
from storage.plans import DayPlan, PlannedItem, TravelItem


@dataclass(frozen=True)
class RunningTotal:
    """The trip's cost so far in one currency (the budget's, else the tenant's), at ECB reference rates."""

    amount: Decimal
    currency: str
    rate_notes: tuple[str, ...] = ()
    unconverted: dict[str, Decimal] = field(default_factory=dict)

    def __str__(self) -> str:
        approx = "≈ " if self.rate_notes else ""
        return approx + amount_text(self.amount.quantize(minor_unit(self.currency)), self.currency)


@dataclass(frozen=True)
class TripVerdict:
    """Items with their verdicts, the trip-level reasons, and the figures the traveller sees while drafting."""

    days: list[DayPlan]
    reasons: list[str]
    # What the company's policy asks of this trip: None (in policy), warn, justify, approve or block.
    action: str | None
    total: RunningTotal
    budget: Money | None
    started_in_past: bool
    policy_version: str
    approve_later: bool = False

    @property
    def violations(self) -> list[str]:
        return [
            f"{item.description}: {reason}"
            for day in self.days
            for item in day.items
            for reason in item.policy.reasons
        ] + self.reasons

    @property
    def ok(self) -> bool:
        return not self.violations

    def budget_line(self) -> str:
        """ "Trip budget 2,500.00 EUR; running total ≈ 2,710.40 EUR, 210.40 EUR over." or the total alone."""
        if self.budget is None:
            return f"Running total: {self.total}."
        left = self.budget.amount - self.total.amount
        unit = minor_unit(self.budget.currency)
        state = (
            f"{amount_text((-left).quantize(unit), self.budget.currency)} over"
            if left < 0
            else f"{amount_text(left.quantize(unit), self.budget.currency)} left"
        )
        return f"Trip budget {self.budget}; running total {self.total}, {state}."


def running_total(items: list[PlannedItem], *, currency: str, rates: ReferenceRates) -> RunningTotal:
    """Every priced item converted to `currency`; amounts without a rate are kept apart, never added."""
    amount = Decimal(0)
    notes: list[str] = []
    unconverted: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        if not item.cost or not item.currency:
            continue
        converted = rates.convert(item.cost, item.currency, currency)
        if converted is None:
            unconverted[item.currency] += item.cost
            continue
        amount += converted.amount
        if item.currency != currency:
            notes.append(f"{amount_text(item.cost, item.currency)} {converted.note()}")
    return RunningTotal(amount, currency, tuple(notes), dict(unconverted))


def _budget_reasons(total: RunningTotal, budget: Money | None) -> list[tuple[str, str]]:
    """(rule, reason) pairs about the trip as a whole."""
    if budget is None:
        return []
    reasons = []
    if total.amount > budget.amount:
        over = (total.amount - budget.amount).quantize(minor_unit(budget.currency))
        reasons.append(
            (
                "trip_budget",
                f"trip budget: {budget}; this trip is {total}, {amount_text(over, budget.currency)} above it",
            )
        )
    if total.unconverted:
        currencies = ", ".join(sorted(total.unconverted))
        reasons.append(
            (
                UNVERIFIED_RULE,
                f"{UNVERIFIED}: there is no ECB reference rate from {currencies} to {budget.currency} "
                f"for the {budget} trip budget",
            )
        )
    return reasons


def evaluate_trip(
    days: list[tuple[int, dt.date, list[PlannedItem]]],
    *,
    start_date: dt.date,
    policy: TravelPolicy,
    today: dt.date,
    rates: ReferenceRates,
) -> TripVerdict:
    """The whole trip under `policy` on `today`: one verdict per item, then the trip's own reasons."""
    # The items are validated already: the checked copies are built without validating them again.
    checked = [
        DayPlan.model_construct(
            day_number=number,
            date=date,
            items=[
                TravelItem.model_construct(
                    **{name: getattr(item, name) for name in PlannedItem.model_fields},
                    policy=check_item(item, day=date, policy=policy, today=today, rates=rates),
                )
                for item in items
            ],
        )
        for number, date, items in days
    ]
    currency = policy.trip_budget.currency if policy.trip_budget else policy.currency
    total = running_total([i for _, _, items in days for i in items], currency=currency, rates=rates)
    trip_level = _budget_reasons(total, policy.trip_budget)
    rules = [rule for day in checked for item in day.items for rule in item.policy.rules]
    return TripVerdict(
        days=checked,
        reasons=[reason for _, reason in trip_level],
        action=policy.action_for([*rules, *(rule for rule, _ in trip_level)]),
        total=total,
        budget=policy.trip_budget,
        started_in_past=start_date < today,
        policy_version=policy.version,
        approve_later=policy.approve_later,
    )
