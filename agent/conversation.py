"""The one conversation service every channel calls: a message in, a structured reply out."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agent.booking import confirmation_request
from agent.checkpoints import (
    ConversationErased,
    ConversationMoved,
    ConversationTurn,
    TenantCheckpointSaver,
)
from agent.context import Context
from agent.conversation_privacy import AUTHOR, conversation_digest
from agent.facts import render_facts
from agent.model import MODEL_NOT_CONFIGURED
from agent.prompt_layout import trimmed
from agent.replies import AgentReply, ConfirmationRequest, DecisionOutcome
from agent.tools import AgentServices, Decision
from agent.turn_outcomes import declines, fault_reply, last_outcome
from storage.conversations import open_turn
from storage.errors import DomainError, Forbidden, InvalidInput
from storage.quotas import LimitReached
from storage.turn_leases import turn_lease

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9._@:-]{1,200}$")


def thread_id(ctx: Context, conversation: str) -> str:
    """The checkpoint thread, built on the server: the tenant prefix cannot be chosen by the caller, and the
    platform's conversation id (chat and user ids) is kept only as a digest."""
    if not _CONVERSATION_ID.fullmatch(conversation):
        raise InvalidInput("That conversation id is not valid.")
    return f"{ctx.tenant_id}:{ctx.channel}:{conversation_digest(ctx.tenant_id, conversation)}"


def message_ids(messages: list[AnyMessage]) -> set[str]:
    return {message.id for message in messages if message.id}


# Threads whose turn the current task holds, so a channel can hold a turn around several service calls.
_held_turns: ContextVar[frozenset[str]] = ContextVar("held_turns", default=frozenset())


