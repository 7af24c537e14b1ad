"""Slash commands shared by every channel (console, Slack, Telegram); they work with no model at all."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from langgraph.checkpoint.base import BaseCheckpointSaver
from redis.asyncio import Redis

from agent.approval_steps import ApprovalDecided
from agent.audit_command import audit_command
from agent.cards import itinerary_card
from agent.command_arguments import clean_arguments
from agent.context import Context
from agent.embeddings import Embedder
from agent.facts import describe_bookings
from agent.later_approvals import approvals_command
from agent.library_commands import policy_documents, traveller_memory
from agent.policy_library import PolicyLibrary
from agent.privacy_command import privacy_command
from agent.reminder_commands import reminders_command
from agent.replies import AgentReply
from agent.spend_report import check_scope, spend_csv, spend_report
from agent.tools import RemindersScheduled
from agent.travel_memory import TravellerMemory
from agent.trip_calendar import upcoming_trip_calendar
from storage.audit import Actor
from storage.bookings import list_bookings
from storage.database import Database
from storage.errors import DomainError, Forbidden, InvalidInput
from storage.itineraries import get_itinerary, list_itineraries
from storage.preferences import (
    TENANT_PREFERENCES,
    personal_preferences,
    preference_problems,
    set_personal_preference,
    set_tenant_preference,
    stored_tenant_preferences,
    unset_tenant_preference,
    with_defaults,
)
from storage.spend import GroupBy
from storage.validation import parse_json_text

TYPED = "{/}"  # in a hint, where the channel's command prefix goes


@dataclass(frozen=True)
class SlashCommand:
    name: str
    usage: str
    summary: str
    admin_only: bool = False


COMMANDS = (
    SlashCommand("help", "/help", "what I can do"),
    SlashCommand("trips", "/trips", "your upcoming trips, booked and planned"),
    SlashCommand("trips export", "/trips export", "your upcoming trips as a calendar file (.ics)"),
    SlashCommand("drafts", "/drafts", "your draft itineraries"),
    SlashCommand("bookings", "/bookings", "your bookings"),
    SlashCommand(
        "spend",
        "/spend [company] [period] [by category|month|quarter|destination|traveller]",
        "travel spend, e.g. /spend last quarter by month (company-wide figures are for admins)",
    ),
    SlashCommand("spend export", "/spend export [period]", "your trips and spend as CSV"),
    SlashCommand("prefs", "/prefs", "the company's travel policy and your own preferences"),
    SlashCommand(
        "prefs set", "/prefs set KEY VALUE", "change a company preference or policy", admin_only=True
    ),
    SlashCommand(
        "prefs unset", "/prefs unset KEY", "return a company preference to its default", admin_only=True
    ),
    SlashCommand("me set", "/me set KEY VALUE", "change your own preference (seat, meal, home_airport, ...)"),
    SlashCommand("me memory", "/me memory", "what I remember about you"),
    SlashCommand("me forget", "/me forget ID", "forget one thing I remember about you"),
    SlashCommand("policy list", "/policy list", "the company's travel-policy documents"),
    SlashCommand(
        "policy add",
        "/policy add PATH",
        "add a policy document (console; in chat send the file)",
        admin_only=True,
    ),
    SlashCommand("policy remove", "/policy remove ID", "remove a policy document", admin_only=True),
    SlashCommand("reminders", "/reminders", "your upcoming reminders"),
    SlashCommand("reminders snooze", "/reminders snooze TRIP 2d|12h", "postpone a trip's reminders"),
    SlashCommand("reminders mute", "/reminders mute|unmute TRIP", "silence or restore a trip's reminders"),
    SlashCommand("privacy export", "/privacy export", "everything held about you, as JSON and CSV"),
    SlashCommand("privacy forget-me", "/privacy forget-me", "erase your personal data (asks to confirm)"),
    SlashCommand(
        "privacy erase", "/privacy erase EMAIL confirm", "erase a user of your company", admin_only=True
    ),
    SlashCommand("audit", "/audit [N]", "the latest N entries of the audit log", admin_only=True),
    SlashCommand(
        "approvals",
        "/approvals [approve|reject TRIP], /approvals manager EMAIL MANAGER_EMAIL",
        "trips that wait for your approval; naming a traveller's manager (admins)",
    ),
)


def help_text(ctx: Context, *, prefix: str = "/") -> str:
    lines = ["Tell me about a trip in your own words, or use a command:"]
    for command in COMMANDS:
        if command.admin_only and not ctx.is_admin:
            continue
        lines.append(f"  {command.usage.replace('/', prefix, 1)} — {command.summary}")
    return "\n".join(lines)


def split_command(text: str) -> tuple[str, str]:
    """`/prefs set currency EUR` → ("prefs", "set currency EUR")."""
    body = text.strip().removeprefix("/")
    name, _, rest = body.partition(" ")
    return name.split("@", 1)[0].lower(), rest.strip()


class CommandRunner:
    """Runs one slash command for one caller, inside the caller's tenant."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        saver: BaseCheckpointSaver[Any] | None = None,
        reminders_scheduled: RemindersScheduled | None = None,
        redis: Redis | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.db = db
        # The company's policy documents and the traveller's memory (embedded when a model is configured).
        self.library = PolicyLibrary(db, embedder)
        self.memory = TravellerMemory(db, embedder)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        # Exports read conversation messages from the checkpoints, and erasure removes them.
        self.saver = saver
        # Snoozed reminders are queued at once; without a queue the worker's sweeper finds them.
        self.reminders_scheduled = reminders_scheduled
        # Erasure also clears the user's counters and queued jobs in Redis.
        self.redis = redis
        # Set by the running product: a step answered with /approvals is shown in every channel it serves.
        self.approval_decided: ApprovalDecided | None = None

    async def run(self, ctx: Context, text: str, *, prefix: str = "/") -> AgentReply:
        """The reply to a command; refusals and bad input come back as one clear sentence."""
        name, rest = split_command(text)
        handlers: dict[str, Callable[[Context, str], Awaitable[AgentReply]]] = {
            "help": lambda c, _r: self._help(c, prefix),
            "start": lambda c, _r: self._help(c, prefix),
            "trips": self.trips,
            "drafts": self.drafts,
            "bookings": self.bookings,
            "spend": self.spend,
            "prefs": self.prefs,
            "policy": lambda c, r: policy_documents(self.library, c, r, otherwise=self.prefs),
            "me": lambda c, r: traveller_memory(self.memory, c, r, otherwise=self.me),
            "privacy": lambda c, r: privacy_command(self.db, c, r, saver=self.saver, redis=self.redis),
            "reminders": lambda c, r: reminders_command(
                self.db, c, r, now=self.clock(), reminders_scheduled=self.reminders_scheduled
            ),
            "audit": lambda c, r: audit_command(self.db, c, r),
            "approvals": lambda c, r: approvals_command(
                self.db,
                c,
                r,
                now=self.clock(),
                reminders_scheduled=self.reminders_scheduled,
                on_decided=self.approval_decided,
            ),
        }
        handler = handlers.get(name)
        if handler is None:
            return AgentReply.say(f"I don't know the command {prefix}{name}. Try {prefix}help.")
        try:
            reply = await handler(ctx, clean_arguments(rest))
        except DomainError as error:
            reply = AgentReply.say(error.message)
        # Every hint shows the exact text to type in this channel ("/prefs" on Telegram, "/travelmate prefs").
        return replace(reply, text=reply.text.replace(TYPED, prefix))

    async def _help(self, ctx: Context, prefix: str) -> AgentReply:
        return AgentReply.say(help_text(ctx, prefix=prefix))

    async def _cards(self, ctx: Context, *, status: tuple[str, ...], empty: str) -> AgentReply:
        today = self.clock().date()
        async with self.db.tenant(ctx.tenant_id) as session:
            trips = await list_itineraries(session, user_id=ctx.user_id, status=status, upcoming_from=today)
            cards = [itinerary_card(await get_itinerary(session, itinerary_id=t.itinerary_id)) for t in trips]
        if not cards:
            return AgentReply.say(empty)
        return AgentReply(text=f"{len(cards)} {'trip' if len(cards) == 1 else 'trips'}:", cards=tuple(cards))

    async def trips(self, ctx: Context, rest: str) -> AgentReply:
        action = rest.strip().lower()
        if action == "export":
            return await self.trips_export(ctx)
        if action:
            raise InvalidInput("Use {/}trips, or {/}trips export for a calendar file.")
        return await self._cards(ctx, status=("confirmed", "draft"), empty="You have no upcoming trips.")

    async def trips_export(self, ctx: Context) -> AgentReply:
        """The caller's upcoming trips as an ICS file, each flight, stay and meeting in its local time."""
        async with self.db.tenant(ctx.tenant_id) as session:
            calendar = await upcoming_trip_calendar(
                session, user_id=ctx.user_id, home_zone=ctx.timezone, now=self.clock()
            )
        return calendar.reply()

    async def drafts(self, ctx: Context, _rest: str) -> AgentReply:
        return await self._cards(ctx, status=("draft",), empty="You have no draft itineraries.")

    async def bookings(self, ctx: Context, _rest: str) -> AgentReply:
        async with self.db.tenant(ctx.tenant_id) as session:
            found = await list_bookings(session, user_id=ctx.user_id, limit=20)
        return AgentReply.say(describe_bookings(found) if found else "You have no bookings.")

    async def spend(self, ctx: Context, rest: str) -> AgentReply:
        """`spend [export] [company] [PERIOD] [by GROUPING]`, e.g. `spend company last quarter by destination`."""
        words = rest.split()
        export = bool(words) and words[0].lower() == "export"
        words = words[1:] if export else words
        scope = "mine"
        if words and words[0].lower() in ("company", "tenant", "all"):
            if not ctx.is_admin:
                raise Forbidden("Company-wide spend is for admins; {/}spend alone shows your own.")
            scope, words = "tenant", words[1:]
        group_by = "category"
        if len(words) >= 2 and words[-2].lower() == "by":
            group_by, words = words[-1].lower().removesuffix("s"), words[:-2]
            group_by = {"country": "destination", "city": "destination", "person": "traveller"}.get(
                group_by, group_by
            )
        period = " ".join(words) or "this year"
        async with self.db.tenant(ctx.tenant_id) as session:
            if export:
                csv_file = await spend_csv(
                    session,
                    user_id=ctx.user_id,
                    role=ctx.role,
                    scope=scope,
                    period=period,
                    today=self.clock().date(),
                )
                return AgentReply(text=f"Your trips and spend for {period}, as CSV.", attachments=(csv_file,))
            check_scope(role=ctx.role, scope=scope, group_by=group_by)
            report = await spend_report(
                session,
                user_id=ctx.user_id,
                role=ctx.role,
                scope=scope,
                period=period,
                group_by=cast(GroupBy, group_by),  # checked by check_scope above
                today=self.clock().date(),
            )
        attachments = (report.chart.as_attachment(),) if report.chart is not None else ()
        return AgentReply(text=report.text, attachments=attachments)

    async def prefs(self, ctx: Context, rest: str) -> AgentReply:
        action, _, argument = rest.partition(" ")
        action = action.lower()
        if action in ("set", "unset"):
            if not ctx.is_admin:
                raise Forbidden("Only an admin of your company can change travel policy.")
            key, _, raw = argument.strip().partition(" ")
            if not key:
                raise InvalidInput(
                    f"Usage: {{/}}prefs {action} KEY{' VALUE' if action == 'set' else ''}. "
                    f"Known keys: {', '.join(sorted(TENANT_PREFERENCES))}."
                )
            async with self.db.tenant(ctx.tenant_id) as session:
                if action == "unset":
                    await unset_tenant_preference(session, actor=Actor.user(ctx.user_id), key=key)
                    return AgentReply.say(f"{key} is back to its default.")
                if not raw.strip():
                    raise InvalidInput(
                        f"Give a value: {{/}}prefs set {key} VALUE, e.g. {{/}}prefs set {key} "
                        f"{TENANT_PREFERENCES.get(key.lower(), TENANT_PREFERENCES['currency']).example}"
                    )
                stored = await set_tenant_preference(
                    session,
                    actor=Actor.user(ctx.user_id),
                    key=key,
                    value=parse_json_text(raw, subject=f"The value of {key}"),
                )
            return AgentReply.say(f"{key} is now {json.dumps(stored)}.")
        if action:
            raise InvalidInput("Use {/}prefs, {/}prefs set KEY VALUE or {/}prefs unset KEY.")
        async with self.db.tenant(ctx.tenant_id) as session:
            stored = await stored_tenant_preferences(session)
            own = await personal_preferences(session, user_id=ctx.user_id)
        lines = ["Company policy and preferences:"]
        lines += [
            f"  {key}: {json.dumps(value)}"
            for key, value in with_defaults(TENANT_PREFERENCES, stored).items()
        ]
        lines += ["Your preferences:"] + [f"  {key}: {json.dumps(value)}" for key, value in own.items()]
        problems = preference_problems(TENANT_PREFERENCES, stored) if ctx.is_admin else []
        if problems:
            lines.append("Stored values this assistant cannot use (their defaults apply until you fix them):")
            lines += [
                f"  {p.key}: {json.dumps(p.value)[:120]} — expected {p.expected}; fix with {{/}}prefs set {p.key} VALUE"
                for p in problems
            ]
        return AgentReply.say("\n".join(lines))

    async def me(self, ctx: Context, rest: str) -> AgentReply:
        action, _, argument = rest.partition(" ")
        key, _, raw = argument.strip().partition(" ")
        if action.lower() != "set" or not key or not raw.strip():
            raise InvalidInput("Usage: {/}me set KEY VALUE, e.g. {/}me set seat aisle.")
        async with self.db.tenant(ctx.tenant_id) as session:
            stored = await set_personal_preference(
                session,
                actor=Actor.user(ctx.user_id),
                user_id=ctx.user_id,
                key=key,
                value=parse_json_text(raw, subject=f"The value of {key}"),
            )
        return AgentReply.say(f"Your {key} is now {json.dumps(stored)}.")
