"""Who is talking: a group -1 hook turns the Telegram user into a verified tenant user, or stops the update."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext, ExtBot

from agent.context import Channel, Context, user_context
from bot.telegram.addressing import addresses_bot
from storage.database import Database
from storage.errors import NotFound
from storage.identities import Identity, resolve_identity
from storage.tenants import get_user

log = logging.getLogger(__name__)

CHANNEL: Channel = "telegram"


class TravelCallbackContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's callback context plus the verified traveller of this update (None until resolved)."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self.traveller: Context | None = None

    def require_traveller(self) -> Context:
        """The verified traveller; handlers only run after the identity hook let the update through."""
        if self.traveller is None:
            raise NotFound("This Telegram account is not linked to a travel profile yet.")
        return self.traveller


def linking_instructions(bot_username: str | None) -> str:
    link = f"t.me/{bot_username}?start=CODE" if bot_username else "the invite link"
    return (
        "Hello! I am your company's travel assistant, but I don't know who you are yet.\n"
        "Ask your travel admin for a Telegram invite, then open the link they send you "
        f"({link}) or send me <code>/start CODE</code> here in a private chat."
    )


async def traveller_context(db: Database, identity: Identity) -> Context | None:
    """The Context of a linked account, from the user row (role, time zone, locale); None if it is gone."""
    async with db.tenant(identity.tenant_id) as session:
        try:
            user = await get_user(session, user_id=identity.user_id)
        except NotFound:
            return None
    return user_context(user, channel=CHANNEL)


def is_start_with_code(update: Update) -> bool:
    """`/start CODE` (what a t.me/<bot>?start=CODE link sends) is the one thing an unknown user may say."""
    message = update.message
    if message is None or not message.text:
        return False
    words = message.text.split()
    return len(words) == 2 and words[0].split("@", 1)[0].lower() == "/start"


class IdentityHook:
    """Runs before every handler (group -1). Unlinked users get the linking instructions and nothing else."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def __call__(self, update: Update, context: TravelCallbackContext) -> None:
        user = update.effective_user
        if user is None or user.is_bot:
            raise ApplicationHandlerStop
        identity = await resolve_identity(
            self.db, channel=CHANNEL, workspace_id="", external_user_id=str(user.id)
        )
        if identity is not None:
            context.traveller = await traveller_context(self.db, identity)
        if context.traveller is not None or is_start_with_code(update):
            return
        log.info("telegram update %s from an unlinked account", update.update_id)
        if addresses_bot(update, context.bot):
            await self._instruct(update, context)
        raise ApplicationHandlerStop

    async def _instruct(self, update: Update, context: TravelCallbackContext) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer(
                "Link your Telegram account first: open a private chat with me and send /start.",
                show_alert=True,
            )
            return
        chat = update.effective_chat
        if chat is not None:
            await context.bot.send_message(
                chat.id, linking_instructions(context.bot.username), parse_mode=ParseMode.HTML
            )
