"""The chat model factory: ChatOpenAI against OpenAI or any OpenAI-compatible server."""

from __future__ import annotations

from langchain_openai import ChatOpenAI

from storage.settings import Settings

MODEL_NOT_CONFIGURED = (
    "No chat model is configured, so I can only run slash commands (try /help). To chat, set TRAVELMATE_MODEL "
    "and OPENAI_API_KEY, or OPENAI_BASE_URL for a self-hosted OpenAI-compatible server, then restart."
)


def build_chat_model(settings: Settings) -> ChatOpenAI | None:
    """The configured model with explicit timeouts and bounded retries, or None when none is configured."""
    if not settings.model_configured:
        return None
    return ChatOpenAI(
        model=settings.model or "",
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
        temperature=0,
        # Self-hosted servers often lack streaming tool-call indices; a plain request is the safe default.
        streaming=False,
        # Always the Chat Completions API, which OpenAI-compatible servers implement.
        use_responses_api=False,
    )
