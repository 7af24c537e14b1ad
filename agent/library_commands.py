"""Commands over the company's policy documents and the traveller's memory, shared by every channel.

`/policy add PATH` (console), `/policy list`, `/policy remove ID`, `/me memory`, `/me forget ID`. Anything
else after `/policy` or `/me` is the older command of that name, which the caller passes as `otherwise`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.context import Context
from agent.policy_library import PolicyLibrary
from agent.policy_reader import MAX_FILE_BYTES
from agent.replies import AgentReply
from agent.travel_memory import TravellerMemory
from storage.audit import Actor
from storage.errors import Forbidden, InvalidInput

Fallback = Callable[[Context, str], Awaitable[AgentReply]]

# A file shared with the bot whose caption (its message text) starts with the word "policy" is offered as the
# company's travel-policy document; any other file is a forwarded booking confirmation.
POLICY_CAPTION = r"(?i)^\s*(@\w+\s+)?/?policy\b"


def offered_as_policy(caption: str) -> bool:
    return re.match(POLICY_CAPTION, caption or "") is not None


async def policy_documents(
    library: PolicyLibrary, ctx: Context, rest: str, *, otherwise: Fallback
) -> AgentReply:
    action, _, argument = rest.strip().partition(" ")
    action, argument = action.lower(), argument.strip()
    if action == "list":
        documents = await library.documents(ctx.tenant_id)
        if not documents:
            return AgentReply.say("Your company has not added a travel-policy document yet.")
        lines = ["Travel-policy documents (remove one with /policy remove ID):"]
        lines += [
            f"  {str(d.document_id)[:8]}  {d.title} ({d.filename}, {d.passages} passages"
            + (f", {d.pages} pages" if d.pages else "")
            + f", added {d.added_at:%d %b %Y})"
            for d in documents
        ]
        return AgentReply.say("\n".join(lines))
    if action == "remove":
        if not argument:
            raise InvalidInput("Usage: /policy remove ID (the id /policy list shows).")
        removed = await library.remove(
            tenant_id=ctx.tenant_id, actor=Actor.user(ctx.user_id), reference=argument, is_admin=ctx.is_admin
        )
        return AgentReply.say(f"Removed the policy document '{removed.title}'.")
    if action == "add":
        return await _add_from_path(library, ctx, argument)
    return await otherwise(ctx, rest)


async def _add_from_path(library: PolicyLibrary, ctx: Context, argument: str) -> AgentReply:
    if ctx.channel != "console":
        raise InvalidInput(
            "In chat, send the policy file itself (Markdown, PDF or text) to me as an admin; "
            "/policy add PATH reads a file on this computer and works in the console."
        )
    if not ctx.is_admin:
        raise Forbidden("Only an admin of your company can add or remove travel-policy documents.")
    if not argument:
        raise InvalidInput("Usage: /policy add PATH, e.g. /policy add ~/travel-policy.pdf")
    filename, content = await asyncio.to_thread(read_local_file, argument)
    document, passages = await library.add(
        tenant_id=ctx.tenant_id,
        actor=Actor.user(ctx.user_id),
        filename=filename,
        content=content,
        is_admin=True,
    )
    return AgentReply.say(added_sentence(document.title, passages))


async def policy_upload(
    library: PolicyLibrary, ctx: Context, *, filename: str, size: int, fetch: Callable[[], Awaitable[bytes]]
) -> AgentReply:
    """A policy file sent in chat: admins only, checked for size before it is downloaded with `fetch`."""
    require_policy_admin(ctx)
    if size > MAX_FILE_BYTES:
        raise InvalidInput(
            f"{filename} is {size / 1_048_576:.1f} MB; a policy document can be at most "
            f"{MAX_FILE_BYTES // 1_048_576} MB. Split it or remove the images."
        )
    document, passages = await library.add(
        tenant_id=ctx.tenant_id,
        actor=Actor.user(ctx.user_id),
        filename=filename,
        content=await fetch(),
        is_admin=True,
    )
    return AgentReply.say(added_sentence(document.title, passages))


def require_policy_admin(ctx: Context) -> None:
    """Files sent in chat by anyone but an admin are refused before they are even looked at."""
    if not ctx.is_admin:
        raise Forbidden(
            "Only an admin of your company can add the travel-policy document; I did not keep that file."
        )


def read_local_file(argument: str) -> tuple[str, bytes]:
    """The name and bytes of a policy file on this computer, refused with a sentence when unusable."""
    path = Path(argument.strip().strip("'\"")).expanduser()
    if not path.is_file():
        raise InvalidInput(f"There is no file at {path}.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput(
            f"{path.name} is larger than {MAX_FILE_BYTES // 1_048_576} MB; a policy document can be at most that."
        )
    return path.name, path.read_bytes()


def added_sentence(title: str, passages: int) -> str:
    return (
        f"Added the policy document '{title}' ({passages} passages). I will cite it when asked about policy."
    )


async def traveller_memory(
    memory: TravellerMemory, ctx: Context, rest: str, *, otherwise: Fallback
) -> AgentReply:
    action, _, argument = rest.strip().partition(" ")
    action = action.lower()
    if action == "memory":
        return AgentReply.say(await memory.listing(tenant_id=ctx.tenant_id, user_id=ctx.user_id))
    if action == "forget":
        reference = argument.strip().lstrip("#")
        if not reference.isdigit():
            raise InvalidInput("Usage: /me forget ID (the number /me memory shows).")
        forgotten = await memory.forget(
            tenant_id=ctx.tenant_id, user_id=ctx.user_id, memory_id=int(reference)
        )
        return AgentReply.say(f"Forgotten: {forgotten.fact}")
    return await otherwise(ctx, rest)
