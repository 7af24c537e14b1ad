"""The one spend answer behind the query_spend tool and every channel's /spend: text, a table and a chart.

Who may see what is decided here, in code: a traveller sees their own spend; the whole tenant (and spend
by traveller) is for admins. The figures come from storage.spend and storage.spend_policy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from agent.charts import Chart, bar_chart, chart_filename, line_chart
from agent.replies import Attachment
from storage.approval_chain import ASKED
from storage.committed_spend import CommittedSpend, committed_spend
from storage.errors import Forbidden, InvalidInput
from storage.models import TenantUser
from storage.money import amount_text
from storage.periods import Period, parse_period
from storage.policy_verdicts import OutOfPolicyBooking, out_of_policy_bookings
from storage.sessions import current_tenant
from storage.spend import (
    GROUPINGS,
    GroupBy,
    SpendLine,
    SpendTotal,
    YearOverYear,
    spend_breakdown,
    year_over_year,
)
from storage.spend_export import export_spend_csv
from storage.spend_policy import PolicyComparison, policy_comparison
from storage.tenants import display_names
from storage.trip_approvals import OpenApproval, open_approvals

Scope = Literal["mine", "tenant"]
CHART_FROM_ROWS = 3  # a breakdown of more than two rows comes with a chart
TEXT_ROWS = 10  # the rest is in the table and the chart
CHART_BARS = 12

OPEN_APPROVALS_SHOWN = 10


@dataclass(frozen=True)
class SpendReport:
    """A spend answer as every channel renders it: lines of text, a table, and a chart when it helps."""

    title: str
    lines: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    chart: Chart | None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def check_scope(*, role: str, scope: str, group_by: str = "category") -> None:
    """Refuse what the caller's role does not allow; the model's wording has no say in it."""
    if scope not in ("mine", "tenant"):
        raise InvalidInput("Spend is either yours ('mine') or the whole company's ('tenant').")
    if group_by not in GROUPINGS:
        raise InvalidInput(
            f"Spend can be grouped by {', '.join(GROUPINGS)}; '{group_by}' is not one of them."
        )
    if role == "admin":
        return
    if scope == "tenant":
        raise Forbidden("Company-wide spend is for admins; I can show you your own spend instead.")
    if group_by == "traveller":
        raise Forbidden(
            "Spend by traveller is for admins; I can show you your own spend by category or month."
        )


async def local_today(session: AsyncSession, *, user_id: uuid.UUID) -> dt.date:
    """Today in the asker's time zone, so "this month" turns over at their midnight."""
    user = await session.get(TenantUser, (current_tenant(session), user_id))
    try:
        zone = ZoneInfo(user.timezone) if user else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return dt.datetime.now(zone).date()


async def spend_report(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    scope: Scope | str,
    period: str,
    group_by: GroupBy = "category",
    today: dt.date | None = None,
) -> SpendReport:
    """Spend of the caller (scope "mine") or of their tenant ("tenant", admins only), for a period in words.

    `scope` also takes a plain string because slash commands build it from what was typed; anything but
    the two scopes is refused by check_scope.
    """
    check_scope(role=role, scope=scope, group_by=group_by)
    when = parse_period(period, today=today or await local_today(session, user_id=user_id))
    whose = None if scope == "tenant" else user_id
    change = await year_over_year(session, period=when, user_id=whose)
    lines = await spend_breakdown(session, period=when, group_by=group_by, user_id=whose)
    policy = await policy_comparison(session, period=when, user_id=whose)
    committed = await committed_spend(session, period=when, user_id=whose)
    outside = await out_of_policy_bookings(session, period=when, user_id=whose)
    waiting = await open_approvals(session) if scope == "tenant" else []
    travellers = await display_names(session, user_ids=[t.user_id for t in waiting if t.user_id])
    owner = "Company" if scope == "tenant" else "Your"
    title = f"{owner} travel spend by {group_by}, {when.label}"
    text = [
        *_summary(change, owner=owner),
        *_committed_text(committed),
        *_breakdown_text(lines, change.current, group_by),
        *_policy_text(policy),
        *_out_of_policy_text(outside),
        *_open_approvals_text(waiting, travellers),
    ]
    chart = None
    if len(lines) >= CHART_FROM_ROWS:
        chart = await asyncio.to_thread(
            _draw, lines, title=f"{title} ({change.current.currency})", group_by=group_by
        )
    columns = (group_by.capitalize(), f"Amount ({change.current.currency})", "Share", "Trips")
    return SpendReport(title, tuple(text), columns, tuple(_table(lines, change.current)), chart)


