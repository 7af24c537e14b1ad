"""Linking a Telegram account with a one-time invite (/start CODE, t.me/<bot>?start=CODE) and /unlink."""

from __future__ import annotations

import datetime as dt
import logging

from telegram import Update

from agent.commands import help_text
from bot.product import Product
from bot.telegram.delivery import ChatTarget, send_html, send_text
from bot.telegram.identity import CHANNEL, TravelCallbackContext, traveller_context
from bot.telegram.rendering import escape, text_lines
from storage.audit import Actor
from storage.errors import InvalidInput
from storage.identities import redeem_invite
from storage.telegram_links import unlink_telegram_account
from storage.tenants import get_tenant

log = logging.getLogger(__name__)

ALREADY_LINKED = (
    "This Telegram account is already linked to your travel profile. "
    "Send /unlink first if you want to link it to another one."
)
PRIVATE_ONLY = "Invite codes are personal: send /start CODE to me in a private chat, not in a group."


class Linking:
    """/start with a code links (once, before it expires); /start alone greets; /unlink removes the link."""

    def __init__(self, product: Product) -> None:
        self.product = product

    async def on_start(self, update: Update, context: TravelCallbackContext) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        target = ChatTarget.of(message)
        code = context.args[0] if context.args else ""
        if context.traveller is not None:
            if code:
                await send_text(context.bot, target, ALREADY_LINKED)
            else:
                await send_text(context.bot, target, help_text(context.traveller))
            return
        # An unlinked account only gets here with a code: the identity hook answered a bare /start.
        if message.chat.type != "private":
            await send_text(context.bot, target, PRIVATE_ONLY)
            return
        try:
            identity = await redeem_invite(
                self.product.db,
                code=code,
                channel=CHANNEL,
                workspace_id="",
                external_user_id=str(message.from_user.id),
                chat_id=str(message.chat.id),
                now=dt.datetime.now(dt.UTC),
            )
        except InvalidInput as refused:
            log.info("telegram invite refused for update %s", update.update_id)
            await send_text(context.bot, target, refused.message)
            return
        ctx = await traveller_context(self.product.db, identity)
        async with self.product.db.tenant(identity.tenant_id) as session:
            company = (await get_tenant(session)).name
        log.info("telegram account linked in tenant %s", identity.tenant_id)
        name = ctx.display_name if ctx else message.from_user.first_name
        lines = [
            f"Welcome, <b>{escape(name)}</b>! This Telegram account is now linked to {escape(company)}.",
            "",
        ]
        if ctx is not None:
            lines += text_lines(help_text(ctx))
        await send_html(context.bot, target, lines)

    async def on_unlink(self, update: Update, context: TravelCallbackContext) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        ctx = context.require_traveller()
        async with self.product.db.tenant(ctx.tenant_id) as session:
            removed = await unlink_telegram_account(
                session, actor=Actor.user(ctx.user_id), telegram_user_id=str(message.from_user.id)
            )
        await send_text(
            context.bot,
            ChatTarget.of(message),
            "This Telegram account is no longer linked to your travel profile. Ask your travel admin for a "
            "new invite to link it again."
            if removed
            else "This Telegram account was not linked.",
        )
