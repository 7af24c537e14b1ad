"""Escalating approval steps left past the timeout: audited once, the admins asked, the traveller told.

Run by the clock (the worker, or a test's fake clock) for one company; it reaches people in Slack and on
Telegram where this process can, and always in the console.
"""

from __future__ import annotations

import datetime as dt
import uuid

from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot

from agent.approval_steps import escalate_overdue, escalation_notice
from bot.slack.approval_requests import ask_waiting_approvers, tell_traveller
from bot.telegram.approval_requests import ask_approvers, send_to_chats
from storage.approval_chain import ApprovalChain
from storage.database import Database
from storage.preferences import tenant_preferences


async def escalate_approvals(
    db: Database,
    *,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    slack: AsyncWebClient | None = None,
    telegram: Bot | None = None,
) -> int:
    """The company's steps that just passed the timeout, put to the admins; returns how many escalated."""
    async with db.tenant(tenant_id) as session:
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        escalated = await escalate_overdue(session, chain=chain, now=now)
    for trip in escalated:
        notice = escalation_notice(trip)
        if slack is not None:
            await ask_waiting_approvers(db, slack, tenant_id=tenant_id, now=now)
            if trip.user_id is not None:
                await tell_traveller(db, slack, tenant_id=tenant_id, user_id=trip.user_id, text=notice)
        if telegram is not None:
            await ask_approvers(
                db,
                telegram,
                tenant_id=tenant_id,
                now=now,
                itinerary_id=trip.itinerary_id,
                escalated_only=True,
            )
            if trip.user_id is not None:
                await send_to_chats(db, telegram, tenant_id=tenant_id, user_id=trip.user_id, text=notice)
    return len(escalated)