def _money(amount: Decimal, currency: str) -> str:
    return amount_text(amount, currency)


def _trips(count: int) -> str:
    return f"{count} trip" if count == 1 else f"{count} trips"


def _summary(change: YearOverYear, *, owner: str) -> list[str]:
    total, before = change.current, change.previous
    whose = "you" if owner == "Your" else "the company"
    if total.trips == 0:
        lines = [f"No completed travel spend is recorded for {whose} in {total.period.describe()}."]
    else:
        lines = [
            f"{owner} completed travel spend in {total.period.describe()}: {_money(total.amount, total.currency)} "
            f"on {_trips(total.trips)}.",
            f"Average trip {_money(total.average_trip or Decimal(0), total.currency)}"
            + (
                f"; {_money(total.per_night, total.currency)} a night over {total.nights} nights."
                if total.per_night is not None
                else "; no overnight stays."
            ),
        ]
    period = before.period.describe()
    if change.percent is not None:
        sign = "+" if change.change >= 0 else "−"
        lines.append(
            f"Against {period}: {sign}{_money(abs(change.change), total.currency)} ({sign}{abs(change.percent)}%)."
        )
    elif total.trips:
        lines.append(f"Nothing was spent in {period}.")
    return lines


def _committed_text(committed: list[CommittedSpend]) -> list[str]:
    """Booked trips not travelled yet, apart from completed spend: they count there once they are over."""
    if not committed:
        return []
    amounts = "; ".join(f"{_money(c.amount, c.currency)} on {_trips(c.trips)}" for c in committed)
    return [
        f"Committed (booked, not yet travelled): {amounts}. It counts as completed spend once the trip is over."
    ]


def _share(amount: Decimal, total: SpendTotal) -> str:
    if not total.amount:
        return "–"
    return f"{(amount * 100 / total.amount).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _breakdown_text(lines: list[SpendLine], total: SpendTotal, group_by: GroupBy) -> list[str]:
    if not lines:
        return []
    shown = [line for line in lines if line.amount or group_by not in ("month", "quarter")]
    text = [f"By {group_by}:"]
    for line in shown[:TEXT_ROWS]:
        trips = f", {_trips(line.trips)}" if line.trips is not None else ""
        text.append(
            f"  {line.label}: {_money(line.amount, line.currency)} ({_share(line.amount, total)}{trips})"
        )
    if len(shown) > TEXT_ROWS:
        text.append(f"  … and {len(shown) - TEXT_ROWS} more in the table.")
    return text


def _table(lines: list[SpendLine], total: SpendTotal) -> list[tuple[str, ...]]:
    return [
        (
            line.label,
            f"{line.amount:,.2f}",
            _share(line.amount, total),
            "" if line.trips is None else str(line.trips),
        )
        for line in lines
    ]


def _open_approvals_text(waiting: list[OpenApproval], travellers: dict[uuid.UUID, str]) -> list[str]:
    """The trips that wait for an approver (booked now and owing it, or held until it is given), each with
    whose it is, who is asked and why; the first ten of them."""
    if not waiting:
        return []
    booked = sum(1 for trip in waiting if trip.booked)
    held = len(waiting) - booked
    parts = [
        *([f"{booked} booked now and awaiting approval"] if booked else []),
        *([f"{held} held until approved"] if held else []),
    ]
    lines = [f"Open approvals: {'; '.join(parts)} (/approvals)."]
    for trip in waiting[:OPEN_APPROVALS_SHOWN]:
        whose = travellers.get(trip.user_id, "a former traveller") if trip.user_id else "a former traveller"
        state = "booked" if trip.booked else "held until approved"
        lines.append(
            f"  {whose}, trip of {trip.start_date:%d %b %Y} ({str(trip.itinerary_id)[:8]}), {state}, "
            f"asked: {ASKED[trip.step]}: {'; '.join(trip.reasons)}."
        )
    if len(waiting) > OPEN_APPROVALS_SHOWN:
        lines.append(f"  … and {len(waiting) - OPEN_APPROVALS_SHOWN} more (/approvals lists yours).")
    return lines


