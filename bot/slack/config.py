"""Slack-only settings that the shared Settings do not carry, read once from the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "im:history",
    "im:read",
    "im:write",
    "mpim:history",
    "users:read",
    "users:read.email",
    "users.profile:read",  # the Manager field of a traveller's profile, for the approval chain
)


class SlackChannelSettings(BaseSettings):
    """Install scopes, the OAuth redirect URL and the Telegram bot's username for invite links."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    scopes: str = Field(default=",".join(DEFAULT_BOT_SCOPES), alias="SLACK_SCOPES")
    redirect_uri: str | None = Field(default=None, alias="SLACK_REDIRECT_URI")
    telegram_bot_username: str | None = Field(default=None, alias="TELEGRAM_BOT_USERNAME")

    @property
    def scope_list(self) -> list[str]:
        return [scope.strip() for scope in self.scopes.split(",") if scope.strip()]


@lru_cache(maxsize=1)
def slack_channel_settings() -> SlackChannelSettings:
    return SlackChannelSettings()
