"""The spend CSV re-reads into the same totals as the answers, and exports only what the asker may see."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest

from agent.spend_report import spend_csv
from storage.audit import Actor
from storage.database import Database
from storage.errors import Forbidden
from storage.periods import parse_period
from storage.spend import spend_breakdown
from storage.spend_export import export_spend_csv
from storage.trips import record_trip
from tests import spend_ledger
from tests.spend_ledger import FIRST, SECOND, TODAY, TRAVELLER


@pytest.fixture
async def ledger(db: Database, owner_db: Database) -> spend_ledger.Ledger:
    return await spend_ledger.spend_data(db, owner_db)


def read_back(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


@pytest.mark.parametrize(
    ("words", "user"), [("last year", None), ("2026", TRAVELLER), ("last quarter", None)]
)
async def test_the_csv_re_reads_into_the_same_totals_and_categories(
    db: Database, ledger: spend_ledger.Ledger, words: str, user: uuid.UUID | None
) -> None:
    period = parse_period(words, today=TODAY)
    async with db.tenant(FIRST) as session:
        export = await export_spend_csv(session, period=period, user_id=user)
        categories = await spend_breakdown(session, period=period, group_by="category", user_id=user)
    rows = read_back(export.content)
    trips, _nights, amount = spend_ledger.total(ledger, FIRST, period, user)
    assert len(rows) == export.trips == trips
    assert sum(Decimal(row["total_spend"]) for row in rows) == export.total == amount
    assert {row["currency"] for row in rows} == {ledger.currency(FIRST)}
    for line in categories:
        column = [row[f"spend_{line.key}"] for row in rows]
        assert sum(Decimal(cell) for cell in column if cell) == line.amount
    for row in rows:
        split = [Decimal(v) for k, v in row.items() if k.startswith("spend_") and v]
        assert sum(split, Decimal(0)) == Decimal(row["total_spend"])
        assert (
            int(row["nights"])
            == (dt.date.fromisoformat(row["end_date"]) - dt.date.fromisoformat(row["start_date"])).days
        )
    names = {name for (tenant, _user), name in ledger.names.items() if tenant == FIRST}
    assert {row["traveller"] for row in rows} <= names


async def test_an_empty_period_exports_the_header_only(db: Database, ledger: spend_ledger.Ledger) -> None:
    async with db.tenant(SECOND) as session:
        export = await export_spend_csv(session, period=parse_period("2019", today=TODAY), user_id=None)
    assert export.content.decode().splitlines() == [
        "trip_id,traveller,destination,start_date,end_date,nights,currency,total_spend"
    ]
    assert (export.trips, export.total) == (0, Decimal(0))


async def test_a_cell_a_spreadsheet_would_run_is_defused(db: Database, ledger: spend_ledger.Ledger) -> None:
    async with db.tenant(FIRST) as session:
        await record_trip(
            session,
            actor=Actor.user(TRAVELLER),
            user_id=TRAVELLER,
            trip={
                "trip_id": uuid.uuid4(),
                "destination": '=HYPERLINK("http://evil.example","Berlin")',
                "start_date": dt.date(2026, 2, 3),
                "end_date": dt.date(2026, 2, 4),
                "total_spend": "10.00",
            },
        )
        export = await export_spend_csv(
            session, period=parse_period("2026-02", today=TODAY), user_id=TRAVELLER
        )
    (cell,) = [row["destination"] for row in read_back(export.content) if "HYPERLINK" in row["destination"]]
    assert cell == '\'=HYPERLINK("http://evil.example","Berlin")'


async def test_a_traveller_exports_their_own_trips_but_not_the_companys(
    db: Database, ledger: spend_ledger.Ledger
) -> None:
    async with db.tenant(FIRST) as session:
        with pytest.raises(Forbidden):
            await spend_csv(
                session, user_id=TRAVELLER, role="traveler", scope="tenant", period="2026", today=TODAY
            )
        own = await spend_csv(
            session, user_id=TRAVELLER, role="traveler", scope="mine", period="2026", today=TODAY
        )
    assert (own.filename, own.mime_type) == ("my-travel-spend-2026.csv", "text/csv")
    rows = read_back(own.content)
    assert rows and {row["traveller"] for row in rows} == {ledger.names[(FIRST, TRAVELLER)]}
    assert len(rows) == spend_ledger.total(ledger, FIRST, parse_period("2026", today=TODAY), TRAVELLER)[0]
