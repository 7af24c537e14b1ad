"""Every setting of AITravelMate, read once from the environment (and a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "travelmate"


class Settings(BaseSettings):
    """The process configuration. Field names map to the environment variables in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    # Storage. Unset URLs mean "start the embedded servers under TRAVELMATE_DATA_DIR".
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    database_owner_url: str | None = Field(default=None, alias="DATABASE_OWNER_URL")
    # The worker's role may walk every tenant (reminders, trip completion); `serve`'s role may not.
    database_worker_url: str | None = Field(default=None, alias="DATABASE_WORKER_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    # PostgreSQL connections one process (a `serve` or `worker` replica) may open, all pools together.
    db_connections: int = Field(default=20, ge=2, le=1000, alias="TRAVELMATE_DB_CONNECTIONS")
    data_dir: Path = Field(default_factory=_default_data_dir, alias="TRAVELMATE_DATA_DIR")

    # The language model, any OpenAI-compatible server.
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    model: str | None = Field(default=None, alias="TRAVELMATE_MODEL")
    model_timeout_seconds: float = Field(default=60.0, gt=0, alias="TRAVELMATE_MODEL_TIMEOUT")
    model_max_retries: int = Field(default=2, ge=0, le=10, alias="TRAVELMATE_MODEL_MAX_RETRIES")
    # Embeddings from the same server; unset means full-text policy and memory search only.
    embedding_model: str | None = Field(default=None, alias="TRAVELMATE_EMBEDDING_MODEL")
    embedding_dimensions: int = Field(default=1536, ge=1, le=16000, alias="TRAVELMATE_EMBEDDING_DIMENSIONS")

    # Abuse limits: messages to the agent per minute, of one person and of one company (tenant) together.
    messages_per_user_per_minute: int = Field(
        default=20, ge=1, le=100_000, alias="TRAVELMATE_MESSAGES_PER_USER_PER_MINUTE"
    )
    messages_per_tenant_per_minute: int = Field(
        default=600, ge=1, le=1_000_000, alias="TRAVELMATE_MESSAGES_PER_TENANT_PER_MINUTE"
    )

    # Slack.
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")

    # Telegram.
    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: SecretStr | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    telegram_webhook_url: str | None = Field(default=None, alias="TELEGRAM_WEBHOOK_URL")
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="TELEGRAM_API_URL")

    # Security and serving.
    encryption_key: SecretStr | None = Field(default=None, alias="TRAVELMATE_ENCRYPTION_KEY")
    port: int = Field(default=8000, ge=1, le=65535, alias="PORT")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @property
    def model_configured(self) -> bool:
        """A chat model is usable when a model name and either a key or a self-hosted URL are set."""
        return bool(self.model) and (self.openai_api_key is not None or self.openai_base_url is not None)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
