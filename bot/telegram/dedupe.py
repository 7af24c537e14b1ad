"""Telegram redelivers an update after a slow or failed webhook answer: each update_id has one effect."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, CallbackContext

from storage.database import Database
from storage.processed_events import first_delivery

log = logging.getLogger(__name__)

SOURCE = "telegram"


class DuplicateUpdates:
    """A group -2 hook, before identity: a repeated update_id stops there."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, update: Update, context: CallbackContext) -> None:
        # update_id counts per bot, so the bot id keeps two bots on one database apart.
        event_id = f"{context.bot.id}:{update.update_id}"
        if not await first_delivery(self.db, source=SOURCE, event_id=event_id):
            log.info("telegram update %s delivered again; ignored", update.update_id)
            raise ApplicationHandlerStop
