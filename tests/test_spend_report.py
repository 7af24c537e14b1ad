"""One spend answer for the query_spend tool and /spend: who may see what, its text, its table and its chart."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from PIL import Image

from agent.charts import HEIGHT, WIDTH
from agent.commands import CommandRunner
from agent.context import Context, Role
from agent.conversation import ConversationService
from agent.spend_report import SpendReport, spend_report
from bot.demo_data import demo_user_id
from storage.database import Database
from storage.errors import Forbidden, InvalidInput
from storage.periods import parse_period
from storage.spend import GroupBy
from tests import spend_ledger
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.spend_ledger import FIRST, SHAPE, TODAY, TRAVELLER

ADMIN = demo_user_id(SHAPE.seed, 1, 1)  # the first traveller of a demo tenant is its admin


@pytest.fixture
async def ledger(db: Database, owner_db: Database) -> spend_ledger.Ledger:
    return await spend_ledger.spend_data(db, owner_db)


def caller(user_id: uuid.UUID, role: Role) -> Context:
    return Context(
        tenant_id=FIRST,
        user_id=user_id,
        role=role,
        channel="console",
        timezone="Europe/Berlin",
        locale="en",
    )


def tool_result(model: ScriptedModel) -> str:
    """What the last tool call gave back to the model."""
    return str([m for m in model.messages() if m["role"] == "tool"][-1]["content"])


def png_size(content: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image.size


async def ask(
    db: Database, who: uuid.UUID, period: str, *, scope: str = "mine", group_by: GroupBy = "category"
) -> SpendReport:
    """The spend answer for one caller of the first tenant (the role follows from who asks)."""
    async with db.tenant(FIRST) as session:
        return await spend_report(
            session,
            user_id=who,
            role="admin" if who == ADMIN else "traveler",
            scope=scope,
            period=period,
            group_by=group_by,
            today=TODAY,
        )


async def test_a_traveller_asking_for_company_figures_is_refused_and_an_admin_gets_them(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    with pytest.raises(Forbidden, match="Company-wide spend is for admins"):
        await ask(db, TRAVELLER, "2025", scope="tenant")
    with pytest.raises(Forbidden, match="Spend by traveller is for admins"):
        await ask(db, TRAVELLER, "2025", group_by="traveller")
    with pytest.raises(InvalidInput, match="Try one of"):
        await ask(db, TRAVELLER, "soonish")
    report = await ask(db, ADMIN, "2025", scope="tenant", group_by="traveller")
    trips, _nights, amount = spend_ledger.total(ledger, FIRST, parse_period("2025", today=TODAY), None)
    currency = ledger.currency(FIRST)
    assert report.lines[0] == (
        f"Company completed travel spend in 2025 (1 Jan – 31 Dec 2025): {amount:,.2f} {currency} on {trips} trips."
    )
    travellers = spend_ledger.breakdown(ledger, FIRST, parse_period("2025", today=TODAY), "traveller", None)
    assert [row[0] for row in report.rows] == [label for _key, label, _amount, _trips in travellers]
    assert [Decimal(row[1].replace(",", "")) for row in report.rows] == [line[2] for line in travellers]


async def test_a_breakdown_of_more_than_two_rows_comes_with_a_chart_and_a_shorter_one_does_not(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    by_destination = await ask(db, ADMIN, "2025", scope="tenant", group_by="destination")
    one_month = await ask(db, TRAVELLER, "2026-01", group_by="quarter")
    nothing = await ask(db, TRAVELLER, "2019", group_by="month")
    assert len(by_destination.rows) > 2 and by_destination.chart is not None
    assert png_size(by_destination.chart.png) == (WIDTH, HEIGHT)
    assert by_destination.chart.filename == f"spend-destination-2025-{ledger.currency(FIRST).lower()}.png"
    assert by_destination.chart.title.startswith("Company travel spend by destination, 2025")
    assert len(one_month.rows) == 1 and one_month.chart is None
    assert nothing.rows == () and nothing.chart is None
    assert nothing.text.startswith(
        "No completed travel spend is recorded for you in 2019 (1 Jan – 31 Dec 2019)."
    )


async def test_the_answer_gives_each_currency_on_its_own_and_never_a_sum_across_them(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    report = await ask(db, ADMIN, "last year", scope="tenant")
    booked = spend_ledger.booked(ledger, FIRST, parse_period("last year", today=TODAY), None)
    outside = {code: figures for code, figures in booked.items() if figures["out"]}
    assert len(outside) >= 2
    (line,) = [line for line in report.lines if line.startswith("Out-of-policy bookings:")]
    for code, figures in outside.items():
        assert f"{figures['out_amount']:,.2f} {code}" in line
    assert f"{sum(f['out_amount'] for f in outside.values()):,.2f}" not in report.text


async def test_slash_spend_answers_each_caller_with_what_their_role_allows(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    runner = CommandRunner(db)
    refused = await runner.run(caller(TRAVELLER, "traveler"), "/spend company 2025")
    assert (
        refused.text == "Company-wide spend is for admins; /spend alone shows your own."
        and not refused.attachments
    )
    own = await runner.run(caller(TRAVELLER, "traveler"), "/spend 2025")
    _trips, _nights, amount = spend_ledger.total(ledger, FIRST, parse_period("2025", today=TODAY), TRAVELLER)
    assert f"{amount:,.2f} {ledger.currency(FIRST)}" in own.text.splitlines()[0]
    company = await runner.run(caller(ADMIN, "admin"), "/spend company 2025")
    (chart,) = company.attachments
    assert chart.mime_type == "image/png" and png_size(chart.content) == (WIDTH, HEIGHT)
    unreadable = await runner.run(caller(ADMIN, "admin"), "/spend sometime soon")
    assert unreadable.text.startswith("I can't read the period 'sometime soon'. Try one of: this year,")


async def test_the_query_spend_tool_hands_the_chart_to_the_channel(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    ledger: spend_ledger.Ledger,
) -> None:
    scripted_model.script(
        call("query_spend", period="2025", scope="tenant", group_by="destination"), say("Here is the spend.")
    )
    reply = await conversation.handle_message(caller(ADMIN, "admin"), "c1", "Spend by destination in 2025?")
    assert tool_result(scripted_model).startswith(
        "Company completed travel spend in 2025 (1 Jan – 31 Dec 2025)"
    )
    (chart,) = reply.attachments
    assert chart.filename.endswith(".png") and png_size(chart.content) == (WIDTH, HEIGHT)

    scripted_model.script(
        call("query_spend", period="2025", scope="tenant"), say("Only admins can see that.")
    )
    refused = await conversation.handle_message(caller(TRAVELLER, "traveler"), "c2", "Company spend in 2025?")
    assert tool_result(scripted_model).startswith("Refused: Company-wide spend is for admins")
    assert refused.attachments == ()
