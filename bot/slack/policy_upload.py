"""A file shared with the bot in a DM with the text "policy": an admin's becomes the company's policy document."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agent.context import Context
from agent.library_commands import offered_as_policy, policy_upload, require_policy_admin
from agent.policy_reader import MAX_FILE_BYTES
from bot.slack.blocks import escape
from bot.slack.channel import SlackChannel
from bot.slack.delivery import ThreadReplier
from bot.slack.faults import reported_errors
from bot.slack.handlers import NOT_CONNECTED, acknowledge
from bot.slack.identity import CALLER
from storage.errors import InvalidInput

log = logging.getLogger(__name__)

NOT_DOWNLOADED = "I could not download that file from Slack. Please share it with me again."


async def shared_in_dm(body: dict[str, Any]) -> bool:
    """A file shared in a DM with the text "policy"; other shared files are forwarded confirmations."""
    event = body.get("event") or {}
    return (
        event.get("channel_type") == "im"
        and bool(event.get("files"))
        and not event.get("bot_id")
        and offered_as_policy(str(event.get("text") or ""))
    )


async def download(client: AsyncWebClient, url: str) -> bytes:
    """A private Slack file, with the bot token; a sign-in page instead of the file is a failed download."""
    headers = {"Authorization": f"Bearer {client.token}"}
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as http:
        try:
            async with http.stream("GET", url, headers=headers) as response:
                if response.status_code != 200 or response.headers.get("content-type", "").startswith(
                    "text/html"
                ):
                    log.warning("Slack file download answered %s", response.status_code)
                    raise InvalidInput(NOT_DOWNLOADED)
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > MAX_FILE_BYTES:
                        raise InvalidInput(
                            f"That file is larger than {MAX_FILE_BYTES // 1_048_576} MB; a policy document "
                            "can be at most that."
                        )
                return bytes(content)
        except httpx.HTTPError as error:
            log.warning("Slack file download failed: %s", type(error).__name__)
            raise InvalidInput(NOT_DOWNLOADED) from None


async def take_policy_file(
    channel: SlackChannel, client: AsyncWebClient, caller: Context, file_id: str
) -> str:
    require_policy_admin(caller)
    try:
        found = (await client.files_info(file=file_id))["file"]
    except SlackApiError as error:
        log.warning("files.info failed: %s", error.response.get("error"))
        raise InvalidInput(NOT_DOWNLOADED) from None
    reply = await policy_upload(
        channel.product.commands.library,
        caller,
        filename=str(found.get("name") or "policy"),
        size=int(found.get("size") or 0),
        fetch=lambda: download(client, str(found.get("url_private_download") or "")),
    )
    return reply.text


def register_policy_uploads(app: AsyncApp, channel: SlackChannel) -> None:
    """Files shared in a DM; registered before the conversation listeners, which get everything else."""

    async def answer_file_share(
        body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        event = body["event"]
        caller: Context | None = context.get(CALLER)
        replier = ThreadReplier(client, event["channel"], event.get("thread_ts") or event["ts"])
        for shared in event["files"]:
            async with reported_errors(replier.say, what="policy upload", caller=caller):
                if caller is None:
                    await replier.say(NOT_CONNECTED)
                    return
                await replier.say(escape(await take_policy_file(channel, client, caller, shared["id"])))

    app.event({"type": "message", "subtype": "file_share"}, matchers=[shared_in_dm])(
        ack=acknowledge, lazy=[answer_file_share]
    )
