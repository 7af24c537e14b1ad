"""Sending a reminder to a traveller's chat: a Slack DM or a Telegram message, each failure classified.

A transient failure (timeout, rate limit, server error, a bot token being fixed) is retried later with the
reminder left unsent; a permanent one (the user is gone, the bot is blocked, the app was removed) is
recorded and not retried. The console outbox needs no sender: it is written in the claiming transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot, LinkPreviewOptions
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.redaction import install_redaction
from bot.reminder_buttons import slack_reminder_blocks, telegram_reminder_keyboard
from bot.telegram.flood import retry_seconds
from storage.reminder_runs import Recipient
from storage.settings import Settings

log = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0  # seconds; the claim's row lock is held while sending, so a send must end soon

# Slack errors after which the same DM can never succeed: the person or workspace is gone or unreachable.
SLACK_PERMANENT = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "team_access_not_granted",
        "token_revoked",
        "user_disabled",
        "user_not_found",
        "not_installed",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "restricted_action",
    }
)
SLACK_TRANSIENT = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "invalid_auth",
        "not_authed",
    }
)

# (tenant, Slack workspace) -> the bot token to use there, or None when the app is not installed there.
SlackTokenLookup = Callable[[uuid.UUID, str], Awaitable[str | None]]


class DeliveryFailure(Exception):
    """A send that did not reach the traveller. `code` is short and never contains the message."""

    permanent = False

    def __init__(self, code: str, *, retry_after: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after


class TransientFailure(DeliveryFailure):
    """Worth trying again later."""


class PermanentFailure(DeliveryFailure):
    """Will never succeed for this recipient; recorded and not retried."""

    permanent = True


class ReminderSender(Protocol):
    async def send(self, recipient: Recipient, text: str, *, trip: uuid.UUID | None = None) -> None: ...

    async def close(self) -> None: ...


def single_workspace_token(settings: Settings) -> SlackTokenLookup:
    """SLACK_BOT_TOKEN for every workspace (single-workspace mode); OAuth installs plug in their own lookup."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None

    async def lookup(_tenant_id: uuid.UUID, _workspace_id: str) -> str | None:
        return token

    return lookup


class SlackDirectMessages:
    """Reminders as Slack DMs from the app (chat.postMessage to the user's id opens the app's DM)."""

    def __init__(self, *, api_url: str, tokens: SlackTokenLookup, timeout: float = SEND_TIMEOUT) -> None:
        self.tokens = tokens
        self._session = aiohttp.ClientSession()
        self.client = AsyncWebClient(base_url=api_url, session=self._session, timeout=int(max(timeout, 1)))

    async def send(self, recipient: Recipient, text: str, *, trip: uuid.UUID | None = None) -> None:
        """A DM; a trip's reminder carries its buttons (Snooze 1 day, Mute this trip, Show bookings)."""
        token = await self.tokens(recipient.tenant_id, recipient.workspace_id)
        if not token:
            raise PermanentFailure("not_installed")
        try:
            await self.client.chat_postMessage(
                token=token,
                channel=recipient.external_user_id,
                text=text,
                blocks=slack_reminder_blocks(text, trip) if trip is not None else None,
                unfurl_links=False,
            )
        except SlackApiError as error:
            raise slack_failure(error) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            raise TransientFailure(f"slack:{type(error).__name__}") from None

    async def close(self) -> None:
        await self._session.close()


def slack_failure(error: SlackApiError) -> DeliveryFailure:
    status = getattr(error.response, "status_code", 200)
    code = str(error.response.get("error") or f"http_{status}") if error.response is not None else "unknown"
    if status == 429 or status >= 500 or code in SLACK_TRANSIENT:
        retry_after = error.response.headers.get("Retry-After") if error.response is not None else None
        return TransientFailure(f"slack:{code}", retry_after=float(retry_after) if retry_after else None)
    if code in SLACK_PERMANENT:
        return PermanentFailure(f"slack:{code}")
    # Any other refusal is about this request; sending it again would be refused again.
    return PermanentFailure(f"slack:{code}")


class TelegramChats:
    """Reminders as Telegram messages to the chat the traveller linked from."""

    def __init__(self, *, token: str, api_url: str, timeout: float = SEND_TIMEOUT) -> None:
        request = HTTPXRequest(
            connection_pool_size=64, read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout
        )
        self.bot = Bot(token, base_url=f"{api_url.rstrip('/')}/bot", request=request)
        self._ready = asyncio.Lock()
        self._initialized = False

    async def _ready_bot(self) -> Bot:
        async with self._ready:
            if not self._initialized:
                await self.bot.initialize()  # getMe once; a failure here is transient like any other
                self._initialized = True
        return self.bot

    async def ready(self) -> Bot:
        """The initialised bot, for other messages of the worker (approval requests)."""
        return await self._ready_bot()

    async def send(self, recipient: Recipient, text: str, *, trip: uuid.UUID | None = None) -> None:
        """A message; a trip's reminder carries its inline keyboard (Snooze 1 day, Mute this trip, Show bookings)."""
        if not recipient.chat_id:
            raise PermanentFailure("telegram:no_chat")
        try:
            bot = await self._ready_bot()
            await bot.send_message(
                int(recipient.chat_id),
                text,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=telegram_reminder_keyboard(trip) if trip is not None else None,
            )
        except TelegramError as error:
            raise telegram_failure(error) from None

    async def close(self) -> None:
        if self._initialized:
            await self.bot.shutdown()


def telegram_failure(error: TelegramError) -> DeliveryFailure:
    if isinstance(error, RetryAfter):
        return TransientFailure("telegram:retry_after", retry_after=retry_seconds(error))
    if isinstance(error, Forbidden):  # blocked by the user, kicked, or the user is deactivated
        return PermanentFailure("telegram:forbidden")
    if isinstance(error, ChatMigrated):
        return PermanentFailure("telegram:chat_migrated")
    if isinstance(error, BadRequest):  # chat not found, text refused: it would be refused again
        return PermanentFailure("telegram:bad_request")
    return TransientFailure(f"telegram:{type(error).__name__}")


class ReminderChannels:
    """The platforms this worker can reach, each with its sender."""

    def __init__(self, senders: dict[str, ReminderSender]) -> None:
        self.senders = senders

    @property
    def reachable(self) -> tuple[str, ...]:
        return tuple(self.senders)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, slack_tokens: SlackTokenLookup | None = None
    ) -> ReminderChannels:
        """Slack when a token source exists (OAuth lookup or SLACK_BOT_TOKEN), Telegram when its token is set."""
        senders: dict[str, ReminderSender] = {}
        if slack_tokens is not None or settings.slack_bot_token is not None:
            senders["slack"] = SlackDirectMessages(
                api_url=settings.slack_api_url, tokens=slack_tokens or single_workspace_token(settings)
            )
        if settings.telegram_bot_token is not None:
            token = settings.telegram_bot_token.get_secret_value()
            install_redaction([token])
            senders["telegram"] = TelegramChats(token=token, api_url=settings.telegram_api_url)
        return cls(senders)

    async def send(self, recipient: Recipient, text: str, *, trip: uuid.UUID | None = None) -> None:
        sender = self.senders.get(recipient.channel)
        if sender is None:
            raise TransientFailure(f"{recipient.channel}:not_configured")
        try:
            await asyncio.wait_for(sender.send(recipient, text, trip=trip), SEND_TIMEOUT + 2)
        except TimeoutError:
            raise TransientFailure(f"{recipient.channel}:timeout") from None

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()
