"""Slack OAuth installs: one tenant per workspace, isolated; tokens encrypted, rotated and revoked."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text

from bot.reminder_delivery import SlackDirectMessages
from bot.slack.tokens import slack_token_lookup
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import resolve_identity, resolve_workspace
from storage.models import AuditEntry, Itinerary, SlackInstallation, TenantUser
from storage.reminder_runs import Recipient
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import FakeSlack, SlackHarness, slack_harness
from tests.test_agent_booking import berlin_days

ACME, GLOBEX = "T0ACME", "T0GLOBEX"
ACME_INSTALLER, ACME_TRAVELLER, GLOBEX_INSTALLER = "U0ACMEADM", "U0ACMETRV", "U0GLXADM"


@pytest.fixture
async def slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> AsyncIterator[SlackHarness]:
    fake_slack.reset()
    fake_slack.add_workspace(ACME, "Acme")
    fake_slack.add_user(ACME, ACME_INSTALLER, "Ada Acme", email="ada@acme.test")
    fake_slack.add_user(ACME, ACME_TRAVELLER, "Tom Acme", email="tom@acme.test")
    fake_slack.add_workspace(GLOBEX, "Globex")
    fake_slack.add_user(GLOBEX, GLOBEX_INSTALLER, "Gus Globex", email="gus@globex.test", tz="Asia/Tokyo")
    async with slack_harness(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, oauth=True
    ) as h:
        yield h


async def install(slack: SlackHarness, team_id: str, installer: str, *, rotating: bool = False) -> None:
    """A browser runs the OAuth flow: /slack/install, Slack's consent page, then /slack/oauth_redirect."""
    code = f"code-{team_id}"
    slack.fake.add_oauth_code(code, team_id, installer, rotating=rotating)
    start = await slack.send.http.get("/slack/install")
    assert start.status_code == 200
    cookie = re.search(r"slack-app-oauth-state=([^;]+);", start.headers["set-cookie"])
    assert cookie is not None and "secure" in start.headers["set-cookie"].lower()
    state = cookie.group(1)
    assert f"state={state}" in start.text
    done = await slack.send.http.get(
        "/slack/oauth_redirect",
        params={"code": code, "state": state},
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    assert done.status_code == 200, done.text


async def test_two_workspaces_become_two_isolated_tenants_with_their_installers_as_admins(
    slack: SlackHarness, db: Database, owner_db: Database, scripted_model: ScriptedModel
) -> None:
    await install(slack, ACME, ACME_INSTALLER)
    await install(slack, GLOBEX, GLOBEX_INSTALLER)
    await install(slack, ACME, ACME_INSTALLER)  # a re-install keeps the tenant
    acme = await resolve_workspace(db, channel="slack", enterprise_id=None, team_id=ACME)
    globex = await resolve_workspace(db, channel="slack", enterprise_id=None, team_id=GLOBEX)
    assert acme is not None and globex is not None and acme != globex
    assert await owner_db.scalar("SELECT count(*) FROM tenants") == 2

    for tenant, team, installer, name, zone in (
        (acme, ACME, ACME_INSTALLER, "Ada Acme", "Europe/Berlin"),
        (globex, GLOBEX, GLOBEX_INSTALLER, "Gus Globex", "Asia/Tokyo"),
    ):
        identity = await resolve_identity(db, channel="slack", workspace_id=team, external_user_id=installer)
        assert identity is not None and identity.tenant_id == tenant
        async with db.tenant(tenant) as session:
            users = (await session.scalars(select(TenantUser))).all()
        assert [(u.display_name, u.role, u.timezone) for u in users] == [(name, "admin", zone)]

    # Acme plans a trip; Globex sees none of it, neither by command nor in its tenant.
    scripted_model.script(call("create_draft_itinerary", berlin_days()), say("Here is your Berlin draft."))
    await slack.send.dm(ACME, ACME_TRAVELLER, "plan Berlin 3-5 Dec")
    await slack.settle()
    await slack.send.command(ACME, ACME_TRAVELLER, "drafts")
    await slack.send.command(GLOBEX, GLOBEX_INSTALLER, "drafts")
    await slack.settle()
    acme_answer, globex_answer = slack.fake.responses
    assert "Berlin" in str(acme_answer["blocks"])
    assert globex_answer["text"] == "You have no draft itineraries."
    async with db.tenant(acme) as session:
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 1
    async with db.tenant(globex) as session:
        assert await session.scalar(select(func.count()).select_from(Itinerary)) == 0
        assert await session.scalar(select(func.count()).select_from(TenantUser)) == 1
    # Acme was answered with Acme's own bot token.
    (reply,) = [
        c for c in slack.fake.called("chat.postMessage") if c.params["channel"] == "D" + ACME_TRAVELLER
    ]
    assert slack.fake.tokens[reply.token or ""] == ACME


async def columns_holding(owner_db: Database, needle: str) -> list[str]:
    """Every text, JSON or bytea column of every table that contains `needle`, anywhere in the database."""
    async with owner_db.unscoped() as session:
        columns = (
            await session.execute(
                text(
                    "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY')"
                )
            )
        ).all()
        found = []
        for schema, table, column, kind in columns:
            value = f'"{column}"' if kind == "bytea" else f'"{column}"::text'
            needle_sql = "convert_to(:needle, 'UTF8')" if kind == "bytea" else ":needle"
            hits = await session.scalar(
                text(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE position({needle_sql} in {value}) > 0'
                ),
                {"needle": needle},
            )
            if hits:
                found.append(f"{schema}.{table}.{column}")
    return found


async def test_after_the_oauth_exchange_no_token_is_stored_in_plaintext(
    slack: SlackHarness, owner_db: Database, scripted_model: ScriptedModel
) -> None:
    await install(slack, ACME, ACME_INSTALLER)
    await install(slack, GLOBEX, GLOBEX_INSTALLER, rotating=True)
    scripted_model.script(say("Hello Acme."))
    await slack.send.dm(ACME, ACME_TRAVELLER, "hello")
    await slack.settle()
    secrets = [*slack.fake.tokens, *slack.fake.refresh_tokens]
    assert len(secrets) == 3
    for secret in secrets:
        assert await columns_holding(owner_db, secret) == [], secret
    assert await columns_holding(owner_db, "xoxb-") == []
    assert await columns_holding(owner_db, "xoxe-") == []


async def test_expiring_tokens_are_rotated_through_the_fake_api_and_stored_encrypted(
    slack: SlackHarness, db: Database, owner_db: Database, scripted_model: ScriptedModel
) -> None:
    await install(slack, GLOBEX, GLOBEX_INSTALLER, rotating=True)
    (first_token,) = slack.fake.tokens
    scripted_model.script(say("Konnichiwa."))
    await slack.send.dm(GLOBEX, GLOBEX_INSTALLER, "hello")
    await slack.settle()
    refresh = slack.fake.called("oauth.v2.access")[-1]
    assert refresh.params["grant_type"] == "refresh_token"
    (rotated_token,) = slack.fake.tokens
    assert rotated_token != first_token
    (reply,) = [
        c for c in slack.fake.called("chat.postMessage") if c.params["channel"] == "D" + GLOBEX_INSTALLER
    ]
    assert reply.token == rotated_token
    assert await columns_holding(owner_db, rotated_token) == []
    tenant = await resolve_workspace(db, channel="slack", enterprise_id=None, team_id=GLOBEX)
    async with db.tenant(tenant) as session:
        assert await session.scalar(select(func.count()).select_from(SlackInstallation)) == 1
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.occurred_at))).all()
    assert "slack.install" in actions and "slack.token_rotation" in actions


