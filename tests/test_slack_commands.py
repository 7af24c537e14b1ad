"""/travelmate and the App Home tab: help, refusals decided in code, audited preference changes."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from agent.commands import COMMANDS
from bot.slack.config import SlackChannelSettings
from storage.audit import OPERATOR
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.errors import InvalidInput
from storage.identities import redeem_invite, resolve_identity
from storage.models import AuditEntry, TenantPreference, TenantUser
from storage.trips import record_trip
from tests.conftest import NOW
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import (
    ACME,
    ADMIN,
    OTHER,
    TRAVELLER,
    FakeSlack,
    SlackHarness,
    acme_slack,
)
from tests.test_agent_booking import berlin_days

TEAM = ACME


@pytest.fixture
async def slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    async with acme_slack(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, introduced=(ADMIN, TRAVELLER)
    ) as h:
        yield h


async def run(slack: SlackHarness, user: str, text: str, *, team: str = TEAM) -> str:
    """The text of the (ephemeral) answer to one /travelmate command."""
    before = len(slack.fake.responses)
    response = await slack.send.command(team, user, text)
    assert response.status_code == 200 and response.text == ""  # acknowledged at once, answered later
    await slack.settle()
    answers = slack.fake.responses[before:]
    assert answers and all(a["response_type"] == "ephemeral" for a in answers)
    return "\n".join(str(a["text"]) for a in answers)


async def user_of(db: Database, slack_user: str) -> TenantUser:
    identity = await resolve_identity(db, channel="slack", workspace_id=TEAM, external_user_id=slack_user)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        user = await session.get(TenantUser, (identity.tenant_id, identity.user_id))
    assert user is not None
    return user


async def test_help_names_every_subcommand_and_an_unknown_one_gets_a_clear_answer(
    slack: SlackHarness,
) -> None:
    help_text = await run(slack, TRAVELLER, "help")
    shared = [command.usage.removeprefix("/") for command in COMMANDS]
    own = [
        "policy",
        "admins",
        "admins add @user",
        "admins remove @user",
        "invite telegram",
        "invite telegram @user",
    ]
    for usage in [*shared, *own]:
        assert f"`/travelmate {usage}`" in help_text, usage
    assert "prefs set KEY VALUE` — change a company preference or policy _(admins)_" in help_text
    assert await run(slack, TRAVELLER, "") == help_text
    assert (
        await run(slack, TRAVELLER, "fly me")
        == "I don't know the command /travelmate fly. Try /travelmate help."
    )


async def test_prefs_set_is_refused_to_travellers_explained_to_admins_and_stored_with_an_audit_entry(
    slack: SlackHarness, db: Database
) -> None:
    key, value = "policy.hotel.max_nightly_rate", '{"amount":180,"currency":"EUR"}'
    assert (
        await run(slack, TRAVELLER, f"prefs set {key} {value}")
        == "Only an admin of your company can change travel policy."
    )
    admin = await user_of(db, ADMIN)
    async with db.tenant(admin.tenant_id) as session:
        assert (await session.scalars(select(TenantPreference))).all() == []

    invalid = await run(slack, ADMIN, f"prefs set {key} lots")
    assert "expected a nightly hotel cap, e.g. {&quot;amount&quot;:180" not in invalid
    assert 'expected a nightly hotel cap, e.g. {"amount":180,"currency":"EUR"}' in invalid

    # Slack may turn typed quotes into curly ones; they are read as plain quotes.
    stored = await run(slack, ADMIN, f"prefs set {key} {{“amount”:180,“currency”:“EUR”}}")
    assert stored == f'{key} is now {{"amount": "180.00", "currency": "EUR"}}.'
    async with db.tenant(admin.tenant_id) as session:
        preference = (
            await session.scalars(select(TenantPreference).where(TenantPreference.preference_key == key))
        ).one_or_none()
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "preference.set"))).one()
    assert preference is not None and preference.preference_value == {"amount": "180.00", "currency": "EUR"}
    assert (audit.actor_user_id, audit.entity_id) == (admin.user_id, key)

    assert "Hotels: up to 180.00 EUR a night." in await run(slack, TRAVELLER, "policy")
    assert (
        await run(slack, TRAVELLER, f"prefs unset {key}")
        == "Only an admin of your company can change travel policy."
    )
    assert await run(slack, ADMIN, f"prefs unset {key}") == f"{key} is back to its default."


async def test_admins_are_changed_only_by_admins_and_a_company_keeps_at_least_one(
    slack: SlackHarness, db: Database
) -> None:
    assert (
        await run(slack, TRAVELLER, "admins add <@U0OTHER|olga>")
        == "Only an admin of your company can change who the admins are."
    )
    assert await run(slack, ADMIN, "admins") == "Admins: Ada Admin."
    assert await run(slack, ADMIN, "admins add <@U0OTHER|olga>") == "Olga Other is now an admin."
    other = await user_of(db, OTHER)  # provisioned from users.info on the spot
    assert (other.role, other.email) == ("admin", "olga@acme.test")
    assert (
        await run(slack, ADMIN, "admins add olga")
        == "Mention the person with @, e.g. /travelmate admins add @maria."
    )
    assert await run(slack, OTHER, "admins remove <@U0ADMIN>") == "Ada Admin is now a traveller."
    assert await run(slack, OTHER, "admins remove <@U0OTHER>") == (
        "A company needs at least one admin; make someone else admin first."
    )
    async with db.tenant(other.tenant_id) as session:
        roles = (
            await session.scalars(
                select(AuditEntry.details)
                .where(AuditEntry.action == "user.role")
                .order_by(AuditEntry.occurred_at)
            )
        ).all()
    assert [r["role"] for r in roles] == ["admin", "traveler"]


async def test_invite_telegram_gives_a_one_time_code_that_links_the_right_person(
    slack: SlackHarness, db: Database
) -> None:
    slack.product.extras["slack"].options = SlackChannelSettings(TELEGRAM_BOT_USERNAME="@TravelMateBot")
    answer = await run(slack, TRAVELLER, "invite telegram")
    link = re.search(r"https://t\.me/TravelMateBot\?start=([A-Za-z0-9_-]+)", answer)
    assert link is not None and "It works once and expires in 7 days." in answer
    assert await run(slack, TRAVELLER, "invite telegram <@U0OTHER>") == (
        "Only an admin can invite someone else; /travelmate invite telegram invites you."
    )
    linked = await redeem_invite(
        db,
        code=link.group(1),
        channel="telegram",
        workspace_id="",
        external_user_id="4242",
        chat_id="4242",
        now=NOW,
    )
    assert linked.user_id == (await user_of(db, TRAVELLER)).user_id
    with pytest.raises(InvalidInput):
        await redeem_invite(
            db,
            code=link.group(1),
            channel="telegram",
            workspace_id="",
            external_user_id="4243",
            chat_id=None,
            now=NOW,
        )

    slack.product.extras["slack"].options = SlackChannelSettings()
    for_other = await run(slack, ADMIN, "invite telegram <@U0OTHER|olga>")
    assert re.search(
        r"for Olga Other: send /start [A-Za-z0-9_-]+ to the TravelMate bot in Telegram", for_other
    )


async def test_commands_from_a_workspace_that_is_not_connected_are_told_so(slack: SlackHarness) -> None:
    slack.fake.add_workspace("T0ELSE", "Elsewhere")
    answer = await run(slack, "U0STRANGER", "trips", team="T0ELSE")
    assert answer.startswith("This Slack workspace is not connected to a TravelMate company yet.")


async def test_the_home_tab_shows_trips_and_drafts_and_admins_also_see_the_policy(
    slack: SlackHarness, scripted_model: ScriptedModel
) -> None:
    scripted_model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    await slack.send.dm(TEAM, TRAVELLER, "plan Berlin 3-5 Dec")
    await slack.settle()
    for user in (TRAVELLER, ADMIN):
        await slack.send.event(
            TEAM,
            {"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home", "event_ts": "1"},
        )
        await slack.settle()
    traveller_view, admin_view = (str(v["view"]["blocks"]) for v in slack.fake.views)
    assert [v["user_id"] for v in slack.fake.views] == [TRAVELLER, ADMIN]
    assert "*Drafts*\\n• Berlin, 03 Dec – 05 Dec 2026 — 628.90 EUR" in traveller_view
    assert "None booked yet" in traveller_view
    assert "*This year's spend*\\nNo completed travel spend is recorded for you in" in traveller_view
    assert "Company travel policy" not in traveller_view
    assert "Company travel policy" in admin_view and "Hotels: no nightly cap." in admin_view


async def test_spend_answers_with_the_report_and_uploads_its_chart_to_the_dm(
    slack: SlackHarness, db: Database
) -> None:
    traveller = await user_of(db, TRAVELLER)
    async with db.tenant(
        traveller.tenant_id
    ) as session:  # a finished Berlin trip, as the trip cron records it
        await record_trip(
            session,
            actor=OPERATOR,
            user_id=traveller.user_id,
            trip={
                "trip_id": uuid.uuid4(),
                "destination": "Berlin",
                "start_date": "2026-10-03",
                "end_date": "2026-10-05",
                "total_spend": "628.90",
                "spend_by_category": {"flight": "189.00", "hotel": "300.00", "train": "139.90"},
            },
        )
    answer = await run(slack, TRAVELLER, "spend 2026")
    assert "628.90" in answer
    (completed,) = slack.fake.called("files.completeUploadExternal")
    assert completed.params["channel_id"] == "D" + TRAVELLER
    assert next(iter(slack.fake.uploads.values())).startswith(b"\x89PNG")
    assert await run(slack, TRAVELLER, "spend company 2026") == (
        "Company-wide spend is for admins; /travelmate spend alone shows your own."
    )
    assert "628.90" in await run(slack, ADMIN, "spend company 2026")


async def test_a_cap_typed_as_a_bare_amount_takes_the_company_currency(slack: SlackHarness) -> None:
    key = "policy.hotel.max_nightly_rate"
    await run(slack, ADMIN, "prefs set currency GBP")
    assert await run(slack, ADMIN, f"prefs set {key} 150") == (
        f'{key} is now {{"amount": "150.00", "currency": "GBP"}}.'
    )
    assert await run(slack, ADMIN, "prefs set policy.trip_budget 99.5 chf") == (
        'policy.trip_budget is now {"amount": "99.50", "currency": "CHF"}.'
    )
    assert "expected a nightly hotel cap" in await run(slack, ADMIN, f"prefs set {key} lots")
