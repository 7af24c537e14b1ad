"""`/travelmate`: the shared slash commands, plus Slack's own (policy, admins, invite telegram).

Role checks are made here in code against the caller's role from the database; the shared
CommandRunner makes its own for what it covers (prefs set / unset).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from agent.commands import COMMANDS, split_command
from agent.context import Context
from agent.replies import AgentReply
from bot.slack.blocks import reply_messages, text_blocks
from bot.slack.channel import SlackChannel
from bot.slack.faults import reported_errors
from bot.slack.handlers import NOT_CONNECTED, acknowledge
from bot.slack.identity import CALLER, CallerResolver
from bot.slack.policy_summary import policy_lines
from storage.audit import Actor
from storage.errors import Forbidden, InvalidInput
from storage.identities import INVITE_TTL, create_invite
from storage.preferences import tenant_preferences
from storage.tenants import list_users, set_role

COMMAND = "/travelmate"
PREFIX = f"{COMMAND} "
_SLACK_ONLY = (
    ("policy", "the company's travel policy in plain words", False),
    ("admins", "who the company's admins are", False),
    ("admins add @user", "make someone an admin", True),
    ("admins remove @user", "make an admin a traveller again", True),
    ("invite telegram", "a one-time code to use TravelMate in Telegram too", False),
    ("invite telegram @user", "a one-time Telegram code for someone else", True),
)
_MENTION = re.compile(r"<@([A-Z0-9]{2,32})(?:\|[^>]*)?>")
_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def help_text() -> str:
    """Every subcommand, admin-only ones marked; shown to everyone so nobody has to guess (escaped later)."""
    lines = ["*/travelmate* — tell me about a trip in a DM, or use a command:"]
    entries = [(c.usage.removeprefix("/"), c.summary, c.admin_only) for c in COMMANDS if c.name != "help"]
    entries[0:0] = [("help", "this list", False)]
    for usage, summary, admin_only in [*entries, *_SLACK_ONLY]:
        lines.append(f"• `{PREFIX}{usage}` — {summary}{' _(admins)_' if admin_only else ''}")
    return "\n".join(lines)


def mentioned_user(text: str) -> str | None:
    found = _MENTION.search(text)
    return found.group(1) if found else None


class SlackCommands:
    """Runs one /travelmate command for a verified caller and returns the reply."""

    def __init__(self, channel: SlackChannel) -> None:
        self.channel = channel
        self.resolver = CallerResolver(channel.product.db, channel.tenants)

    async def run(
        self, caller: Context, text: str, *, client: AsyncWebClient, context: AsyncBoltContext
    ) -> AgentReply:
        text = text.translate(_QUOTES).strip()
        name, rest = split_command(text)
        if name in ("", "help"):
            return AgentReply.say(help_text())
        if name == "policy":
            return await self.policy(caller)
        if name == "admins":
            return await self.admins(caller, rest, client=client, context=context)
        if name == "invite":
            return await self.invite(caller, rest, client=client, context=context)
        return await self.channel.product.commands.run(caller, "/" + text, prefix=PREFIX)

    async def policy(self, caller: Context) -> AgentReply:
        async with self.channel.product.db.tenant(caller.tenant_id) as session:
            preferences = await tenant_preferences(session)
        return AgentReply.say(
            "Your company's travel policy:\n" + "\n".join(f"• {line}" for line in policy_lines(preferences))
        )

    async def _target(self, text: str, *, client: AsyncWebClient, context: AsyncBoltContext) -> Context:
        slack_user = mentioned_user(text)
        if slack_user is None:
            raise InvalidInput("Mention the person with @, e.g. /travelmate admins add @maria.")
        target = await self.resolver.resolve(client, context, slack_user)
        if target is None:
            raise InvalidInput(
                "That Slack account cannot use TravelMate (is it a bot, or from another workspace?)."
            )
        return target

    async def admins(
        self, caller: Context, rest: str, *, client: AsyncWebClient, context: AsyncBoltContext
    ) -> AgentReply:
        action, _, argument = rest.partition(" ")
        action = action.lower()
        db = self.channel.product.db
        if not action:
            async with db.tenant(caller.tenant_id) as session:
                admins = await list_users(session, role="admin")
            return AgentReply.say(
                "Admins: " + (", ".join(a.display_name for a in admins) or "nobody yet") + "."
            )
        if action not in ("add", "remove"):
            raise InvalidInput("Use /travelmate admins, admins add @user or admins remove @user.")
        if not caller.is_admin:
            raise Forbidden("Only an admin of your company can change who the admins are.")
        target = await self._target(argument, client=client, context=context)
        async with db.tenant(caller.tenant_id) as session:
            user = await set_role(
                session,
                actor=Actor.user(caller.user_id),
                user_id=target.user_id,
                role="admin" if action == "add" else "traveler",
            )
        return AgentReply.say(
            f"{user.display_name} is now {'an admin' if action == 'add' else 'a traveller'}."
        )

    async def invite(
        self, caller: Context, rest: str, *, client: AsyncWebClient, context: AsyncBoltContext
    ) -> AgentReply:
        platform, _, argument = rest.partition(" ")
        if platform.lower() != "telegram":
            raise InvalidInput(
                "Use /travelmate invite telegram, or /travelmate invite telegram @user (admins)."
            )
        target = caller
        if argument.strip():
            if not caller.is_admin:
                raise Forbidden(
                    "Only an admin can invite someone else; /travelmate invite telegram invites you."
                )
            target = await self._target(argument, client=client, context=context)
        async with self.channel.product.db.tenant(caller.tenant_id) as session:
            code = await create_invite(
                session, actor=Actor.user(caller.user_id), user_id=target.user_id, now=self.channel.now()
            )
        bot = self.channel.options.telegram_bot_username
        how = (
            f"open https://t.me/{bot.lstrip('@')}?start={code}"
            if bot
            else f"send /start {code} to the TravelMate bot in Telegram"
        )
        who = "you" if target.user_id == caller.user_id else target.display_name
        return AgentReply.say(
            f"A one-time Telegram code for {who}: {how}. It works once and expires in {INVITE_TTL.days} days."
        )


def register_commands(app: AsyncApp, channel: SlackChannel) -> None:
    commands = SlackCommands(channel)

    async def run_command(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        caller: Context | None = context.get(CALLER)

        async def tell(text: str) -> None:
            await respond(
                text=text, blocks=text_blocks(text), response_type="ephemeral", replace_original=False
            )

        async with reported_errors(tell, what="command", caller=caller):
            if caller is None:
                await tell(NOT_CONNECTED)
                return
            reply = await commands.run(caller, body.get("text") or "", client=client, context=context)
            for message in reply_messages(reply, conversation=""):
                await respond(
                    text=message.text,
                    blocks=message.blocks,
                    response_type="ephemeral",
                    replace_original=False,
                )
            if reply.attachments:
                dm = await client.conversations_open(users=body["user_id"])
                for attachment in reply.attachments:
                    await client.files_upload_v2(
                        channel=dm["channel"]["id"],
                        file=attachment.content,
                        filename=attachment.filename,
                        title=attachment.title,
                    )

    app.command(COMMAND)(ack=acknowledge, lazy=[run_command])
