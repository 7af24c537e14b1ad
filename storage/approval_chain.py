"""Who approves a trip booked now and approved later: the manager, then finance above a threshold, then admins.

A step left unanswered past the company's timeout escalates: any admin may answer it instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.exchange_rates import reference_rates
from storage.models import Booking, TenantUser
from storage.money import Money

# Who each step asks, as travellers and approvers read it.
ASKED = {"manager": "the traveller's manager", "finance": "finance", "admin": "an admin"}


@dataclass(frozen=True)
class ApprovalChain:
    """The company's approvers after the manager, and how long each step may wait."""

    finance_threshold: Money | None
    finance_approvers: tuple[str, ...]
    timeout: dt.timedelta

    @classmethod
    def from_preferences(cls, preferences: dict[str, Any]) -> ApprovalChain:
        threshold = preferences.get("policy.approval.finance_threshold")
        return cls(
            finance_threshold=Money.model_validate(threshold) if threshold else None,
            finance_approvers=tuple(
                e.strip().lower() for e in preferences.get("policy.approval.finance_approvers") or []
            ),
            timeout=dt.timedelta(hours=int(preferences.get("policy.approval.timeout_hours") or 48)),
        )

    def needs_finance(self, spent: dict[str, Decimal]) -> bool:
        """Whether the trip's total reaches the threshold; a total that cannot be converted goes to finance."""
        threshold = self.finance_threshold
        if threshold is None or not self.finance_approvers:
            return False
        total = Decimal(0)
        for currency, amount in spent.items():
            converted = reference_rates().convert(amount, currency, threshold.currency)
            if converted is None:
                return True
            total += converted.amount
        return total >= threshold.amount

    def first_step(self, *, manager: uuid.UUID | None, needs_finance: bool) -> str:
        return "manager" if manager else "finance" if needs_finance else "admin"

    def steps(self, *, manager: uuid.UUID | None, needs_finance: bool) -> tuple[str, ...]:
        """Every step a trip goes through, in order (before any escalation)."""
        step: str | None = self.first_step(manager=manager, needs_finance=needs_finance)
        order = []
        while step is not None:
            order.append(step)
            step = self.next_step(step, needs_finance=needs_finance)
        return tuple(order)

    def next_step(self, step: str, *, needs_finance: bool) -> str | None:
        """Who is asked after `step` approves; None when the trip is approved."""
        return "finance" if step == "manager" and needs_finance else None

    def may_answer(
        self,
        step: str,
        since: dt.datetime | None,
        *,
        caller: TenantUser,
        manager: uuid.UUID | None,
        now: dt.datetime,
    ) -> bool:
        """The step's own approver, or any admin once the step has waited past the timeout."""
        own = self.asks(step, caller=caller, manager=manager)
        return own or (caller.role == "admin" and since is not None and now - since >= self.timeout)

    def asks(self, step: str, *, caller: TenantUser, manager: uuid.UUID | None) -> bool:
        """Whether the step is the caller's own to answer (the manager, a finance approver, an admin)."""
        if step == "manager":
            return caller.user_id == manager
        if step == "finance":
            return (caller.email or "").strip().lower() in self.finance_approvers
        return caller.role == "admin"

    def escalated(self, since: dt.datetime | None, now: dt.datetime) -> bool:
        return since is not None and now - since >= self.timeout


async def unanswerable_steps(
    session: AsyncSession, *, chain: ApprovalChain, traveller_id: uuid.UUID, needs_finance: bool
) -> list[str]:
    """The steps of the traveller's chain that no one but the traveller could ever answer (no one answers
    their own trip); empty when another admin exists, since every step escalates to the admins."""
    colleagues = [
        user for user in (await session.scalars(select(TenantUser))).all() if user.user_id != traveller_id
    ]
    if any(user.role == "admin" for user in colleagues):
        return []
    manager = await manager_of(session, user_id=traveller_id)
    return [
        step
        for step in chain.steps(manager=manager, needs_finance=needs_finance)
        if not any(chain.asks(step, caller=user, manager=manager) for user in colleagues)
    ]


async def trip_spend_by_currency(session: AsyncSession, *, itinerary_id: uuid.UUID) -> dict[str, Decimal]:
    """The confirmed bookings of a trip, summed per currency as booked."""
    spent: dict[str, Decimal] = {}
    for booking in await session.scalars(select(Booking).where(Booking.itinerary_id == itinerary_id)):
        if booking.confirmed:
            currency = str(booking.booking_details.get("currency"))
            spent[currency] = spent.get(currency, Decimal(0)) + Decimal(
                str(booking.booking_details.get("amount"))
            )
    return spent


async def manager_of(session: AsyncSession, *, user_id: uuid.UUID | None) -> uuid.UUID | None:
    traveller = (
        await session.scalar(select(TenantUser).where(TenantUser.user_id == user_id)) if user_id else None
    )
    return traveller.manager_id if traveller else None


async def name_manager(
    session: AsyncSession, *, actor: Actor, traveller: TenantUser, manager_id: uuid.UUID, source: str
) -> None:
    """Record who approves the traveller's trips first, audited with where it came from."""
    traveller.manager_id = manager_id
    await record_audit(
        session,
        actor=actor,
        action="user.manager",
        entity="user",
        entity_id=str(traveller.user_id),
        details={"manager": str(manager_id), "source": source},
    )
