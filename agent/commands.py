"""Slash commands shared by every channel (console, Slack, Telegram); they work with no model at all."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, cast
from zoneinfo import ZoneInfo

from langgraph.checkpoint.base import BaseCheckpointSaver
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from agent.cards import itinerary_card
from agent.command_arguments import clean_arguments, count, duration
from agent.context import Context
from agent.embeddings import Embedder
from agent.facts import describe_bookings
from agent.later_approvals import approvals_command
from agent.library_commands import policy_documents, traveller_memory
from agent.policy_library import PolicyLibrary
from agent.privacy import export_bundle, forget_user
from agent.replies import AgentReply
from agent.spend_report import check_scope, spend_csv, spend_report
from agent.tools import RemindersScheduled
from agent.travel_memory import TravellerMemory
from agent.trip_calendar import upcoming_trip_calendar
from storage.audit import Actor, recent_audit
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
from storage.reminder_controls import mute_trip_reminders, snooze_trip_reminders, upcoming_reminders
from storage.spend import GroupBy
from storage.tenants import find_user_by_email
from storage.validation import parse_json_text

TYPED = "{/}"  # in a hint, where the channel's command prefix goes


@dataclass(frozen=True)
class SlashCommand:
    name: str
    usage: str
    summary: str
    admin_only: bool = False


def _why(details: dict[str, Any] | None) -> str:
    (
        """For a policy decision: how many rules it let through and the justification given, if any; for an
    answer in an approval chain, its step."""
        ""
    )
    reasons = (details or {}).get("reasons")
    step = (details or {}).get("step")
    if isinstance(step, str) and details is not None:  # one step of a trip's approval chain
        escalated = ", escalated after the timeout" if details.get("escalated") else ""
        following = f"; {details['next']} next" if details.get("next") else ""
        return f" ({step} step{escalated}{following})"
    if not isinstance(reasons, list):
        return ""
    justification = (details or {}).get("justification")
    said = f': "{justification}"' if justification else ""
    return f" ({len(reasons)} {'reason' if len(reasons) == 1 else 'reasons'} out of policy{said})"


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
        "trips booked now that wait for your approval; naming a traveller's manager (admins)",
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
            "privacy": self.privacy,
            "reminders": self.reminders,
            "audit": self.audit,
            "approvals": lambda c, r: approvals_command(
                self.db, c, r, now=self.clock(), reminders_scheduled=self.reminders_scheduled
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

    async def audit(self, ctx: Context, rest: str) -> AgentReply:
        if not ctx.is_admin:
            raise Forbidden("The audit log is for admins of your company.")
        limit = count(rest, default=20, low=1, high=50, usage="{/}audit 20")
        async with self.db.tenant(ctx.tenant_id) as session:
            entries = await recent_audit(session, limit=limit)
        if not entries:
            return AgentReply.say("The audit log is empty.")
        lines = [f"The latest {len(entries)} audit entries (UTC):"]
        lines += [
            f"  {e.occurred_at:%Y-%m-%d %H:%M:%S} {e.actor}{' ' + str(e.actor_user_id)[:8] if e.actor_user_id else ''} "
            f"{e.action} {e.entity}{' ' + e.entity_id if e.entity_id else ''}{_why(e.details)}"
            for e in entries
        ]
        return AgentReply.say("\n".join(lines))

    async def privacy(self, ctx: Context, rest: str) -> AgentReply:
        words = rest.split()
        action = words[0].lower() if words else ""
        if self.saver is None:
            raise InvalidInput("Privacy requests are not available in this process.")
        if action == "export":
            user_id = ctx.user_id if len(words) < 2 else await self._colleague(ctx, words[1])
            bundle = await export_bundle(self.db, self.saver, tenant_id=ctx.tenant_id, user_id=user_id)
            return AgentReply(text="Here is everything AITravelMate holds about you.", attachments=(bundle,))
        if action == "forget-me":
            if words[1:] != ["confirm"]:
                return AgentReply.say(
                    "This permanently erases your profile, trips, bookings, reminders and conversations. Your "
                    "company keeps only anonymous spend totals. To go ahead, send: {/}privacy forget-me confirm"
                )
            await forget_user(
                self.db,
                self.saver,
                redis=self.redis,
                tenant_id=ctx.tenant_id,
                actor=Actor.user(ctx.user_id),
                user_id=ctx.user_id,
            )
            return AgentReply.say("Your personal data has been erased. Goodbye, and safe travels.")
        if action == "erase":
            if not ctx.is_admin:
                raise Forbidden(
                    "Only an admin can erase another user; use {/}privacy forget-me for yourself."
                )
            if len(words) != 3 or words[2] != "confirm":
                raise InvalidInput("Usage: {/}privacy erase EMAIL confirm")
            user_id = await self._colleague(ctx, words[1])
            await forget_user(
                self.db,
                self.saver,
                redis=self.redis,
                tenant_id=ctx.tenant_id,
                actor=Actor.user(ctx.user_id),
                user_id=user_id,
            )
            return AgentReply.say(f"{words[1]} has been erased.")
        raise InvalidInput(
            "Use {/}privacy export, {/}privacy forget-me, or (admins) {/}privacy erase EMAIL confirm."
        )

    async def _colleague(self, ctx: Context, email: str) -> uuid.UUID:
        """Another user of the caller's company, for admins only."""
        if not ctx.is_admin:
            raise Forbidden("Only an admin can act on another user's data.")
        async with self.db.tenant(ctx.tenant_id) as session:
            user = await find_user_by_email(session, email=email)
        if user is None:
            raise InvalidInput(f"No user with the email {email} in your company.")
        return user.user_id

    async def reminders(self, ctx: Context, rest: str) -> AgentReply:
        """`reminders`, `reminders snooze TRIP 2d`, `reminders mute TRIP`, `reminders unmute TRIP`."""
        words = rest.split()
        action = words[0].lower() if words else ""
        if not action:
            async with self.db.tenant(ctx.tenant_id) as session:
                upcoming = await upcoming_reminders(session, user_id=ctx.user_id)
            if not upcoming:
                return AgentReply.say("You have no upcoming reminders.")
            zone = ZoneInfo(ctx.timezone)
            lines = ["Upcoming reminders (trip id first; use it to snooze or mute):"]
            lines += [
                f"  {r.itinerary_id.hex[:8] if r.itinerary_id else '--------'} {r.due_at.astimezone(zone):%a %d %b %H:%M} {r.booking_type}: {r.description}"
                + (" (muted)" if r.muted else "")
                for r in upcoming
            ]
            return AgentReply.say("\n".join(lines))
        if action not in ("snooze", "mute", "unmute") or len(words) < 2:
            raise InvalidInput(
                "Use {/}reminders, {/}reminders snooze TRIP 2d, {/}reminders mute TRIP or {/}reminders unmute TRIP."
            )
        async with self.db.tenant(ctx.tenant_id) as session:
            trip_id = await self._trip(ctx, session, words[1])
            actor = Actor.user(ctx.user_id)
            if action != "snooze":
                await mute_trip_reminders(
                    session, actor=actor, user_id=ctx.user_id, itinerary_id=trip_id, muted=action == "mute"
                )
                return AgentReply.say(
                    f"Reminders for that trip are {'muted' if action == 'mute' else 'back on'}."
                )
            now = self.clock()
            until = now + duration(words[2] if len(words) > 2 else "1d")
            moved = await snooze_trip_reminders(
                session, actor=actor, user_id=ctx.user_id, itinerary_id=trip_id, until=until, now=now
            )
        if moved and self.reminders_scheduled:
            await self.reminders_scheduled(moved)
        local = until.astimezone(ZoneInfo(ctx.timezone))
        return AgentReply.say(f"Snoozed {len(moved)} reminders until {local:%a %d %b %H:%M}.")

    async def _trip(self, ctx: Context, session: AsyncSession, reference: str) -> uuid.UUID:
        """The caller's trip whose id starts with `reference` (the short id that listings show)."""
        prefix = reference.strip().lower().replace("-", "")
        trips = await list_itineraries(session, user_id=ctx.user_id, status="confirmed", limit=200)
        matches = [t.itinerary_id for t in trips if prefix and t.itinerary_id.hex.startswith(prefix)]
        if len(matches) != 1:
            raise InvalidInput(
                f"No single booked trip of yours has the id {reference}; {{/}}reminders lists them."
            )
        return matches[0]
