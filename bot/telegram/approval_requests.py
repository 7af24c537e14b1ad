"""Approval-chain requests on Telegram: a message with Approve / Reject to whoever must answer a trip now.

A press decides through the same function as `/approvals approve|reject`, so a double click acts once and a
stale button (the step was answered, or moved on after an escalation) answers with a sentence and changes
nothing. The pressed message is edited to show the decision; the traveller is told in their chat; whoever
approves next is asked in turn.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from agent.approval_steps import STALE, StepRequest, answer_button, step_requests
from bot.product import Product
from bot.telegram.identity import TravelCallbackContext
from storage.approval_chain import ApprovalChain
from storage.database import Database
from storage.identities import identities_of
from storage.preferences import tenant_preferences

log = logging.getLogger(__name__)

CHAIN_PATTERN = r"^(ap|rj):[0-9a-f]{32}:(manager|finance|admin)$"
_CHAIN = re.compile(CHAIN_PATTERN)


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


async def send_to_chats(
    db: Database, bot: Bot, *, tenant_id: uuid.UUID, user_id: uuid.UUID, text: str, **extra: object
) -> int:
    """One message to each Telegram chat the person linked; returns how many were sent."""
    async with db.tenant(tenant_id) as session:
        chats = [
            i.chat_id
            for i in await identities_of(session, user_id=user_id)
            if i.channel == "telegram" and i.chat_id
        ]
    sent = 0
    for chat_id in chats:
        try:
            await bot.send_message(int(chat_id), text, **extra)  # type: ignore[arg-type]
            sent += 1
        except TelegramError as error:
            log.warning("could not reach a Telegram chat: %s", type(error).__name__)
    return sent


async def ask_approvers(
    db: Database,
    bot: Bot,
    *,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    itinerary_id: uuid.UUID | None = None,
    escalated_only: bool = False,
) -> int:
    """Put the trip's open step (or every open step) to whoever may answer it; returns the messages sent.

    Called when a trip is booked for approval later and after each answer (for that trip), and by the clock
    for the steps that just escalated (to the admins).
    """
    async with db.tenant(tenant_id) as session:
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        requests = await step_requests(session, chain=chain, now=now, itinerary_id=itinerary_id)
    sent = 0
    for request in requests:
        for approver in request.approvers:
            if escalated_only and approver.role != "admin":
                continue
            sent += await send_to_chats(
                db,
                bot,
                tenant_id=tenant_id,
                user_id=approver.user_id,
                text=request_text(request),
                reply_markup=chain_keyboard(request),
            )
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
            return
        await query.answer(outcome.reply())
        if isinstance(query.message, Message):
            try:
                await query.edit_message_text(
                    f"{query.message.text or ''}\n\n{outcome.decided_line()}", reply_markup=None
                )
            except TelegramError as error:
                log.warning("could not edit an approval request: %s", type(error).__name__)
        if outcome.trip.user_id is not None:
            await send_to_chats(
                db,
                context.bot,
                tenant_id=caller.tenant_id,
                user_id=outcome.trip.user_id,
                text=outcome.notice(),
            )
        if outcome.following:
            await ask_approvers(
                db, context.bot, tenant_id=caller.tenant_id, now=now, itinerary_id=outcome.trip.itinerary_id
            )
