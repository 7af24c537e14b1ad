"""Messages and commands from linked travellers: one conversation per private chat, replies in Telegram HTML.

In a group, personal answers go to the sender's private chat (bot.telegram.privately)."""

from __future__ import annotations

import logging
import uuid

from telegram import Update
from telegram.error import TelegramError

from bot.product import Product
from bot.telegram.addressing import (
    addresses_bot,
    command_for_bot,
    is_private,
    without_mention,
)
from bot.telegram.confirmations import Confirmations
from bot.telegram.delivery import ChatTarget, send_reply, typing
from bot.telegram.identity import TravelCallbackContext
from bot.telegram.privately import answered_privately, command_name, in_private_chat
from storage.errors import DomainError

log = logging.getLogger(__name__)

COMMAND_TYPING_AFTER = 0.5  # seconds; commands are usually quicker, a /spend chart may not be


class TravelChat:
    """Free text goes to the conversation service, commands to the shared command runner."""

    def __init__(self, product: Product, confirmations: Confirmations) -> None:
        self.product = product
        self.confirmations = confirmations

    async def on_text(self, update: Update, context: TravelCallbackContext) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        if not (is_private(message) or addresses_bot(update, context.bot)):
            return  # group chatter not meant for the bot
        ctx = context.require_traveller()
        text = without_mention(message, context.bot)
        if await self.confirmations.take_justification(update, context, ctx, text):
            return
        sender = message.from_user.id

        async def answer(target: ChatTarget) -> None:
            # The conversation is the chat the answer goes to: in a group, the sender's private chat.
            async with typing(context.bot, target):
                reply = await self.product.conversation.handle_message(ctx, str(target.chat_id), text)
            await self.confirmations.deliver(context, ctx, target, reply, sender)

        if answered_privately(message):
            await in_private_chat(context.bot, message, answer)
        else:
            await answer(ChatTarget.of(message))

    async def on_command(self, update: Update, context: TravelCallbackContext) -> None:
        """/help, /trips, /drafts, /bookings, /spend, /prefs (and /prefs set for admins), /me, unknown ones."""
        message = update.message
        if message is None or message.from_user is None or not message.text:
            return
        if not command_for_bot(message, context.bot):
            return  # `/cmd@otherbot` in a group
        ctx = context.require_traveller()
        text, sender = message.text, message.from_user.id

        async def answer(target: ChatTarget) -> None:
            async with typing(context.bot, target, after=COMMAND_TYPING_AFTER):
                reply = await self.product.commands.run(ctx, text)
            await send_reply(context.bot, target, reply, requester_telegram_id=sender)

        if answered_privately(message, command=command_name(text)):
            await in_private_chat(context.bot, message, answer)
        else:
            await answer(ChatTarget.of(message))


class ErrorReporter:
    """PTB's error handler: log first (with an error id), then tell the user in one sentence."""

    async def __call__(self, update: object, context: TravelCallbackContext) -> None:
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        if isinstance(error, DomainError):
            log.info("telegram update %s refused: %s", update_id, error.kind)
            text = error.message
        else:
            error_id = uuid.uuid4().hex[:12]
            log.error("telegram update %s failed, error id %s", update_id, error_id, exc_info=error)
            text = (
                f"Sorry, something went wrong on my side (error id {error_id}). Please try again in a moment."
            )
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        try:
            await context.bot.send_message(update.effective_chat.id, text)
        except TelegramError as send_error:
            log.warning("could not tell chat %s about error: %s", update.effective_chat.id, send_error)
