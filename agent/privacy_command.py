"""`/privacy`: a user's export, their own erasure, and an admin's erasure of a colleague."""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from redis.asyncio import Redis

from agent.context import Context
from agent.privacy import export_bundle, forget_user
from agent.replies import AgentReply
from storage.audit import Actor
from storage.database import Database
from storage.errors import Forbidden, InvalidInput
from storage.tenants import find_user_by_email


async def privacy_command(
    db: Database,
    ctx: Context,
    rest: str,
    *,
    saver: BaseCheckpointSaver[Any] | None,
    redis: Redis | None,
) -> AgentReply:
    """`privacy export [EMAIL]`, `privacy forget-me [confirm]`, and for admins `privacy erase EMAIL confirm`."""
    words = rest.split()
    action = words[0].lower() if words else ""
    if saver is None:
        raise InvalidInput("Privacy requests are not available in this process.")
    if action == "export":
        user_id = ctx.user_id if len(words) < 2 else await _colleague(db, ctx, words[1])
        bundle = await export_bundle(db, saver, tenant_id=ctx.tenant_id, user_id=user_id)
        return AgentReply(text="Here is everything AITravelMate holds about you.", attachments=(bundle,))
    if action == "forget-me":
        if words[1:] != ["confirm"]:
            return AgentReply.say(
                "This permanently erases your profile, trips, bookings, reminders and conversations. Your "
                "company keeps only anonymous spend totals. To go ahead, send: {/}privacy forget-me confirm"
            )
        await forget_user(
            db,
            saver,
            redis=redis,
            tenant_id=ctx.tenant_id,
            actor=Actor.user(ctx.user_id),
            user_id=ctx.user_id,
        )
        return AgentReply.say("Your personal data has been erased. Goodbye, and safe travels.")
    if action == "erase":
        if not ctx.is_admin:
            raise Forbidden("Only an admin can erase another user; use {/}privacy forget-me for yourself.")
        if len(words) != 3 or words[2] != "confirm":
            raise InvalidInput("Usage: {/}privacy erase EMAIL confirm")
        user_id = await _colleague(db, ctx, words[1])
        await forget_user(
            db,
            saver,
            redis=redis,
            tenant_id=ctx.tenant_id,
            actor=Actor.user(ctx.user_id),
            user_id=user_id,
        )
        return AgentReply.say(f"{words[1]} has been erased.")
    raise InvalidInput(
        "Use {/}privacy export, {/}privacy forget-me, or (admins) {/}privacy erase EMAIL confirm."
    )


async def _colleague(db: Database, ctx: Context, email: str) -> uuid.UUID:
    """Another user of the caller's company, for admins only."""
    if not ctx.is_admin:
        raise Forbidden("Only an admin can act on another user's data.")
    async with db.tenant(ctx.tenant_id) as session:
        user = await find_user_by_email(session, email=email)
    if user is None:
        raise InvalidInput(f"No user with the email {email} in your company.")
    return user.user_id
