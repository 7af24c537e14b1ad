"""The agent's tools: thin calls into storage inside the caller's tenant. The model never fills identity."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain.tools import ToolRuntime, tool
from langchain_core.tools import BaseTool
from langgraph.types import interrupt
from pydantic import BaseModel, ConfigDict, Field

from agent.booking import book_itinerary, confirmation_request, outcome_text
from agent.cards import card_text, verdict_json
from agent.context import Context
from agent.embeddings import Embedder
from agent.facts import describe_bookings, describe_itineraries
from agent.library_tools import library_tools, recalled_memories
from agent.planning import DraftArguments, draft_trip, revise_trip
from agent.recorded_bookings import RecordArguments, record_external_booking
from agent.replies import DecisionOutcome
from agent.spend_report import spend_report
from agent.travel_info.service import TravelInfo
from agent.travel_info.trips import trip_travel_note
from agent.travel_memory import TravellerMemory
from storage.audit import Actor
from storage.bookings import cancel_booking as cancel_stored_booking
from storage.bookings import list_bookings as stored_bookings
from storage.database import Database
from storage.errors import DomainError, Forbidden
from storage.itineraries import get_itinerary
from storage.itineraries import list_itineraries as stored_itineraries
from storage.preferences import set_personal_preference, set_tenant_preference
from storage.quotas import Quotas
from storage.reminders import ScheduledReminder

log = logging.getLogger(__name__)

RemindersScheduled = Callable[[Sequence[ScheduledReminder]], Awaitable[None]]
MAX_TOOL_RESULT = 6000  # characters; keeps one tool result from flooding the next model request


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AgentServices:
    """What the tools need besides the caller: the database, a clock and the reminder queue."""

    db: Database
    clock: Callable[[], dt.datetime] = _utcnow
    reminders_scheduled: RemindersScheduled | None = None
    extra_tools: tuple[BaseTool, ...] = field(default=())
    # Message rates and the daily token budget; None switches both off (tests, the console without Redis).
    quotas: Quotas | None = None
    # Weather and flight status; None when the process has no travel-information providers.
    travel_info: TravelInfo | None = None
    # Embeddings for policy and memory search; None means full-text search only.
    embedder: Embedder | None = None


class Decision(BaseModel):
    """The answer to a confirmation request, carried by Command(resume=...)."""

    model_config = ConfigDict(extra="ignore")

    approved: bool
    justification: str | None = Field(default=None, max_length=1000)
    superseded: bool = False


def refusals_as_results(body: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
    """A domain refusal becomes the tool's result, one sentence the model passes on; long results are cut."""

    @functools.wraps(body)
    async def run(*args: Any, **kwargs: Any) -> str:
        try:
            result = await body(*args, **kwargs)
        except DomainError as error:
            return f"Refused: {error.message}"
        return result if len(result) <= MAX_TOOL_RESULT else result[:MAX_TOOL_RESULT] + "\n(cut short)"

    return run


class ItineraryArguments(DraftArguments):
    itinerary_id: uuid.UUID = Field(description="The draft to revise")


class PreferenceArguments(BaseModel):
    key: str = Field(description="Preference key, e.g. seat, meal, home_airport, loyalty, hotel_chain")
    value: Any = Field(description="The new value (string, number, list or object)")