def _out_of_policy_text(outside: list[OutOfPolicyBooking]) -> list[str]:
    """Each out-of-policy booking with its reasons and what let it through (latest first)."""
    return [
        f"Out of policy: {b.description}, {_money(b.amount, b.currency)}: {'; '.join(b.reasons)}"
        f"{_let_through(b)}."
        for b in outside
    ]


def _let_through(booking: OutOfPolicyBooking) -> str:
    """Why an out-of-policy booking went ahead: its approval (or where that stands), or its justification."""
    if booking.approval in ("pending", "rejected"):
        return f" (approval {booking.approval})"
    if booking.approved:
        return " (approved)"
    return f" (justified: {booking.justification})" if booking.justification else ""


def _policy_text(policy: PolicyComparison) -> list[str]:
    text = []
    if policy.budget is not None and not policy.budget_comparable:
        text.append(f"The trip budget of {policy.budget} is not in {policy.currency}, so it is not compared.")
    elif policy.budget is not None and (policy.trips_over_budget or policy.under_budget):
        over = (
            f"{_trips(policy.trips_over_budget)} over it by {_money(policy.over_budget, policy.currency)} in all"
            if policy.trips_over_budget
            else "no trip over it"
        )
        text.append(
            f"Trip budget {policy.budget}: {over}; {_money(policy.under_budget, policy.currency)} "
            "left under it on the other trips."
        )
    booked = sorted(policy.booked.values(), key=lambda spent: spent.currency)
    outside = [
        f"{_money(b.out_of_policy, b.currency)} ({b.out_of_policy_bookings} "
        f"{'booking' if b.out_of_policy_bookings == 1 else 'bookings'})"
        for b in booked
        if b.out_of_policy_bookings
    ]
    if outside:
        text.append("Out-of-policy bookings: " + ", ".join(outside) + ".")
    capped = [
        " and ".join(
            part
            for part in (
                f"{_money(b.above_cap, b.currency)} above" if b.above_cap else "",
                f"{_money(b.below_cap, b.currency)} saved below" if b.below_cap else "",
            )
            if part
        )
        for b in booked
        if b.above_cap or b.below_cap
    ]
    if capped:
        text.append("Hotels against the caps: " + "; ".join(capped) + ".")
    unchecked = [f"{b.hotels_unchecked} in {b.currency}" for b in booked if b.hotels_unchecked]
    if unchecked:
        text.append(
            "Hotels priced in another currency than their cap were not checked: " + ", ".join(unchecked) + "."
        )
    return text


def _draw(lines: list[SpendLine], *, title: str, group_by: GroupBy) -> Chart:
    currency = lines[0].currency
    filename = chart_filename("spend", group_by, title.split(",", 1)[-1])
    if group_by in ("month", "quarter"):
        labels, values = [line.label for line in lines], [line.amount for line in lines]
        if group_by == "quarter":
            return line_chart(title=title, labels=labels, values=values, unit=currency, filename=filename)
        return bar_chart(
            title=title, labels=labels, values=values, unit=currency, filename=filename, horizontal=False
        )
    top = lines[: CHART_BARS - 1] if len(lines) > CHART_BARS else lines
    labels, values = [line.label for line in top], [line.amount for line in top]
    if len(lines) > CHART_BARS:  # one currency throughout, so the rest may be added up
        labels.append(f"{len(lines) - len(top)} others")
        values.append(sum((line.amount for line in lines[len(top) :]), Decimal(0)))
    return bar_chart(
        title=title, labels=labels, values=values, unit=currency, filename=filename, horizontal=True
    )


async def spend_csv(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    role: str,
    scope: Scope | str,
    period: str,
    today: dt.date | None = None,
) -> Attachment:
    """The trips and spend of the caller (or, for admins, the tenant) in a period, as a CSV file."""
    check_scope(role=role, scope=scope)
    when: Period = parse_period(period, today=today or await local_today(session, user_id=user_id))
    export = await export_spend_csv(session, period=when, user_id=None if scope == "tenant" else user_id)
    owner = "company" if scope == "tenant" else "my"
    return Attachment(
        filename=chart_filename(owner, "travel spend", when.label, extension="csv"),
        content=export.content,
        title=f"{owner.capitalize()} travel spend, {when.describe()}: {_trips(export.trips)}",
        mime_type="text/csv",
    )