class ConversationService:
    """Turns (who, conversation, text) into replies; owns checkpoints, confirmation and fault handling.

    A turn is one unit: it holds the conversation's lease (one turn at a time, whichever replica runs it),
    and its checkpoint is written once, at its end, over the checkpoint it started from. A turn that
    raises, or whose answer is refused, writes nothing: the conversation stays as it was.
    """

    def __init__(
        self, *, services: AgentServices, graph: CompiledStateGraph[Any, Context, Any, Any] | None
    ) -> None:
        checkpoints = graph.checkpointer if graph is not None else None
        if graph is not None and not isinstance(checkpoints, TenantCheckpointSaver):
            raise TypeError(
                "Conversations are kept by TenantCheckpointSaver (agent.checkpoints.checkpoint_saver)."
            )
        self.services = services
        self.graph = graph
        self._checkpoints = checkpoints if isinstance(checkpoints, TenantCheckpointSaver) else None
        # Turns of one thread waiting in this process queue here rather than poll PostgreSQL's lease.
        self._waiting: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _local_queue(self, thread: str) -> asyncio.Lock:
        lock = self._waiting.get(thread)
        if lock is None:
            lock = self._waiting[thread] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def turn(self, ctx: Context, conversation: str) -> AsyncIterator[None]:
        """Hold the conversation's turn for the block, across processes; the service's calls inside it
        (a read of the pending confirmation, then the message) see no other turn in between."""
        thread = thread_id(ctx, conversation)
        held = _held_turns.get()
        if thread in held:
            yield
            return
        async with (
            self._local_queue(thread),
            turn_lease(self.services.db.statements, tenant_id=ctx.tenant_id, thread_id=thread),
        ):
            token = _held_turns.set(held | {thread})
            try:
                yield
            finally:
                _held_turns.reset(token)

    async def handle_message(self, ctx: Context, conversation: str, text: str) -> AgentReply:
        """Answer one message. A message that is refused changes nothing."""
        text = text.strip()
        if not text:
            return AgentReply.say("I did not get any text. Tell me where and when you need to travel.")
        if len(text) > MAX_MESSAGE_CHARS:
            return AgentReply.say(
                f"That message is {len(text):,} characters long; the limit is {MAX_MESSAGE_CHARS:,}. "
                "Please shorten it or send it in parts."
            )
        if self.graph is None:
            return AgentReply.say(MODEL_NOT_CONFIGURED)
        thread = thread_id(ctx, conversation)
        quotas = self.services.quotas
        try:
            if quotas is not None:
                await quotas.admit_message(
                    tenant_id=ctx.tenant_id, user_id=ctx.user_id, now=self.services.clock()
                )
        except LimitReached as refused:
            return AgentReply.say(refused.message)
        async with self.turn(ctx, conversation), self._opened(ctx, thread) as (turn_ctx, budget, turn):
            pending, history = await self._snapshot(thread)
            try:
                # Reserved before the model is called, so concurrent turns cannot all pass the budget.
                reservation = (
                    await quotas.reserve_tokens(
                        tenant_id=ctx.tenant_id, budget=budget, now=self.services.clock()
                    )
                    if quotas is not None
                    else None
                )
            except LimitReached as refused:
                return AgentReply.say(refused.message)
            before = message_ids(history)
            try:
                if pending is not None and declines(text) and pending.get("requested_by") == str(ctx.user_id):
                    # "cancel" answers the open request itself: it is closed, and nothing is booked.
                    declined: Command[Any] = Command(resume=Decision(approved=False).model_dump(mode="json"))
                    result = await self._invoke(turn_ctx, thread, declined)
                    reply = await self._finish(turn_ctx, turn, result, before)
                    return replace(reply, outcome=last_outcome(turn_ctx.output.outcomes))
                if pending is not None:
                    # The traveller wrote instead of answering: the tool call is answered "not yet" so that
                    # the model sees a well-formed history and the message; the request is reopened after.
                    aside: Command[Any] = Command(
                        resume=Decision(approved=False, superseded=True).model_dump(mode="json")
                    )
                    await self._invoke(turn_ctx, thread, aside)
                    _, history = await self._snapshot(thread)
                # Tagged with its author, so exports and erasures of a shared thread are per person.
                message = HumanMessage(text, additional_kwargs={AUTHOR: str(ctx.user_id)})
                # History is bounded in the checkpoint itself: the oldest messages leave with this turn's input.
                dropped = [RemoveMessage(id=m.id) for m in trimmed([*history, message]) if m.id]
                result = await self._invoke(turn_ctx, thread, {"messages": [*dropped, message]})
                if pending is not None and await self._still_open(turn_ctx, pending, result):
                    # A question while a booking waits: answered, and the same request stays open.
                    answer = result["messages"][-1].text
                    result = await self._reopen(turn_ctx, thread, uuid.UUID(pending["itinerary_id"]))
                    reply = await self._finish(turn_ctx, turn, result, before)
                    return replace(reply, text=answer or "Done.", confirmation=None, markdown=bool(answer))
                reply = await self._finish(turn_ctx, turn, result, before)
            except DomainError:
                raise
            except Exception as error:  # whatever failed, the turn is dropped and the user told so
                return fault_reply(ctx, error)
            finally:
                if quotas is not None and reservation is not None:
                    await quotas.release(reservation)  # the real count was spent by the turn itself
            if pending is not None and reply.error_id is None:
                return replace(reply, lapsed=uuid.UUID(pending["itinerary_id"]))
            return reply

    async def _still_open(self, ctx: Context, pending: dict[str, Any], result: dict[str, Any]) -> bool:
        """Whether the request the traveller wrote past still stands: the model only answered (no new or
        revised draft, no other confirmation asked), and the draft can still be booked."""
        messages = result.get("messages") or []
        last = messages[-1] if messages else None
        answered = isinstance(last, AIMessage) and not last.tool_calls and not last.invalid_tool_calls
        if not answered or result.get("__interrupt__") or ctx.output.cards:
            return False
        return await self._confirmation(ctx, pending) is not None

    async def _reopen(self, ctx: Context, thread: str, itinerary_id: uuid.UUID) -> dict[str, Any]:
        """Ask for the same confirmation again, as the model would (a confirm_booking call), without a model
        call: the tool pauses at once, so the request's buttons keep working."""
        assert self.graph is not None
        again = AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "confirm_booking",
                    "args": {"itinerary_id": str(itinerary_id)},
                    "id": f"call_reopen_{uuid.uuid4().hex[:16]}",
                    "type": "tool_call",
                }
            ],
        )
        await self.graph.aupdate_state(self._config(thread, ctx), {"messages": [again]}, as_node="model")
        return await self._invoke(ctx, thread, None)

    async def resume(
        self, ctx: Context, conversation: str, decision: Decision, *, itinerary_id: uuid.UUID | None = None
    ) -> AgentReply:
        """Carry a yes or no to the pending confirmation. Only its requester may answer; a stale answer is ignored."""
        return await self._answer(ctx, conversation, decision, itinerary_id=itinerary_id)

    async def _answer(
        self,
        ctx: Context,
        conversation: str,
        decision: Decision,
        *,
        itinerary_id: uuid.UUID | None,
    ) -> AgentReply:
        """One answer to the open request, consumed once: it is kept only with the turn it completes."""
        if self.graph is None:
            return AgentReply.say(MODEL_NOT_CONFIGURED)
        thread = thread_id(ctx, conversation)
        async with self.turn(ctx, conversation):
            # Checked before the turn is noted: someone else's click must not make them a participant.
            pending, history = await self._snapshot(thread)
            if pending is None or (
                itinerary_id is not None and pending.get("itinerary_id") != str(itinerary_id)
            ):
                return AgentReply.say(
                    "Nothing is waiting for your confirmation here; it was already answered."
                )
            if pending.get("requested_by") != str(ctx.user_id):
                raise Forbidden("Only the traveller who asked for this booking can confirm or cancel it.")
            answer: Command[Any] = Command(resume=decision.model_dump(mode="json"))
            async with self._opened(ctx, thread) as (turn_ctx, _, turn):
                try:
                    result = await self._invoke(turn_ctx, thread, answer)
                    reply = await self._finish(turn_ctx, turn, result, message_ids(history))
                    return replace(reply, outcome=last_outcome(turn_ctx.output.outcomes))
                except DomainError:
                    raise
                except Exception as error:
                    booked = last_outcome(turn_ctx.output.outcomes)
                    if booked is not None and booked.booked:
                        # The booking was written before the model failed: it stands, and is said so.
                        return await self._booked_without_model(ctx, thread, booked, error)
                    # The answer was not kept: the request is still open, shown again for a fresh answer.
                    failed = fault_reply(ctx, error, booking=decision.approved)
                    if isinstance(error, ConversationMoved):
                        return failed
                    return replace(failed, confirmation=await self._confirmation(ctx, pending))

    async def _booked_without_model(
        self, ctx: Context, thread: str, outcome: DecisionOutcome, error: BaseException
    ) -> AgentReply:
        """The model failed after the booking was written: the conversation records the booking's result
        as the answer (so the request is closed), and the traveller is told the booking stands."""
        error_id = uuid.uuid4().hex[:12]
        log.warning(
            "model fault %s after a booking in tenant %s: %s", error_id, ctx.tenant_id, type(error).__name__
        )
        text = (
            f"{outcome.summary} The booking stands. The AI model could not add anything just now; "
            f"ask me again in a moment if you need more. (error id {error_id})"
        )
        assert self.graph is not None
        async with self._opened(ctx, thread) as (turn_ctx, _, turn):
            snapshot = await self.graph.aget_state(self._config(thread))
            calls = [
                call["id"]
                for message in snapshot.values.get("messages", [])
                if isinstance(message, AIMessage)
                for call in message.tool_calls
                if call["name"] == "confirm_booking" and call["id"]
            ]
            if calls:
                closing = [ToolMessage(outcome.summary, tool_call_id=calls[-1]), AIMessage(text)]
                await self.graph.aupdate_state(
                    self._config(thread, turn_ctx), {"messages": closing}, as_node="model"
                )
                await self._checkpoints_commit(turn_ctx, turn)
        return AgentReply(text=text, error_id=error_id, outcome=outcome)

    async def _checkpoints_commit(self, ctx: Context, turn: ConversationTurn) -> None:
        assert self._checkpoints is not None
        try:
            await self._checkpoints.commit(turn)
        except (ConversationErased, ConversationMoved):
            log.info("a closing note was not kept in tenant %s", ctx.tenant_id)

    async def pending_confirmation(self, ctx: Context, conversation: str) -> ConfirmationRequest | None:
        """The confirmation this conversation is waiting for, if any."""
        if self.graph is None:
            return None
        pending, _ = await self._snapshot(thread_id(ctx, conversation))
        return await self._confirmation(ctx, pending) if pending else None

    @asynccontextmanager
    async def _opened(
        self, ctx: Context, thread: str
    ) -> AsyncIterator[tuple[Context, int, ConversationTurn]]:
        """Open a turn in one round trip: note it (for export and retention), read the traveller's facts and
        the thread's checkpoint. Yields the turn's context, the tenant's daily token budget and the turn's
        view of the checkpoint, which the graph reads and saves into until it is committed."""
        checkpoints = self._checkpoints
        assert checkpoints is not None  # there is a graph whenever a turn opens
        profile, (saved, writes) = await open_turn(
            self.services.db.statements,
            tenant_id=ctx.tenant_id,
            user_id=ctx.user_id,
            thread_id=thread,
            channel=ctx.channel,
            also=checkpoints.latest_statements(thread),
        )
        facts = render_facts(profile, ctx=ctx, now=self.services.clock())
        budget = int(profile.company.get("llm.daily_token_budget") or 0)
        with checkpoints.turn(thread, saved, writes) as turn:
            yield ctx.with_facts(facts), budget, turn

    @staticmethod
    def _config(thread: str, ctx: Context | None = None) -> RunnableConfig:
        """The run's config; a run that saves a checkpoint names its user, whose erasure removes it."""
        configurable: dict[str, Any] = {"thread_id": thread}
        if ctx is not None:
            configurable["user_id"] = str(ctx.user_id)
        return {"configurable": configurable, "recursion_limit": 25}

    async def _snapshot(self, thread: str) -> tuple[dict[str, Any] | None, list[AnyMessage]]:
        """The pending confirmation of a thread (if any) and its messages, in one read."""
        assert self.graph is not None
        snapshot = await self.graph.aget_state(self._config(thread))
        pending = next(
            (
                i.value
                for i in snapshot.interrupts
                if isinstance(i.value, dict) and i.value.get("kind") == "confirm_booking"
            ),
            None,
        )
        return pending, list(snapshot.values.get("messages", [])) if snapshot.values else []

    async def _confirmation(self, ctx: Context, pending: dict[str, Any]) -> ConfirmationRequest | None:
        try:
            async with self.services.db.tenant(ctx.tenant_id) as session:
                return await confirmation_request(
                    session,
                    ctx=ctx,
                    itinerary_id=uuid.UUID(pending["itinerary_id"]),
                    now=self.services.clock(),
                )
        except DomainError:
            return None

    async def _invoke(self, ctx: Context, thread: str, graph_input: Any) -> dict[str, Any]:
        assert self.graph is not None
        # One checkpoint save per run ("exit"), held by the turn until it is committed.
        result: dict[str, Any] = await self.graph.ainvoke(
            graph_input, self._config(thread, ctx), context=ctx, durability="exit"
        )
        return result

    async def _finish(
        self, ctx: Context, turn: ConversationTurn, result: dict[str, Any], before: set[str]
    ) -> AgentReply:
        """The turn's reply; the turn is committed unless the model's answer could not be used."""
        messages: list[AnyMessage] = list(result.get("messages", []))
        last = messages[-1] if messages else None
        if isinstance(last, AIMessage) and last.invalid_tool_calls and not last.tool_calls:
            error_id = uuid.uuid4().hex[:12]
            log.warning("malformed tool call %s in tenant %s", error_id, ctx.tenant_id)
            return AgentReply(
                text="The AI model sent a request I could not read. Nothing was changed; please "
                f"rephrase and try again. (error id {error_id})",
                error_id=error_id,
            )
        assert self._checkpoints is not None
        try:
            await self._checkpoints.commit(turn)
        except ConversationErased:
            # The user was erased while the model worked; the database refused the turn's checkpoint.
            log.info("a turn outlived its user's erasure in tenant %s; nothing was kept", ctx.tenant_id)
            return AgentReply.say("Your data has been erased; this conversation was not kept.")
        await self._count_tokens(ctx, result, before)
        return await self._reply(ctx, result, last)

    async def _count_tokens(self, ctx: Context, result: dict[str, Any], before: set[str]) -> None:
        if self.services.quotas is None:
            return
        used = sum(
            m.usage_metadata["total_tokens"]
            for m in result.get("messages", [])
            if isinstance(m, AIMessage) and m.id not in before and m.usage_metadata
        )
        await self.services.quotas.spend_tokens(
            tenant_id=ctx.tenant_id, tokens=used, now=self.services.clock()
        )

    async def _reply(self, ctx: Context, result: dict[str, Any], last: AnyMessage | None) -> AgentReply:
        interrupts = result.get("__interrupt__") or []
        pending = next((i.value for i in interrupts if isinstance(i.value, dict)), None)
        confirmation = await self._confirmation(ctx, pending) if pending else None
        text = last.text if isinstance(last, AIMessage) and pending is None else ""
        if confirmation is not None:
            text = "Please confirm this booking." + (
                " It is out of policy, so a justification is needed."
                if confirmation.needs_justification
                else f" It is out of policy. {confirmation.approval_note}"
                if confirmation.needs_approval or confirmation.approved_later
                else " It is out of policy under a rule that does not let it be booked."
                if confirmation.action == "block" and confirmation.violations
                else ""
            )
        return AgentReply(
            text=text or "Done.",
            markdown=bool(text) and confirmation is None,
            cards=tuple(ctx.output.cards),
            confirmation=confirmation,
            attachments=tuple(ctx.output.attachments),
        )
