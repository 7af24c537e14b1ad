"""What `travelmate serve` will run: each channel configured or not (and why), and settings that cannot work."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.slack.config import SlackChannelSettings
from storage.settings import Settings

# Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - as a webhook secret.
TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class ChannelStatus:
    """One line of the start-up report: a channel, whether it runs, and how or what it lacks."""

    name: str
    configured: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {'on' if self.configured else 'off'} — {self.detail}"


def channel_statuses(settings: Settings) -> list[ChannelStatus]:
    """Slack, Telegram and the chat model, as the settings configure them."""
    return [_slack(settings), _telegram(settings), _model(settings)]


def _slack(settings: Settings) -> ChannelStatus:
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        return ChannelStatus(
            "Slack",
            False,
            "set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode), with SLACK_BOT_TOKEN for one "
            "workspace or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth installs",
        )
    mode = (
        "OAuth installs at /slack/install"
        if settings.slack_client_id and settings.slack_client_secret
        else "one workspace (SLACK_BOT_TOKEN)"
    )
    transport = "Socket Mode" if settings.slack_app_token else "events at /slack/events"
    return ChannelStatus("Slack", True, f"{mode}, {transport}")


def _telegram(settings: Settings) -> ChannelStatus:
    if settings.telegram_bot_token is None:
        return ChannelStatus("Telegram", False, "set TELEGRAM_BOT_TOKEN")
    if settings.telegram_webhook_url:
        return ChannelStatus("Telegram", True, f"webhook {settings.telegram_webhook_url}")
    return ChannelStatus("Telegram", True, "polling (set TELEGRAM_WEBHOOK_URL for a webhook)")


def _model(settings: Settings) -> ChannelStatus:
    if not settings.model_configured:
        return ChannelStatus(
            "Chat model",
            False,
            "slash commands only; set TRAVELMATE_MODEL with OPENAI_API_KEY or OPENAI_BASE_URL",
        )
    return ChannelStatus("Chat model", True, f"{settings.model} at {settings.openai_base_url or 'OpenAI'}")


def configuration_problems(settings: Settings, options: SlackChannelSettings) -> list[str]:
    """Settings that would make `serve` fail or misbehave, each as one sentence; empty when all is well."""
    problems: list[str] = []
    slack_on = settings.slack_signing_secret is not None or settings.slack_app_token is not None
    if bool(settings.slack_client_id) != bool(settings.slack_client_secret):
        problems.append("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together: set both (OAuth) or neither.")
    elif slack_on and not settings.slack_client_id and settings.slack_bot_token is None:
        problems.append(
            "Slack needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth installs) or SLACK_BOT_TOKEN "
            "(one workspace)."
        )
    if settings.slack_app_token is not None and not settings.slack_app_token.get_secret_value().startswith(
        "xapp-"
    ):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
    if settings.slack_client_id and settings.slack_signing_secret is None:
        problems.append("Slack OAuth installs need SLACK_SIGNING_SECRET to verify the install redirects.")
    telegram_secret = (
        settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
    )
    if settings.telegram_webhook_url and not telegram_secret:
        problems.append(
            "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: the webhook needs a secret."
        )
    if telegram_secret and not TELEGRAM_SECRET.match(telegram_secret):
        problems.append(
            "TELEGRAM_WEBHOOK_SECRET may hold only letters, digits, _ and - (1 to 256 of them), as Telegram requires."
        )
    if settings.telegram_webhook_url and settings.telegram_bot_token is None:
        problems.append("TELEGRAM_WEBHOOK_URL is set but TELEGRAM_BOT_TOKEN is not.")
    if options.telegram_bot_username and not re.fullmatch(
        r"@?[A-Za-z0-9_]{5,32}", options.telegram_bot_username
    ):
        problems.append("TELEGRAM_BOT_USERNAME is not a Telegram username (5 to 32 letters, digits or _).")
    return problems
