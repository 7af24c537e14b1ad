"""Forwarded confirmations on Telegram: a PDF, .txt or .eml document is read and given to the agent."""

from __future__ import annotations

import logging
import re

from telegram import Bot, Message, Update
from telegram.error import TelegramError

from agent.forwarded import ForwardedFile, confirmation_text, forwarded_message, too_large
from bot.product import Product
from bot.telegram.addressing import is_private, replies_to_bot
from bot.telegram.confirmations import Confirmations
from bot.telegram.delivery import ChatTarget, send_text, typing
from bot.telegram.identity import TravelCallbackContext
from bot.telegram.privately import answered_privately, in_private_chat
from storage.errors import InvalidInput

log = logging.getLogger(__name__)

PHOTO = (
    "I cannot read text from pictures yet. To record a booking, forward the confirmation as a PDF or an e-mail "
    "(.eml) file, or paste its text: the booking code, the date, and the price."
)
NOT_TEXT = (
    "I can read text messages and forwarded booking confirmations (PDF, .txt or .eml files). Tell me about "
    "your trip in words, or send /help."
)
UNREACHABLE = "I could not fetch that file from Telegram just now; please send it again in a moment."


def addressed(message: Message, bot: Bot) -> bool:
    """A file for the bot: any in a private chat; in a group, a reply to the bot or a caption naming it."""
    if is_private(message) or replies_to_bot(message, bot):
        return True
    return bool(bot.username) and f"@{bot.username}".lower() in (message.caption or "").lower()


class ForwardedDocuments:
    """Documents become a conversation turn; pictures and other media get one useful sentence."""

    def __init__(self, product: Product, confirmations: Confirmations) -> None:
        self.product = product
        self.confirmations = confirmations

    async def on_document(self, update: Update, context: TravelCallbackContext) -> None:
        message = update.message
        if message is None or message.from_user is None or message.document is None:
            return
        if not addressed(message, context.bot):
            return
        ctx = context.require_traveller()
        target = ChatTarget.of(message)
        document = message.document
        name = document.file_name or "That file"
        refused = too_large(name, document.file_size or 0)
        if refused:
            await send_text(context.bot, target, refused)
            return
        try:
            file = await context.bot.get_file(document.file_id)
            content = bytes(await file.download_as_bytearray())
        except TelegramError as error:
            log.warning("could not download a document: %s", error)
            await send_text(context.bot, target, UNREACHABLE)
            return
        forwarded = ForwardedFile(name, content, document.mime_type or "")
        try:
            text = confirmation_text(forwarded)
        except InvalidInput as unreadable:
            await send_text(context.bot, target, unreadable.message)
            return
        caption = message.caption or ""
        if context.bot.username:
            caption = re.sub(rf"@{re.escape(context.bot.username)}\b", " ", caption, flags=re.IGNORECASE)
        sender = message.from_user.id

        async def answer(to: ChatTarget) -> None:
            async with typing(context.bot, to):
                reply = await self.product.conversation.handle_message(
                    ctx, str(to.chat_id), forwarded_message(forwarded, text, caption)
                )
            await self.confirmations.deliver(context, ctx, to, reply, sender)

        if answered_privately(message):
            await in_private_chat(context.bot, message, answer)
        else:
            await answer(target)

    async def on_other(self, update: Update, context: TravelCallbackContext) -> None:
        """Photos, stickers, voice: said once, clearly, in private chats or when addressed."""
        message = update.message
        if message is None or not (is_private(message) or replies_to_bot(message, context.bot)):
            return
        await send_text(context.bot, ChatTarget.of(message), PHOTO if message.photo else NOT_TEXT)
