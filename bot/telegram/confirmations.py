"""Confirm / Cancel presses and out-of-policy justifications, carried to the paused booking."""

from __future__ import annotations

import logging
import uuid
from zoneinfo import ZoneInfo

from telegram import CallbackQuery, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from agent.context import Context
from agent.conversation import thread_id
from agent.justifications import ASK_AGAIN, justification_decision
from agent.replies import AgentReply, DecisionOutcome
from agent.tools import Decision
from bot.product import Product
from bot.telegram.approval_requests import ask_approvers
from bot.telegram.delivery import ChatTarget, send_reply, send_text, settle_requests, typing
from bot.telegram.identity import TravelCallbackContext
from bot.telegram.keyboards import ConfirmationPress, justification_prompt
from bot.telegram.rendering import mention
from storage.awaited_justifications import ask_justification, awaited_justification, take_justification
from storage.telegram_requests import record_request

log = logging.getLogger(__name__)

NOT_YOURS = "Only the traveller who asked for this booking can confirm or cancel it."
ALREADY_ANSWERED = "This booking was already answered."
LAPSED = "⌛ This request lapsed because the conversation moved on; nothing was booked."


async def remove_keyboard(query: CallbackQuery) -> None:
    """Take the buttons off the message; a second removal ("message is not modified") is harmless."""
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as error:
        log.debug("keyboard already removed: %s", error)


class Confirmations:
    """Only the requester's press counts; the keyboard goes after use; a second press books nothing."""

    def __init__(self, product: Product) -> None:
        self.product = product

    async def on_press(self, update: Update, context: TravelCallbackContext) -> None:
        query = update.callback_query
        if query is None:
            return
        press = ConfirmationPress.parse(query.data)
        if press is None or query.message is None:
            await query.answer()
            return
        if query.from_user.id != press.requester_telegram_id:
            await query.answer(NOT_YOURS, show_alert=True)
            return
        ctx = context.require_traveller()
        chat_id = query.message.chat.id
        conversation = str(chat_id)
        pending = await self.product.conversation.pending_confirmation(ctx, conversation)
        if pending is None or pending.itinerary_id != press.itinerary_id:
            await query.answer(ALREADY_ANSWERED)
            await remove_keyboard(query)
            return
        await remove_keyboard(query)
        target = ChatTarget(chat_id)
        if press.approved and pending.needs_justification:
            await query.answer()
            prompt = await context.bot.send_message(
                chat_id,
                f"{mention(ctx.display_name or query.from_user.full_name, query.from_user.id)}, this trip is "
                "out of policy. <b>Reply with a short justification</b> to book it, or reply "
                "<code>cancel</code>.",
                parse_mode=ParseMode.HTML,
                reply_markup=justification_prompt(),
            )
            # Kept in PostgreSQL: the justification may reach another replica, or this one after a restart.
            async with self.product.db.tenant(ctx.tenant_id) as session:
                await ask_justification(
                    session,
                    thread_id=thread_id(ctx, conversation),
                    user_id=ctx.user_id,
                    itinerary_id=press.itinerary_id,
                    prompt_message_id=prompt.message_id,
                )
            return
        await query.answer(
            "Cancelled."
            if not press.approved
            else "Sending for approval…"
            if pending.needs_approval
            else "Booking…"
        )
        await self._resume(
            context,
            ctx,
            target,
            Decision(approved=press.approved),
            press.itinerary_id,
            query.from_user.id,
            pressed=(chat_id, query.message.message_id),
        )

    async def take_justification(
        self, update: Update, context: TravelCallbackContext, ctx: Context, text: str
    ) -> bool:
        """If this message answers a justification prompt, carry it to the booking; True when it did."""
        message = update.message
        if message is None or message.from_user is None:
            return False
        thread = thread_id(ctx, str(message.chat.id))
        async with self.product.db.tenant(ctx.tenant_id) as session:
            awaited = await awaited_justification(session, thread_id=thread, user_id=ctx.user_id)
        if awaited is None:
            return False
        replied = message.reply_to_message
        if message.chat.type != "private" and (
            replied is None or replied.message_id != awaited.prompt_message_id
        ):
            return False  # in groups only a reply to the prompt is the justification
        target = ChatTarget.of(message)
        decision = justification_decision(text)
        if decision is None:
            await send_text(context.bot, target, ASK_AGAIN)
            return True
        async with self.product.db.tenant(ctx.tenant_id) as session:
            taken = await take_justification(
                session, thread_id=thread, user_id=ctx.user_id, itinerary_id=awaited.itinerary_id
            )
        if not taken:
            return True  # answered a moment ago through another message
        await self._resume(context, ctx, target, decision, awaited.itinerary_id, message.from_user.id)
        return True

    async def _resume(
        self,
        context: TravelCallbackContext,
        ctx: Context,
        target: ChatTarget,
        decision: Decision,
        itinerary_id: uuid.UUID,
        telegram_user_id: int,
        *,
        pressed: tuple[int, int] | None = None,
    ) -> None:
        async with typing(context.bot, target):
            reply = await self.product.conversation.resume(
                ctx, str(target.chat_id), decision, itinerary_id=itinerary_id
            )
        await self.deliver(context, ctx, target, reply, telegram_user_id, pressed=pressed)
        # A trip sent for approval, or booked now for approval later, is put to its first approver at once.
        await ask_approvers(
            self.product.db,
            context.bot,
            tenant_id=ctx.tenant_id,
            now=self.product.conversation.services.clock(),
            itinerary_id=itinerary_id,
        )

    async def deliver(
        self,
        context: TravelCallbackContext,
        ctx: Context,
        target: ChatTarget,
        reply: AgentReply,
        sender: int,
        *,
        pressed: tuple[int, int] | None = None,
    ) -> None:
        """Send a turn's reply: a request it let lapse, or decided (by a press or a typed "cancel"), is
        rewritten to say so, and a new request message is recorded for its own rewrite later."""
        db, bot = self.product.db, context.bot
        if reply.lapsed is not None:
            await settle_requests(db, bot, tenant_id=ctx.tenant_id, itinerary_id=reply.lapsed, line=LAPSED)
        if reply.outcome is not None:
            line = self.decision_line(ctx, reply.outcome)
            await settle_requests(
                db,
                bot,
                tenant_id=ctx.tenant_id,
                itinerary_id=reply.outcome.itinerary_id,
                line=line,
                also=pressed,
            )
        asked = await send_reply(context.bot, target, reply, requester_telegram_id=sender)
        if asked is not None and reply.confirmation is not None:
            async with self.product.db.tenant(ctx.tenant_id) as session:
                await record_request(
                    session,
                    chat_id=asked.chat.id,
                    message_id=asked.message_id,
                    itinerary_id=reply.confirmation.itinerary_id,
                )

    def decision_line(self, ctx: Context, outcome: DecisionOutcome) -> str:
        """ "✅ Booked by Alex at 14:02", in the traveller's time zone."""
        now = self.product.conversation.services.clock().astimezone(ZoneInfo(ctx.timezone))
        icon = "✅" if outcome.booked else "⏳" if outcome.held else "✖️"
        return f"{icon} {outcome.verb} by {ctx.display_name or 'the traveller'} at {now:%H:%M}"
