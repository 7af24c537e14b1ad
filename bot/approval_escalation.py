"""Escalating approval steps left past the timeout (audited once, the admins asked, the traveller told),
asking, in Slack and on Telegram, whoever an open step waits for and has not been asked there yet, and
retiring the requests of trips that wait no more.

Run by the clock (the worker, or a test's fake clock) for one company; it reaches people in Slack and on
Telegram where this process can, and always in the console.
"""

from __future__ import annotations

import datetime as dt
import uuid

from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot

from agent.approval_steps import escalate_overdue, escalation_notice
from bot.reminder_delivery import ReminderChannels, SlackDirectMessages, TelegramChats
from bot.slack.approval_requests import ask_waiting_approvers, tell_traveller
from bot.slack.approval_requests import retire_closed_requests as retire_slack_requests
from bot.telegram.approval_requests import ask_approvers, send_to_chats
from bot.telegram.approval_requests import retire_closed_requests as retire_telegram_requests
from storage.approval_chain import ApprovalChain
from storage.database import Database
from storage.identities import company_workspace
from storage.maintenance import every_tenant
from storage.preferences import tenant_preferences
from storage.trip_approvals import open_approvals


async def escalate_approvals(
    db: Database,
    *,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    slack: AsyncWebClient | None = None,
    slack_workspace: str | None = None,
    telegram: Bot | None = None,
) -> int:
    """The company's steps that just passed the timeout, put to the admins; returns how many escalated.

    Every open step is also put to whoever may answer it and holds no live request for it, in Slack and on
    Telegram: a trip sent for approval in one channel reaches an approver who only uses the other within one
    run, and an escalated step reaches the admins.
    `slack` is a client of the company's workspace `slack_workspace` (None: every Slack account).
    """
    async with db.tenant(tenant_id) as session:
        chain = ApprovalChain.from_preferences(await tenant_preferences(session))
        escalated = await escalate_overdue(session, chain=chain, now=now)
        waiting = bool(await open_approvals(session))
    # Requests of trips that wait no more are retired, wherever the traveller changed or cancelled them
    # (in Slack, asking retires them first).
    if slack is not None and not waiting:
        await retire_slack_requests(db, slack, tenant_id=tenant_id)
    if telegram is not None:
        await retire_telegram_requests(db, telegram, tenant_id=tenant_id)
    if slack is not None and waiting:
        await ask_waiting_approvers(db, slack, tenant_id=tenant_id, now=now, workspace_id=slack_workspace)
    if telegram is not None and waiting:
        await ask_approvers(db, telegram, tenant_id=tenant_id, now=now)
    for trip in escalated:
        notice = escalation_notice(trip)
        if slack is not None and trip.user_id is not None:
            await tell_traveller(
                db,
                slack,
                tenant_id=tenant_id,
                user_id=trip.user_id,
                text=notice,
                workspace_id=slack_workspace,
            )
        if telegram is not None and trip.user_id is not None:
            await send_to_chats(db, telegram, tenant_id=tenant_id, user_id=trip.user_id, text=notice)
    return len(escalated)


async def escalate_every_company(db: Database, channels: ReminderChannels, *, now: dt.datetime) -> int:
    """The worker's cron: every company's overdue steps, through the channels this worker reaches."""
    telegram_chats = channels.senders.get("telegram")
    telegram = await telegram_chats.ready() if isinstance(telegram_chats, TelegramChats) else None
    slack_dms = channels.senders.get("slack")
    escalated = 0
    async for tenant_id in every_tenant(db):
        slack, workspace = None, None
        if isinstance(slack_dms, SlackDirectMessages):
            async with db.tenant(tenant_id) as session:
                workspace = await company_workspace(session)
            token = await slack_dms.tokens(tenant_id, workspace) if workspace else None
            if token:
                slack = AsyncWebClient(token=token, base_url=slack_dms.client.base_url)
        escalated += await escalate_approvals(
            db, tenant_id=tenant_id, now=now, slack=slack, slack_workspace=workspace, telegram=telegram
        )
    return escalated
