"""Forwarded confirmations in Slack: a shared PDF, .txt or .eml file is fetched with the bot token and read."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
from slack_sdk.web.async_client import AsyncWebClient

from agent.forwarded import ForwardedFile, confirmation_text, forwarded_message, too_large
from storage.errors import InvalidInput

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 20.0  # seconds


async def _fetch(client: AsyncWebClient, shared: dict[str, Any], name: str) -> bytes:
    url = shared.get("url_private_download") or shared.get("url_private")
    if not url or not client.token:
        raise InvalidInput(f"I could not open {name}; please paste the confirmation's text.")
    try:
        async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as http:
            response = await http.get(url, headers={"Authorization": f"Bearer {client.token}"})
    except httpx.HTTPError as error:
        log.warning("could not download a shared file: %s", type(error).__name__)
        raise InvalidInput(f"I could not fetch {name} from Slack just now; please share it again.") from None
    # Without access Slack answers with its sign-in page (HTML), not an error status.
    if response.status_code != 200 or response.headers.get("content-type", "").startswith("text/html"):
        log.warning("a shared file was not handed over: HTTP %s", response.status_code)
        raise InvalidInput(f"Slack did not let me open {name}; please paste the confirmation's text.")
    return response.content


async def forwarded_text(client: AsyncWebClient, files: Sequence[dict[str, Any]], caption: str) -> str:
    """The agent's input for a message that shares a confirmation: the first file's text, framed as data."""
    shared = files[0]
    name = str(shared.get("name") or shared.get("title") or "That file")
    refused = too_large(name, int(shared.get("size") or 0))
    if refused:
        raise InvalidInput(refused)
    document = ForwardedFile(name, await _fetch(client, shared, name), str(shared.get("mimetype") or ""))
    return forwarded_message(document, confirmation_text(document), caption)
