"""Approval-chain requests on Telegram: a message with Approve / Reject to whoever must answer a trip now.

A press decides through the same function as `/approvals approve|reject`, so a double click acts once and a
stale button (the step was answered, or moved on after an escalation) answers with a sentence and changes
nothing. Every request sent for the step is recorded, so once anyone answers, the pressed message and the
other approvers' ones (an escalated step goes to every admin) are all rewritten to the decision, without
buttons; the traveller is told in their chat; whoever approves next is asked in turn.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from agent.approval_steps import (
    STALE,
    ApprovalDecided,
    StepOutcome,
    StepRequest,
    answer_button,
    step_requests,
)
from bot.product import Product
from bot.telegram.delivery import settle_requests
from bot.telegram.identity import TravelCallbackContext
from bot.telegram.rendering import toast
from storage.approval_chain import ApprovalChain
from storage.database import Database
from storage.identities import identities_of
from storage.preferences import tenant_preferences
from storage.telegram_requests import asked_about, live_request_chats, record_request
from storage.trip_approvals import no_longer_waiting, step_waits

log = logging.getLogger(__name__)

CHAIN_PATTERN = r"^(ap|rj):[0-9a-f]{32}:(manager|finance|admin)$"
_CHAIN = re.compile(CHAIN_PATTERN)
CLOSED = "➖ This trip no longer waits for an answer here: it was changed, cancelled or answered elsewhere."


def chain_keyboard(request: StepRequest) -> InlineKeyboardMarkup:
    """Approve / Reject naming the trip and the step they answer (at most 43 bytes of callback data)."""
    tail = f"{request.trip.itinerary_id.hex}:{request.trip.step}"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Approve", callback_data=f"ap:{tail}"),
                InlineKeyboardButton("✖️ Reject", callback_data=f"rj:{tail}"),
            ]
        ]
    )


def request_text(request: StepRequest) -> str:
    reasons = "\n".join(f"• {reason}" for reason in request.trip.reasons) or "• (no reason recorded)"
    return f"{request.sentence()}\nOut of policy:\n{reasons}"


async def _telegram_chats(session: AsyncSession, *, user_id: uuid.UUID) -> list[int]:
    """The private chats the person linked to their account on Telegram."""
    return [
        int(i.chat_id)
        for i in await identities_of(session, user_id=user_id)
        if i.channel == "telegram" and i.chat_id
    ]


async def _send(bot: Bot, chat_id: int, text: str, **extra: object) -> Message | None:
    try:
        return await bot.send_message(chat_id, text, **extra)  # type: ignore[arg-type]
    except TelegramError as error:
        log.warning("could not reach a Telegram chat: %s", type(error).__name__)
        return None


async def send_to_chats(
    db: Database, bot: Bot, *, tenant_id: uuid.UUID, user_id: uuid.UUID, text: str
) -> int:
    """One message to each Telegram chat the person linked; returns how many were sent."""
    async with db.tenant(tenant_id) as session:
        chats = await _telegram_chats(session, user_id=user_id)
    return sum([await _send(bot, chat_id, text) is not None for chat_id in chats])


async def ask_approvers(
    db: Database,
    bot: Bot,
    *,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    itinerary_id: uuid.UUID | None = None,
) -> int:
    """Put the trip's open step (or every open step) to whoever may answer it now and holds no live request
    for it in that chat; returns the messages sent.

    Called when a trip is sent for approval or booked for approval later, after each answer (a decision
    settles every live request of the trip, so the next step's approvers are asked afresh), and by the clock
    (an approver first reached this way, or the admins of a step that escalated). Each request is recorded,
    so that whichever approver answers, every other request of that step is rewritten to the decision.
    """
    async with db.tenant(tenant_id) as session:
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        requests = await step_requests(session, chain=chain, now=now, itinerary_id=itinerary_id)
        asking: list[tuple[StepRequest, int]] = []
        for request in requests:
            live = await live_request_chats(session, itinerary_id=request.trip.itinerary_id)
            for approver in request.approvers:
                chats = await _telegram_chats(session, user_id=approver.user_id)
                asking += [(request, chat_id) for chat_id in chats if chat_id not in live]
    sent = 0
    for request, chat_id in asking:
        message = await _send(bot, chat_id, request_text(request), reply_markup=chain_keyboard(request))
        if message is None:
            continue
        async with db.tenant(tenant_id) as session:
            await record_request(
                session,
                chat_id=chat_id,
                message_id=message.message_id,
                itinerary_id=request.trip.itinerary_id,
                purpose="approval",
            )
        sent += 1
    return sent


class ChainRequests:
    """The presses of the chain's buttons. `clock` is the time answers are decided at (injectable)."""

    def __init__(self, product: Product, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.product = product
        self.clock = clock or product.conversation.services.clock

    async def on_press(self, update: Update, context: TravelCallbackContext) -> None:
        query = update.callback_query
        if query is None or not query.data or not _CHAIN.fullmatch(query.data):
            return
        verb, itinerary, step = query.data.split(":")
        caller = context.require_traveller()
        db, now = self.product.db, self.clock()
        outcome = await answer_button(
            db,
            caller=caller,
            itinerary_id=uuid.UUID(hex=itinerary),
            step=step,
            approved=verb == "ap",
            now=now,
            reminders_scheduled=self.product.commands.reminders_scheduled,
        )
        if outcome is None:
            await query.answer(STALE, show_alert=True)
            await self.close_if_moved_on(
                context.bot, query.message, caller.tenant_id, uuid.UUID(hex=itinerary), step
            )
            return
        try:
            await query.answer(toast(outcome.reply()))
        except TelegramError as error:  # too late to answer the press; the answer stands and is shown below
            log.warning("could not answer an approval press: %s", error)
        # Every request of this step shows the answer, the pressed one and those of the other approvers.
        pressed = query.message
        await show_decision(
            db,
            context.bot,
            tenant_id=caller.tenant_id,
            outcome=outcome,
            now=now,
            also=(pressed.chat.id, pressed.message_id) if pressed is not None else None,
        )
        await self.product.follow_approval(caller.tenant_id, outcome, skip="telegram")

    async def close_if_moved_on(
        self,
        bot: Bot,
        pressed: object,
        tenant_id: uuid.UUID,
        itinerary_id: uuid.UUID,
        step: str,
    ) -> None:
        """A stale press on a live request whose step no longer waits (answered where this process could not
        rewrite it, or Telegram failed to show the answer): it loses its buttons and says so."""
        if not isinstance(pressed, Message) or pressed.reply_markup is None:
            return  # it shows no buttons any more: it already says what became of the trip
        async with self.product.db.tenant(tenant_id) as session:
            if await step_waits(session, itinerary_id=itinerary_id, step=step):
                return  # still that step's (a stranger pressed it): its approver may answer it
        where = (pressed.chat.id, pressed.message_id)
        await settle_requests(
            self.product.db,
            bot,
            tenant_id=tenant_id,
            itinerary_id=itinerary_id,
            line=CLOSED,
            only=where,
        )


async def show_decision(
    db: Database,
    bot: Bot,
    *,
    tenant_id: uuid.UUID,
    outcome: StepOutcome,
    now: dt.datetime,
    also: tuple[int, int] | None = None,
) -> None:
    """After an answer decided a step: every Telegram request of the trip (and `also`) shows the decision,
    the traveller is told in their chats, and whoever approves next is asked."""
    await settle_requests(
        db,
        bot,
        tenant_id=tenant_id,
        itinerary_id=outcome.trip.itinerary_id,
        line=f"{'✅' if outcome.approved else '✖️'} {outcome.decided_line()}",
        also=also,
    )
    if outcome.trip.user_id is not None:
        await send_to_chats(db, bot, tenant_id=tenant_id, user_id=outcome.trip.user_id, text=outcome.notice())
    if outcome.following:
        await ask_approvers(db, bot, tenant_id=tenant_id, now=now, itinerary_id=outcome.trip.itinerary_id)


async def retire_closed_requests(db: Database, bot: Bot, *, tenant_id: uuid.UUID) -> int:
    """Approvers' requests whose trip waits for no approval any more lose their buttons and say so: the
    traveller changed or cancelled the held draft, or the step was answered where this process could not
    rewrite them. Returns how many trips' requests were retired."""
    async with db.tenant(tenant_id) as session:
        retired = await no_longer_waiting(session, itinerary_ids=await asked_about(session))
    for itinerary_id in retired:
        await settle_requests(
            db, bot, tenant_id=tenant_id, itinerary_id=itinerary_id, line=CLOSED, purpose="approval"
        )
    return len(retired)


def decisions_on_telegram(product: Product, bot: Bot) -> ApprovalDecided:
    """Show a step decided elsewhere (in Slack, or typed as /approvals) on Telegram."""

    async def follow(tenant_id: uuid.UUID, outcome: StepOutcome) -> None:
        await show_decision(
            product.db, bot, tenant_id=tenant_id, outcome=outcome, now=product.conversation.services.clock()
        )

    return follow
