"""Settings of the live travel-information providers, read from the environment (and a .env file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TravelInfoSettings(BaseSettings):
    """Provider URLs and keys. The URLs are settings so that tests point the real client at fake servers."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    # Open-Meteo needs no key. Both URLs are API bases including /v1; the code appends /forecast and /search.
    open_meteo_url: str = Field(default="https://api.open-meteo.com/v1", alias="OPEN_METEO_URL")
    open_meteo_geocoding_url: str = Field(
        default="https://geocoding-api.open-meteo.com/v1", alias="OPEN_METEO_GEOCODING_URL"
    )

    # Flight status is switched on by its key; without one the answers say it is not set up.
    flight_status_provider: Literal["aerodatabox"] = Field(
        default="aerodatabox", alias="FLIGHT_STATUS_PROVIDER"
    )
    flight_status_api_url: str = Field(
        default="https://aerodatabox.p.rapidapi.com", alias="FLIGHT_STATUS_API_URL"
    )
    flight_status_api_key: SecretStr | None = Field(default=None, alias="FLIGHT_STATUS_API_KEY")

    # One HTTP attempt may take this long; a whole lookup (with its retries) never more than the deadline.
    timeout_seconds: float = Field(default=4.0, gt=0, le=60, alias="TRAVEL_INFO_TIMEOUT_SECONDS")
    max_retries: int = Field(default=2, ge=0, le=5, alias="TRAVEL_INFO_MAX_RETRIES")
    deadline_seconds: float = Field(default=8.0, gt=0, le=120, alias="TRAVEL_INFO_DEADLINE_SECONDS")

    @property
    def flight_status_enabled(self) -> bool:
        return self.flight_status_api_key is not None and bool(
            self.flight_status_api_key.get_secret_value().strip()
        )