def build_tools(services: AgentServices) -> list[BaseTool]:
    db, clock = services.db, services.clock
    memory = TravellerMemory(db, services.embedder)

    @tool("get_preferences")
    @refusals_as_results
    async def get_preferences(runtime: ToolRuntime[Context]) -> str:
        """The company's travel policy and preferences, the traveller's own preferences and recent trips."""
        remembered = await recalled_memories(memory, runtime)
        return (runtime.context.facts or "No preferences are recorded.") + remembered

    @tool("create_draft_itinerary", args_schema=DraftArguments)
    @refusals_as_results
    async def create_draft_itinerary(runtime: ToolRuntime[Context], **fields: Any) -> str:
        """Create a draft itinerary with day-by-day items (flights, hotel nights, meetings, ground transport),
        each with an estimated cost and currency. Returns the draft with a policy verdict on every item."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            card = await draft_trip(session, ctx=ctx, arguments=DraftArguments(**fields), now=clock())
        ctx.output.cards.append(card)
        return "Draft created.\n" + card_text(card) + "\nPolicy verdict: " + verdict_json(card)

    @tool("update_draft_itinerary", args_schema=ItineraryArguments)
    @refusals_as_results
    async def update_draft_itinerary(
        runtime: ToolRuntime[Context], itinerary_id: uuid.UUID, **fields: Any
    ) -> str:
        """Replace a draft itinerary's dates, destinations and days with the revised plan."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            card = await revise_trip(
                session, ctx=ctx, itinerary_id=itinerary_id, arguments=DraftArguments(**fields), now=clock()
            )
        ctx.output.cards.append(card)
        return "Draft updated.\n" + card_text(card) + "\nPolicy verdict: " + verdict_json(card)

    @tool("list_itineraries")
    @refusals_as_results
    async def list_itineraries(
        runtime: ToolRuntime[Context], status: Literal["draft", "confirmed", "cancelled", "all"] = "all"
    ) -> str:
        """The traveller's itineraries (drafts, confirmed or cancelled), soonest first."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            trips = await stored_itineraries(
                session, user_id=ctx.user_id, status=None if status == "all" else status
            )
        return describe_itineraries(trips)

    @tool("confirm_booking")
    @refusals_as_results
    async def confirm_booking(runtime: ToolRuntime[Context], itinerary_id: uuid.UUID) -> str:
        """Book a draft itinerary after the traveller explicitly confirms. Pauses for their yes or no."""
        ctx = runtime.context
        # Everything before interrupt() runs again on resume, so it only reads.
        async with db.tenant(ctx.tenant_id) as session:
            request = await confirmation_request(session, ctx=ctx, itinerary_id=itinerary_id, now=clock())
        answer = interrupt(
            {
                "kind": "confirm_booking",
                "itinerary_id": str(itinerary_id),
                "requested_by": str(ctx.user_id),
                "violations": list(request.violations),
            }
        )
        decision = Decision.model_validate(answer)
        if not decision.approved:
            if decision.superseded:
                return (
                    "The traveller wrote something else before deciding; answer their next message. "
                    "The request is not booked."
                )
            summary = "Cancelled; nothing was booked."
            ctx.output.outcomes.append(DecisionOutcome(itinerary_id, booked=False, summary=summary))
            return "The traveller declined; nothing was booked."
        async with db.tenant(ctx.tenant_id) as session:
            outcome = await book_itinerary(
                session,
                ctx=ctx,
                itinerary_id=itinerary_id,
                justification=decision.justification,
                approved_by=None,
                now=clock(),
            )
        summary = outcome_text(outcome)
        # Noted before anything else can fail: the booking (or the request for approval) stands whatever
        # the model does next.
        ctx.output.outcomes.append(
            DecisionOutcome(
                itinerary_id,
                booked=outcome.held_for is None,
                summary=summary,
                held=outcome.held_for is not None,
            )
        )
        if outcome.reminders and services.reminders_scheduled:
            await services.reminders_scheduled(outcome.reminders)
        return summary

    @tool("record_booking", args_schema=RecordArguments)
    @refusals_as_results
    async def record_booking(runtime: ToolRuntime[Context], **fields: Any) -> str:
        """Record a booking the traveller made elsewhere (pasted or forwarded confirmation) on the right trip."""
        ctx = runtime.context
        arguments = RecordArguments(**fields)
        async with db.tenant(ctx.tenant_id) as session:
            recorded = await record_external_booking(session, ctx=ctx, arguments=arguments, now=clock())
        if recorded is None:
            return f"Already recorded: the booking with locator {arguments.reference} is on file."
        booking, reminders = recorded
        if reminders and services.reminders_scheduled:
            await services.reminders_scheduled(reminders)
        return "Recorded: " + describe_bookings([booking])

    @tool("cancel_booking")
    @refusals_as_results
    async def cancel_booking(runtime: ToolRuntime[Context], booking_id: uuid.UUID) -> str:
        """Cancel one of the traveller's bookings; its pending reminders are cancelled too."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            booking = await cancel_stored_booking(
                session, actor=Actor.user(ctx.user_id), booking_id=booking_id, user_id=ctx.user_id
            )
        return "Cancelled: " + describe_bookings([booking])

    @tool("list_bookings")
    @refusals_as_results
    async def list_bookings(
        runtime: ToolRuntime[Context], status: Literal["confirmed", "cancelled", "all"] = "all"
    ) -> str:
        """The traveller's bookings, newest first."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            bookings = await stored_bookings(
                session, user_id=ctx.user_id, status=None if status == "all" else status, limit=20
            )
        return describe_bookings(bookings)

    @tool("query_spend")
    @refusals_as_results
    async def query_spend(
        runtime: ToolRuntime[Context],
        period: str = "this year",
        scope: Literal["mine", "tenant"] = "mine",
        group_by: Literal["category", "month", "quarter", "destination", "traveller"] = "category",
    ) -> str:
        """Travel spend for a period ("this year", "last quarter", "2026-11"), grouped. scope "tenant" is the
        whole company and is for admins only."""
        ctx = runtime.context
        if scope == "tenant" and not ctx.is_admin:
            raise Forbidden("Company-wide spend is for admins; I can show you your own spend instead.")
        async with db.tenant(ctx.tenant_id) as session:
            report = await spend_report(
                session, user_id=ctx.user_id, role=ctx.role, scope=scope, period=period, group_by=group_by
            )
        if report.chart is not None:
            ctx.output.attachments.append(report.chart.as_attachment())
        return report.text

    @tool("get_travel_info")
    @refusals_as_results
    async def get_travel_info(runtime: ToolRuntime[Context], itinerary_id: uuid.UUID) -> str:
        """Live weather at the destination for the trip's dates, and the status of its booked flights."""
        ctx = runtime.context
        if services.travel_info is None:
            return "Live travel information is not available right now."
        async with db.tenant(ctx.tenant_id) as session:
            trip = (await get_itinerary(session, itinerary_id=itinerary_id, user_id=ctx.user_id)).itinerary
            bookings = await stored_bookings(session, user_id=ctx.user_id, itinerary_id=itinerary_id)
        note = await trip_travel_note(services.travel_info, itinerary=trip, bookings=bookings)
        return note or "That trip names no destination to look up."

    @tool("set_my_preference", args_schema=PreferenceArguments)
    @refusals_as_results
    async def set_my_preference(runtime: ToolRuntime[Context], key: str, value: Any) -> str:
        """Change one of the traveller's own preferences (seat, meal, home_airport, loyalty, hotel_chain)."""
        ctx = runtime.context
        async with db.tenant(ctx.tenant_id) as session:
            stored = await set_personal_preference(
                session, actor=Actor.user(ctx.user_id), user_id=ctx.user_id, key=key, value=value
            )
        return f"Saved your {key}: {json.dumps(stored)}"

    @tool("set_tenant_preference", args_schema=PreferenceArguments)
    @refusals_as_results
    async def set_tenant_preference_tool(runtime: ToolRuntime[Context], key: str, value: Any) -> str:
        """Change a company travel policy or preference (admins only), e.g. policy.hotel.max_nightly_rate."""
        ctx = runtime.context
        if not ctx.is_admin:
            raise Forbidden("Only an admin of your company can change travel policy.")
        async with db.tenant(ctx.tenant_id) as session:
            stored = await set_tenant_preference(session, actor=Actor.user(ctx.user_id), key=key, value=value)
        return f"Company preference {key} is now {json.dumps(stored)}"

    return [
        get_preferences,
        create_draft_itinerary,
        update_draft_itinerary,
        list_itineraries,
        confirm_booking,
        record_booking,
        cancel_booking,
        list_bookings,
        query_spend,
        get_travel_info,
        set_my_preference,
        set_tenant_preference_tool,
        *library_tools(db, services.embedder),
        *services.extra_tools,
    ]
