"""A person's own words in conversations: what their export holds and what their erasure removes.

A group chat is one conversation shared by its participants. Every message a person writes is tagged
with its author (`AUTHOR` in the message's `additional_kwargs`, never sent to the model), and the
assistant's answers belong to the exchange the person's message opened. An export holds the person's
own messages and the answers to them; an erasure removes exactly those exchanges from shared threads
and keeps everyone else's, and removes threads the person had to themselves completely.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, copy_checkpoint
from langgraph.checkpoint.base.id import uuid6

AUTHOR = "author"


def conversation_digest(tenant_id: uuid.UUID, conversation: str) -> str:
    """What a thread id keeps of the platform's conversation id (a chat id, a Slack channel, thread and user):
    an HMAC keyed by the tenant, so the raw ids appear in no thread id, checkpoint key or export."""
    return hmac.new(tenant_id.bytes, conversation.encode(), hashlib.sha256).hexdigest()[:32]


def author_of(message: AnyMessage) -> str | None:
    """The user id that wrote a human message (None for untagged messages and for the assistant)."""
    if message.type != "human":
        return None
    author = message.additional_kwargs.get(AUTHOR)
    return str(author) if author else None


def exchanges(
    messages: Sequence[AnyMessage], *, sole: str | None
) -> list[tuple[str | None, list[AnyMessage]]]:
    """The messages cut into exchanges, each a human message with the assistant's work and answers after
    it, labelled with its author. An untagged message is the sole participant's, if the thread had one."""
    cut: list[tuple[str | None, list[AnyMessage]]] = []
    for message in messages:
        if message.type == "human" or not cut:
            author = author_of(message) or (sole if message.type == "human" else None)
            cut.append((author, [message]))
        else:
            cut[-1][1].append(message)
    return cut


def own_messages(
    thread: str, messages: Sequence[AnyMessage], *, user_id: uuid.UUID, sole: bool
) -> list[dict[str, Any]]:
    """The person's messages in one thread and the assistant's answers to them, as export rows."""
    person = str(user_id)
    rows = []
    for author, exchange in exchanges(messages, sole=person if sole else None):
        if author != person:
            continue
        for message in exchange:
            if message.type in ("human", "ai") and message.text:
                who = "you" if message.type == "human" else "assistant"
                rows.append({"thread": thread, "from": who, "text": message.text})
    return rows


async def latest_messages(
    saver: BaseCheckpointSaver[Any], thread: str
) -> tuple[CheckpointTuple | None, list[AnyMessage]]:
    saved = await saver.aget_tuple({"configurable": {"thread_id": thread}})
    if saved is None:
        return None, []
    return saved, list(saved.checkpoint["channel_values"].get("messages", []))


async def conversation_messages(
    saver: BaseCheckpointSaver[Any], participants: dict[str, set[uuid.UUID]], *, user_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The person's own messages and the answers to them, in every thread they took part in."""
    rows = []
    for thread, people in participants.items():
        _, messages = await latest_messages(saver, thread)
        rows += own_messages(thread, messages, user_id=user_id, sole=people == {user_id})
    return rows


async def withdraw_from_thread(
    saver: BaseCheckpointSaver[Any], thread: str, *, user_id: uuid.UUID, keeper: uuid.UUID
) -> int:
    """Remove the person's exchanges from a shared thread; the rest stays, now kept under `keeper` (another
    participant) so that the person's erasure does not cascade to it. Returns how many messages went."""
    saved, messages = await latest_messages(saver, thread)
    if saved is None:
        return 0
    kept = [
        m for author, exchange in exchanges(messages, sole=None) if author != str(user_id) for m in exchange
    ]
    if len(kept) == len(messages):
        return 0  # nothing of theirs: the thread (and a pending confirmation in it) stays as it is
    checkpoint = copy_checkpoint(saved.checkpoint)
    version = saver.get_next_version(checkpoint["channel_versions"].get("messages"), None)
    checkpoint["channel_values"]["messages"] = kept
    checkpoint["channel_versions"]["messages"] = version
    checkpoint["id"] = str(uuid6())
    config = {
        "configurable": {
            "thread_id": thread,
            "checkpoint_ns": "",
            "checkpoint_id": saved.checkpoint["id"],
            "user_id": str(keeper),
        }
    }
    metadata = {"source": "update", "step": int(saved.metadata.get("step", 0)) + 1, "parents": {}}
    await saver.aput(config, checkpoint, metadata, {"messages": version})  # type: ignore[arg-type]
    return len(messages) - len(kept)


__all__ = ["AUTHOR", "conversation_digest", "conversation_messages", "own_messages", "withdraw_from_thread"]
