"""Presses of a reminder's buttons on Telegram: Snooze 1 day, Mute this trip, Show bookings."""

from __future__ import annotations

from telegram import Update

from agent.reminder_presses import press_reminder_button
from bot.product import Product
from bot.reminder_buttons import telegram_press
from bot.telegram.delivery import ChatTarget, send_text
from bot.telegram.identity import TravelCallbackContext


class ReminderPresses:
    """The press answers at once; the result is said in the chat (a second press changes nothing)."""

    def __init__(self, product: Product) -> None:
        self.product = product

    async def on_press(self, update: Update, context: TravelCallbackContext) -> None:
        query = update.callback_query
        if query is None:
            return
        press = telegram_press(query.data)
        if press is None or query.message is None:
            await query.answer()
            return
        await query.answer()
        ctx = context.require_traveller()
        action, trip = press
        where = f"telegram:{query.message.chat.id}:{query.message.message_id}"
        said = await press_reminder_button(
            self.product.conversation.services, ctx=ctx, trip=trip, action=action, message=where
        )
        await send_text(context.bot, ChatTarget(query.message.chat.id), said)
