"""Booking a confirmed draft, and recording bookings made elsewhere; both write reminder rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from agent.cards import card_text, itinerary_card, money_text, trip_totals
from agent.context import Context
from agent.planning import local_today, policy_in_force, within_travel_dates
from agent.replies import ConfirmationRequest
from agent.trip_verdict import TripVerdict, evaluate_trip
from storage.approval_chain import ASKED, ApprovalChain, manager_of, unanswerable_steps
from storage.audit import Actor, record_audit
from storage.bookings import create_booking, list_bookings
from storage.errors import Conflict, InvalidInput, PolicyViolation
from storage.exchange_rates import reference_rates
from storage.itineraries import CONFIRMED, DRAFT, ItineraryView, get_itinerary, set_status
from storage.models import Booking
from storage.plans import PolicyVerdict, TravelItem
from storage.policy_verdicts import store_verdict
from storage.preferences import tenant_preferences
from storage.reminders import ScheduledReminder, schedule_reminders
from storage.trip_approvals import held_for_approval, request_approval


@dataclass(frozen=True)
class BookingOutcome:
    """What a confirmation wrote; `already_booked` when an earlier confirmation had done it."""

    itinerary_id: uuid.UUID
    bookings: list[Booking]
    reminders: list[ScheduledReminder]
    already_booked: bool = False
    # Held as a draft until its approvers say yes: the step asked first ("manager", "finance" or "admin").
    held_for: str | None = None


async def trip_verdict(
    session: AsyncSession, *, ctx: Context, view: ItineraryView, now: dt.datetime
) -> TripVerdict:
    """The whole trip re-evaluated under the policy in force now: the card, the gate and the bookings use it."""
    return evaluate_trip(
        [(day.day_number, day.date, list(day.items)) for day in view.days],
        start_date=view.itinerary.start_date,
        policy=await policy_in_force(session),
        today=local_today(ctx, now),
        rates=reference_rates(),
    )


def _refuse_past(view: ItineraryView, verdict: TripVerdict) -> None:
    if verdict.started_in_past:
        raise InvalidInput(
            f"That trip started on {view.itinerary.start_date:%d %b %Y}, in the past, so it cannot be booked "
            "now. If you booked it elsewhere, give me the confirmation and I will record it."
        )


def _check_dates(view: ItineraryView) -> None:
    """A draft written by another system may carry dates no booking can have: refused in one sentence."""
    try:
        for day in view.days:
            within_travel_dates(day.date)
            for item in day.items:
                if item.nights:
                    within_travel_dates(day.date + dt.timedelta(days=item.nights))
    except (ValueError, OverflowError) as error:
        raise InvalidInput(f"That draft cannot be booked: {error}.") from None


async def confirmation_request(
    session: AsyncSession, *, ctx: Context, itinerary_id: uuid.UUID, now: dt.datetime
) -> ConfirmationRequest:
    """What the traveller is asked to confirm. Reads only: it runs again when the conversation resumes."""
    view = await get_itinerary(session, itinerary_id=itinerary_id, user_id=ctx.user_id)
    if view.itinerary.status == CONFIRMED:
        raise Conflict("That itinerary is already booked.")
    if view.itinerary.status != DRAFT:
        raise Conflict(f"That itinerary is {view.itinerary.status} and cannot be booked.")
    _check_dates(view)
    await _refuse_held(session, itinerary_id=itinerary_id)
    bookable = [item for day in view.days for item in day.items if item.bookable]
    if not bookable:
        raise InvalidInput("That draft has no flight, hotel, train or car to book yet.")
    unpriced = [item.description for item in bookable if item.cost is None]
    if unpriced:
        raise InvalidInput(f"These items need an estimated cost before booking: {', '.join(unpriced)}.")
    verdict = await trip_verdict(session, ctx=ctx, view=view, now=now)
    _refuse_past(view, verdict)
    card = itinerary_card(view, verdict)
    needs_chain = bool(verdict.violations) and verdict.action == "approve"
    return ConfirmationRequest(
        itinerary_id=itinerary_id,
        requested_by=ctx.user_id,
        summary=card_text(card),
        totals=card.totals,
        violations=tuple(verdict.violations),
        card=card,
        action=verdict.action,
        approve_later=verdict.approve_later,
        approvers=await _approvers(session, ctx=ctx, verdict=verdict) if needs_chain else (),
    )


async def _refuse_held(session: AsyncSession, *, itinerary_id: uuid.UUID) -> None:
    held = await held_for_approval(session, itinerary_id=itinerary_id)
    if held is not None:
        raise Conflict(
            f"That trip already waits for approval (asked: {ASKED[held.step]}); it is booked once approved. "
            "Changing the draft withdraws the request."
        )


async def held_trip_spend(session: AsyncSession, *, itinerary_id: uuid.UUID) -> dict[str, Decimal]:
    """What a draft held for approval would cost, per currency as priced."""
    view = await get_itinerary(session, itinerary_id=itinerary_id)
    return trip_totals([item for day in view.days for item in day.items if item.bookable])


async def book_itinerary(
    session: AsyncSession,
    *,
    ctx: Context,
    itinerary_id: uuid.UUID,
    justification: str | None,
    approved_by: uuid.UUID | None,
    now: dt.datetime,
) -> BookingOutcome:
    """Confirm a draft: one booking per component, its reminders and an audit entry. Idempotent.

    The itinerary row is locked, so two concurrent confirmations serialise and the second finds it booked.
    """
    view = await get_itinerary(session, itinerary_id=itinerary_id, user_id=ctx.user_id, lock=True)
    if view.itinerary.status == CONFIRMED:
        existing = await list_bookings(session, user_id=ctx.user_id, itinerary_id=itinerary_id)
        return BookingOutcome(itinerary_id, existing, [], already_booked=True)
    if view.itinerary.status != DRAFT:
        raise Conflict(f"That itinerary is {view.itinerary.status} and cannot be booked.")
    _check_dates(view)
    await _refuse_held(session, itinerary_id=itinerary_id)
    verdict = await trip_verdict(session, ctx=ctx, view=view, now=now)
    _refuse_past(view, verdict)
    violations = verdict.violations
    justified = bool((justification or "").strip())
    mode = _gate(verdict, justified=justified, approved=approved_by is not None)
    why = justification.strip() if justified and justification else None
    actor = Actor.user(ctx.user_id)
    first_step = (await _approvers(session, ctx=ctx, verdict=verdict))[0] if mode != "now" else None
    if violations and approved_by is None:  # an approver's yes was audited by its step of the chain
        await _audit_decision(
            session, ctx=ctx, itinerary_id=itinerary_id, verdict=verdict, justification=why, mode=mode
        )
    if first_step is not None:
        await request_approval(
            session,
            itinerary_id=itinerary_id,
            booked=mode == "later",
            step=first_step,
            reasons=violations,
            policy_version=verdict.policy_version,
            justification=why,
            now=now,
        )
    if mode == "hold":
        return BookingOutcome(itinerary_id, [], [], held_for=first_step)
    preferences = await tenant_preferences(session)
    bookings, reminders = [], []
    for day in verdict.days:
        for index, item in enumerate(day.items):
            if not item.bookable:
                continue
            service_date = item.depart_at.date() if item.depart_at else day.date
            booked_under = _booked_verdict(item.policy, verdict.reasons)
            booking = await create_booking(
                session,
                actor=actor,
                user_id=ctx.user_id,
                itinerary_id=itinerary_id,
                booking_type=item.kind.value,
                details=_details(
                    item,
                    verdict=booked_under,
                    service_date=service_date,
                    justification=why if violations else None,
                    approved_by=approved_by,
                    item_ref=f"day{day.day_number}.{index + 1}",
                ),
            )
            await store_verdict(
                session,
                booking_id=booking.booking_id,
                verdict=booked_under,
                policy_version=verdict.policy_version,
                justification=why if violations else None,
                approved_by=approved_by,
                approval="pending" if mode == "later" else None,
            )
            bookings.append(booking)
            reminders += await schedule_reminders(
                session,
                booking=booking,
                travel_date=service_date,
                days_before=preferences["reminders.days_before"],
                timezone=ctx.timezone,
                now=now,
            )
    await set_status(session, actor=actor, itinerary_id=itinerary_id, status=CONFIRMED)
    return BookingOutcome(itinerary_id, bookings, reminders)


Gate = Literal["now", "later", "hold"]


def _gate(verdict: TripVerdict, *, justified: bool, approved: bool) -> Gate:
    """What the company's policy lets happen to the trip now: the same rule in every channel.

    "now": booked; "later": booked now and approved afterwards (the company allows that); "hold": kept as
    a draft and put to the approval chain, booked once its last approver says yes. A blocked trip, or one
    that needs a justification it did not get, is refused.
    """
    reasons = "; ".join(verdict.violations)
    if verdict.action == "block":
        raise PolicyViolation(f"This trip cannot be booked under the company's policy ({reasons}).")
    if verdict.action == "approve" and not approved:
        return "later" if verdict.approve_later else "hold"
    if verdict.action == "justify" and not justified and not approved:
        raise PolicyViolation(
            f"This trip is out of policy ({reasons}). A justification is needed to book it."
        )
    return "now"


async def _approvers(session: AsyncSession, *, ctx: Context, verdict: TripVerdict) -> tuple[str, ...]:
    """The steps of the trip's approval chain, in order: the traveller's manager when they have one, finance
    when the trip reaches the threshold, an admin when neither applies.

    Refused when some step has no one but the traveller to answer it: such a trip would wait for ever.
    """
    chain = ApprovalChain.from_preferences(await tenant_preferences(session))
    needs_finance = chain.needs_finance(
        trip_totals([item for day in verdict.days for item in day.items if item.bookable])
    )
    missing = await unanswerable_steps(
        session, chain=chain, traveller_id=ctx.user_id, needs_finance=needs_finance
    )
    if missing:
        raise InvalidInput(
            f"This trip needs approval, but no one in your company but you can give it (asked: "
            f"{ASKED[missing[0]]}), and no one approves their own trip. Ask an admin to name your manager "
            "(/approvals manager YOUR_EMAIL MANAGER_EMAIL) or to make a colleague an admin."
        )
    return chain.steps(manager=await manager_of(session, user_id=ctx.user_id), needs_finance=needs_finance)


_DECISION_EVENTS: dict[Gate, str] = {
    "now": "policy.warn",
    "later": "policy.approve_later",
    "hold": "policy.request",
}


async def _audit_decision(
    session: AsyncSession,
    *,
    ctx: Context,
    itinerary_id: uuid.UUID,
    verdict: TripVerdict,
    justification: str | None,
    mode: Gate,
) -> None:
    """Who let an out-of-policy trip through (or asked for its approval), when, why, under which policy."""
    details: dict[str, Any] = {
        "action": verdict.action,
        "reasons": verdict.violations,
        "policy_version": verdict.policy_version,
    }
    event = _DECISION_EVENTS[mode]
    if justification:
        details["justification"] = justification
        if mode == "now":
            event = "policy.justify"
    await record_audit(
        session,
        actor=Actor.user(ctx.user_id),
        action=event,
        entity="itinerary",
        entity_id=str(itinerary_id),
        details=details,
    )


def _booked_verdict(item: PolicyVerdict, trip_reasons: list[str]) -> PolicyVerdict:
    """An item's verdict with the trip's own reasons: every booking of a trip over budget is out of policy."""
    if not trip_reasons:
        return item
    return item.model_copy(update={"status": "violation", "reasons": [*item.reasons, *trip_reasons]})


def _details(
    item: TravelItem,
    *,
    verdict: PolicyVerdict,
    service_date: dt.date,
    justification: str | None,
    approved_by: uuid.UUID | None,
    item_ref: str,
) -> dict[str, object]:
    """The booking's facts with the verdict it was booked under."""
    nights = item.nights if item.kind.value == "hotel" else None
    return {
        "amount": item.cost,
        "currency": item.currency,
        "description": item.description,
        "service_date": service_date,
        "end_date": service_date + dt.timedelta(days=nights) if nights else None,
        "vendor": item.vendor or item.carrier,
        "number": item.number,
        "origin": item.origin,
        "destination": item.destination,
        "depart_at": item.depart_at,
        "city": item.city,
        "nights": nights,
        "cabin": item.cabin,
        "policy": verdict.model_dump(mode="json"),
        "justification": justification,
        "approved_by": str(approved_by) if approved_by else None,
        "source": "agent",
        "item_ref": item_ref,
    }


def outcome_text(outcome: BookingOutcome) -> str:
    """The booking's own result in one line, as the product states it to the traveller."""
    if outcome.held_for:
        asked = ASKED[outcome.held_for].replace("the traveller's", "your")  # "your manager", not "your's"
        return (
            f"Sent for approval to {asked}; nothing is "
            "booked until the last approver says yes, and you will be told each answer."
        )
    if outcome.already_booked:
        return f"Already booked: {len(outcome.bookings)} items; nothing new was booked."
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for booking in outcome.bookings:
        totals[booking.booking_details["currency"]] += Decimal(booking.booking_details["amount"])
    days = sorted({reminder.reminder_date for reminder in outcome.reminders})
    reminders = (
        "reminders on " + " and ".join(", ".join(f"{d.day} {d:%b}" for d in days).rsplit(", ", 1))
        if days
        else "no reminders (the trip is too close)"
    )
    return f"Booked: {len(outcome.bookings)} items, {money_text(totals)}; {reminders}."
