"""The data contract: the seven specified tables, read back from PostgreSQL's catalog against the customer's DDL."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

import storage.policy_documents
import storage.reminder_runs
import storage.travel_memory  # noqa: F401 - likewise
from storage.database import Database, sqlalchemy_url
from storage.embedded import EmbeddedUrls
from storage.migrate import alembic_config
from storage.models import Base

# The customer's specification, word for word (SPEC.txt, "Full Script").
SPECIFICATION = """
CREATE TABLE tenant_preferences (
tenant_id UUID,
preference_id UUID DEFAULT gen_random_uuid(),
preference_key VARCHAR(100) NOT NULL,
preference_value JSONB NOT NULL,
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, preference_id),
FOREIGN KEY (tenant_id) REFERENCES tenants(id)
);
CREATE TABLE user_travel_history (
tenant_id UUID,
history_id UUID DEFAULT gen_random_uuid(),
user_id UUID,
travel_date DATE NOT NULL,
destination VARCHAR(100) NOT NULL,
activities JSONB,
total_spend DECIMAL(10, 2) NOT NULL,
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, history_id),
FOREIGN KEY (tenant_id,user_id) REFERENCES users.tenant_users(tenant_id,user_id)
);
CREATE TABLE itineraries (
tenant_id UUID,
itinerary_id UUID DEFAULT gen_random_uuid(),
user_id UUID,
start_date DATE NOT NULL,
end_date DATE NOT NULL,
destinations JSONB,
is_draft BOOLEAN DEFAULT TRUE,
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, itinerary_id),
FOREIGN KEY (tenant_id,user_id) REFERENCES users.tenant_users(tenant_id,user_id)
);
CREATE TABLE itinerary_details (
tenant_id UUID,
detail_id UUID DEFAULT gen_random_uuid(),
itinerary_id UUID,
date DATE NOT NULL,
activity_type VARCHAR(50),
activity_details JSONB,
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, detail_id),
FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries(tenant_id,itinerary_id)
);
CREATE TABLE bookings (
tenant_id UUID,
booking_id UUID DEFAULT gen_random_uuid(),
user_id UUID,
itinerary_id UUID,
booking_type VARCHAR(50) NOT NULL,
booking_details JSONB NOT NULL,
status VARCHAR(20) DEFAULT 'confirmed',
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, booking_id),
FOREIGN KEY (tenant_id,user_id) REFERENCES users.tenant_users(tenant_id,user_id),
FOREIGN KEY (tenant_id, itinerary_id) REFERENCES itineraries(tenant_id,itinerary_id)
);
CREATE TABLE booking_reminders (
tenant_id UUID,
reminder_id UUID DEFAULT gen_random_uuid(),
booking_id UUID,
user_id UUID,
reminder_date DATE NOT NULL,
message TEXT NOT NULL,
sent BOOLEAN DEFAULT FALSE,
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, reminder_id),
FOREIGN KEY (tenant_id,user_id) REFERENCES users.tenant_users(tenant_id,user_id),
FOREIGN KEY (tenant_id,booking_id) REFERENCES bookings(tenant_id,booking_id)
);
CREATE TABLE travel_analytics (
tenant_id UUID,
analytics_id UUID DEFAULT gen_random_uuid(),
user_id UUID,
travel_date DATE NOT NULL,
total_spend DECIMAL(10, 2) NOT NULL,
categories_spend JSONB NOT NULL,
created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
PRIMARY KEY (tenant_id, analytics_id),
FOREIGN KEY (tenant_id,user_id) REFERENCES users.tenant_users(tenant_id,user_id)
);
"""

# How PostgreSQL's catalog spells the specification's types and defaults.
TYPES = {
    "UUID": "uuid",
    "JSONB": "jsonb",
    "DATE": "date",
    "TEXT": "text",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp without time zone",
}
DEFAULTS = {
    "gen_random_uuid()": "gen_random_uuid()",
    "CURRENT_TIMESTAMP": "CURRENT_TIMESTAMP",
    "TRUE": "true",
    "FALSE": "false",
    "'confirmed'": "'confirmed'::character varying",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    primary_key: list[str]
    foreign_keys: set[tuple[tuple[str, ...], str, tuple[str, ...]]]


def _names(text_: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text_.split(","))


def _type(spelled: str) -> str:
    if found := re.fullmatch(r"VARCHAR\((\d+)\)", spelled):
        return f"character varying({found[1]})"
    if found := re.fullmatch(r"DECIMAL\((\d+), ?(\d+)\)", spelled):
        return f"numeric({found[1]},{found[2]})"
    return TYPES[spelled]


def specified_tables() -> dict[str, Table]:
    """The specification's DDL read into what the catalog must show."""
    tables = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", SPECIFICATION, re.S):
        lines = [line.strip().rstrip(",") for line in body.strip().splitlines()]
        key = next(_names(m[1]) for line in lines if (m := re.fullmatch(r"PRIMARY KEY \((.*)\)", line)))
        foreign = {
            (_names(m[1]), m[2], _names(m[3]))
            for line in lines
            if (m := re.fullmatch(r"FOREIGN KEY \((.*?)\) REFERENCES ([\w.]+)\((.*)\)", line))
        }
        columns = []
        for line in lines:
            if line.startswith(("PRIMARY KEY", "FOREIGN KEY")):
                continue
            found = re.fullmatch(r"(\w+) (\w+(?:\(\d+(?:, ?\d+)?\))?)( NOT NULL)?(?: DEFAULT (.+))?", line)
            assert found, line
            column, spelled, not_null, default = found.groups()
            nullable = not not_null and column not in key
            columns.append(Column(column, _type(spelled), nullable, DEFAULTS[default] if default else None))
        tables[name] = Table(columns, list(key), foreign)
    return tables


