"""A document captioned "policy" in a private chat: an admin's becomes the company's travel-policy document.

Every other document is a forwarded booking confirmation (bot.telegram.documents).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import filters

from agent.library_commands import POLICY_CAPTION, policy_upload, require_policy_admin
from bot.product import Product
from bot.telegram.addressing import is_private
from bot.telegram.delivery import ChatTarget, send_text, typing
from bot.telegram.identity import TravelCallbackContext
from storage.errors import InvalidInput

log = logging.getLogger(__name__)

BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API hands bots files of at most 20 MB
POLICY_DOCUMENT = filters.Document.ALL & filters.CaptionRegex(POLICY_CAPTION)


class PolicyUploads:
    """Documents in private chats; the error handler tells refusals (DomainError) in one sentence."""

    def __init__(self, product: Product) -> None:
        self.product = product

    async def on_document(self, update: Update, context: TravelCallbackContext) -> None:
        message = update.message
        if message is None or message.document is None or not is_private(message):
            return
        ctx = context.require_traveller()
        require_policy_admin(ctx)
        document = message.document
        name = document.file_name or "policy"
        size = document.file_size or 0
        target = ChatTarget.of(message)

        async def fetch() -> bytes:
            if size > BOT_DOWNLOAD_LIMIT:
                raise InvalidInput(f"{name} is too large for Telegram to hand to me; send a smaller file.")
            try:
                found = await context.bot.get_file(document.file_id)
                return bytes(await found.download_as_bytearray())
            except TelegramError as error:
                log.warning("telegram document download failed: %s", error.message)
                raise InvalidInput(
                    "I could not download that file from Telegram. Please send it again."
                ) from None

        async with typing(context.bot, target):
            reply = await policy_upload(
                self.product.commands.library, ctx, filename=name, size=size, fetch=fetch
            )
        await send_text(context.bot, target, reply.text)