async def test_uninstalling_deletes_the_tokens_and_the_workspace_gets_no_more_answers(
    slack: SlackHarness, db: Database, scripted_model: ScriptedModel
) -> None:
    await install(slack, ACME, ACME_INSTALLER)
    await install(slack, GLOBEX, GLOBEX_INSTALLER)
    await slack.send.event(ACME, {"type": "app_uninstalled", "event_ts": "1763000000.000001"})
    await slack.send.event(
        GLOBEX, {"type": "tokens_revoked", "tokens": {"bot": ["UBT0GLOBEX"]}, "event_ts": "1"}
    )
    await slack.settle()
    for team, action in ((ACME, "slack.uninstall"), (GLOBEX, "slack.bot_revoked")):
        tenant = await resolve_workspace(db, channel="slack", enterprise_id=None, team_id=team)
        async with db.tenant(tenant) as session:
            assert await session.scalar(select(func.count()).select_from(SlackInstallation)) == 0
            assert action in (await session.scalars(select(AuditEntry.action))).all()
    calls_before = len(slack.fake.called())
    scripted_model.responder = lambda _request: say("nobody should see this")
    response, _ = await slack.send.dm(ACME, ACME_TRAVELLER, "hello?")
    await slack.settle()
    assert response.status_code == 200
    assert len(slack.fake.called()) == calls_before and scripted_model.requests == []


async def test_the_reminder_worker_reaches_each_workspace_with_its_own_rotated_token(
    slack: SlackHarness, db: Database, owner_db: Database
) -> None:
    await install(slack, ACME, ACME_INSTALLER)
    await install(slack, GLOBEX, GLOBEX_INSTALLER, rotating=True)
    acme = await resolve_workspace(db, channel="slack", enterprise_id=None, team_id=ACME)
    globex = await resolve_workspace(db, channel="slack", enterprise_id=None, team_id=GLOBEX)
    assert acme is not None and globex is not None
    lookup = slack_token_lookup(slack.product.settings, db=db)
    assert lookup is not None
    acme_token, globex_token = await lookup(acme, ACME), await lookup(globex, GLOBEX)
    assert acme_token and globex_token
    assert (slack.fake.tokens[acme_token], slack.fake.tokens[globex_token]) == (ACME, GLOBEX)
    assert slack.fake.called("oauth.v2.access")[-1].params["grant_type"] == "refresh_token"
    assert await lookup(acme, GLOBEX) is None  # a tenant never reads another workspace's installation
    assert await columns_holding(owner_db, globex_token) == []

    sender = SlackDirectMessages(api_url=slack.fake.base_url, tokens=lookup)
    try:
        await sender.send(
            Recipient(
                tenant_id=globex,
                user_id=uuid.uuid4(),
                channel="slack",
                workspace_id=GLOBEX,
                external_user_id=GLOBEX_INSTALLER,
            ),
            "Your Tokyo trip starts in 7 days.",
        )
    finally:
        await sender.close()
    reminder = slack.fake.called("chat.postMessage")[-1]
    assert (reminder.token, reminder.params["channel"]) == (globex_token, GLOBEX_INSTALLER)
