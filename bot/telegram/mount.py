"""The Telegram channel in `travelmate serve`: webhook route or polling, handlers, and the command menu."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from agent.commands import COMMANDS
from bot.product import Product
from bot.redaction import install_redaction
from bot.reminder_buttons import TELEGRAM_PATTERN
from bot.runtime import SetupError
from bot.server import ChannelMount
from bot.telegram.approval_requests import CHAIN_PATTERN, ChainRequests, decisions_on_telegram
from bot.telegram.confirmations import Confirmations
from bot.telegram.dedupe import DuplicateUpdates
from bot.telegram.documents import ForwardedDocuments
from bot.telegram.handlers import ErrorReporter, TravelChat
from bot.telegram.identity import IdentityHook, TravelCallbackContext
from bot.telegram.keyboards import CALLBACK_PATTERN
from bot.telegram.linking import Linking
from bot.telegram.ordering import ChatOrderedUpdates
from bot.telegram.policy_upload import POLICY_DOCUMENT, PolicyUploads
from bot.telegram.reminders import ReminderPresses

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)
ALLOWED_UPDATES = ["message", "callback_query"]

_FAMILIES = {
    "me": "your profile; /me set KEY VALUE changes your own preference",
    "privacy": "your data: /privacy export, or /privacy forget-me to erase it",
}


def command_menu() -> list[BotCommand]:
    """setMyCommands: every command the shared runner knows, once under its first word, and our own two."""
    described: dict[str, str] = {}
    for command in COMMANDS:
        first = command.name.split()[0]
        if command.name == first or first not in described:
            described[first] = (
                command.summary if command.name == first else _FAMILIES.get(first, command.summary)
            )
    return [
        BotCommand("start", "link your account or say hello"),
        *(BotCommand(name, summary[:256]) for name, summary in described.items()),
        BotCommand("unlink", "unlink this Telegram account"),
    ]


MENU = command_menu()
RUNNER_COMMANDS = ["help", "trips", "drafts", "bookings", "spend", "prefs", "policy", "me"]

TelegramApplication = Application[Any, TravelCallbackContext, Any, Any, Any, Any]


def build_application(product: Product, *, polling: bool) -> TelegramApplication:
    """PTB's Application pointed at TELEGRAM_API_URL, with every handler of the channel."""
    settings = product.settings
    if settings.telegram_bot_token is None:
        raise SetupError("TELEGRAM_BOT_TOKEN is not set.")
    api = settings.telegram_api_url.rstrip("/")
    install_redaction([settings.telegram_bot_token.get_secret_value()])  # the Bot API URL holds it
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=TravelCallbackContext))
        .concurrent_updates(ChatOrderedUpdates())
        # PTB's own limiter: paces sends below Telegram's limits (30/s, 20/min per group) and, after a 429,
        # waits the retry_after Telegram names before trying again (three times at most).
        .rate_limiter(AIORateLimiter(max_retries=3))
    )
    if not polling:
        builder = builder.updater(None)
    application: TelegramApplication = builder.build()

    confirmations = Confirmations(product)
    chain_requests = ChainRequests(product)
    product.extras["telegram_approvals"] = chain_requests
    product.approval_followers["telegram"] = decisions_on_telegram(product, application.bot)
    chat = TravelChat(product, confirmations)
    documents = ForwardedDocuments(product, confirmations)
    linking = Linking(product)
    application.add_handler(TypeHandler(Update, DuplicateUpdates(product.db)), group=-2)
    application.add_handler(TypeHandler(Update, IdentityHook(product.db)), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", linking.on_start),
            CommandHandler("unlink", linking.on_unlink),
            CommandHandler(RUNNER_COMMANDS, chat.on_command),
            CallbackQueryHandler(confirmations.on_press, pattern=CALLBACK_PATTERN),
            CallbackQueryHandler(ReminderPresses(product).on_press, pattern=TELEGRAM_PATTERN),
            CallbackQueryHandler(chain_requests.on_press, pattern=CHAIN_PATTERN),
            MessageHandler(filters.COMMAND, chat.on_command),
            MessageHandler(filters.TEXT, chat.on_text),
            MessageHandler(POLICY_DOCUMENT, PolicyUploads(product).on_document),
            MessageHandler(filters.Document.ALL, documents.on_document),
            MessageHandler(filters.ALL, documents.on_other),
        ]
    )
    application.add_error_handler(ErrorReporter())
    return application


def telegram_mount(product: Product) -> ChannelMount:
    """Webhook mode when TELEGRAM_WEBHOOK_URL is set (the secret is then required), polling otherwise."""
    settings = product.settings
    webhook_url = settings.telegram_webhook_url
    secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
    if webhook_url and not secret:
        raise SetupError(
            "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: the webhook needs a secret."
        )
    application = build_application(product, polling=not webhook_url)
    product.extras["telegram"] = application

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("the update is not a JSON object")
            update = Update.de_json(payload, application.bot)
        except (ValueError, TypeError, KeyError, AttributeError) as error:  # JSONDecodeError is a ValueError
            log.warning("unreadable telegram update: %s", type(error).__name__)
            return Response(status_code=400)
        if not application.running:
            return Response(status_code=503)  # Telegram delivers it again later
        # Answer at once; the update is handled in the background so Telegram does not redeliver.
        await application.update_queue.put(update)
        return Response(status_code=200)

    async def startup() -> None:
        # The shape of PTB's customwebhookbot/starlettebot.py: initialize, start, ..., stop, shutdown.
        await application.initialize()
        await application.bot.set_my_commands(MENU)
        if webhook_url:
            await application.bot.set_webhook(
                webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )
        elif application.updater is not None:
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        await application.start()
        log.info(
            "telegram bot @%s ready (%s)", application.bot.username, "webhook" if webhook_url else "polling"
        )

    async def shutdown() -> None:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()

    return ChannelMount(
        name="telegram",
        routes=[Route(WEBHOOK_PATH, webhook, methods=["POST"])],
        startup=startup,
        shutdown=shutdown,
    )