SPECIFIED = specified_tables()


async def rows(db: Database, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with db.unscoped() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


def test_the_specification_has_seven_tables() -> None:
    assert sorted(SPECIFIED) == sorted(
        [
            "tenant_preferences",
            "user_travel_history",
            "itineraries",
            "itinerary_details",
            "bookings",
            "booking_reminders",
            "travel_analytics",
        ]
    )
    assert sum(len(table.columns) for table in SPECIFIED.values()) == 52


@pytest.mark.parametrize("table", sorted(SPECIFIED))
async def test_a_specified_table_has_its_columns_first_exactly_as_specified(
    owner_db: Database, table: str
) -> None:
    found = await rows(
        owner_db,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        t=f"public.{table}",
    )
    columns = [
        Column(str(n), str(t), bool(null), str(d) if d is not None else None) for n, t, null, d in found
    ]
    specified = SPECIFIED[table].columns
    assert columns[: len(specified)] == specified
    # Anything the product adds is nullable or defaulted, so an INSERT of the specified columns alone works.
    assert [c.name for c in columns[len(specified) :] if not c.nullable and c.default is None] == []


@pytest.mark.parametrize("table", sorted(SPECIFIED))
async def test_a_specified_table_has_the_specified_primary_key(owner_db: Database, table: str) -> None:
    key = await rows(
        owner_db,
        "SELECT a.attname FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'p' ORDER BY k.n",
        t=f"public.{table}",
    )
    assert [name for (name,) in key] == SPECIFIED[table].primary_key


@pytest.mark.parametrize("table", sorted(SPECIFIED))
async def test_a_specified_table_has_exactly_the_specified_foreign_keys(
    owner_db: Database, table: str
) -> None:
    found = await rows(
        owner_db,
        "SELECT c.confrelid::regclass::text, c.confdeltype, c.confupdtype, c.confmatchtype, "
        "  array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "        ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
        "  array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "        ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) "
        "FROM pg_constraint c WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'f'",
        t=f"public.{table}",
    )
    keys = {(tuple(cols), str(target), tuple(ref)) for target, *_actions, cols, ref in found}  # type: ignore[arg-type]
    assert keys == SPECIFIED[table].foreign_keys
    # As written: no cascade, no SET NULL, MATCH SIMPLE ('a' is NO ACTION, 's' is simple).
    assert {(deleting, updating, matching) for _t, deleting, updating, matching, *_ in found} <= {
        ("a", "a", "s")
    }


async def test_every_specified_table_is_isolated_by_tenant(owner_db: Database) -> None:
    found = await rows(
        owner_db,
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.*) FROM pg_class c "
        "LEFT JOIN pg_policy p ON p.polrelid = c.oid WHERE c.relname = ANY(:names) AND c.relkind = 'r' "
        "GROUP BY 1, 2, 3 ORDER BY 1",
        names=sorted(SPECIFIED),
    )
    assert found == [(name, True, True, 1) for name in sorted(SPECIFIED)]


async def test_the_migrations_are_one_line_with_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(app_role="travelmate_app"))
    assert len(script.get_heads()) == 1
    # After the merge of the early branches, every revision has exactly one parent.
    merge = script.get_revision("0009_single_line")
    later = [rev for rev in script.walk_revisions() if rev.revision != merge.revision]
    assert all(isinstance(rev.down_revision, str | None) for rev in later)


def test_the_models_match_the_migrated_database(embedded: EmbeddedUrls) -> None:
    engine = create_engine(sqlalchemy_url(embedded.owner_database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"include_schemas": True, "include_name": _ours, "compare_type": True},
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "\n".join(map(str, differences))


def _ours(name: str | None, kind: str, parent: dict[str, str | None]) -> bool:
    """The product's schemas only; Alembic's own version table is not a model."""
    if kind == "schema":
        return name in (None, "public", "users")
    return not (kind == "table" and name == "alembic_version")
