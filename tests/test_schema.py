"""The data contract: the seven specified tables, read back from PostgreSQL's own catalog."""

from __future__ import annotations

import pytest

from storage.database import Database

# name: (type, nullable, default) per column, in order. This is docs/DATA.md, written out independently.
SPECIFIED_COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "tenant_preferences": [
        ("tenant_id", "uuid", False, None),
        ("preference_key", "character varying(255)", False, None),
        ("preference_value", "jsonb", False, None),
    ],
    "user_travel_history": [
        ("tenant_id", "uuid", False, None),
        ("user_id", "uuid", False, None),
        ("trip_id", "uuid", False, None),
        ("destination", "character varying(255)", False, None),
        ("start_date", "date", False, None),
        ("end_date", "date", False, None),
        ("activities", "jsonb", True, None),
        ("total_spend", "numeric(10,2)", True, None),
    ],
    "itineraries": [
        ("tenant_id", "uuid", False, None),
        ("itinerary_id", "uuid", False, "gen_random_uuid()"),
        ("user_id", "uuid", False, None),
        ("status", "character varying(50)", False, None),
        ("created_at", "timestamp without time zone", True, "CURRENT_TIMESTAMP"),
        ("updated_at", "timestamp without time zone", True, "CURRENT_TIMESTAMP"),
        ("start_date", "date", False, None),
        ("end_date", "date", False, None),
        ("destinations", "jsonb", False, None),
    ],
    "itinerary_details": [
        ("tenant_id", "uuid", False, None),
        ("itinerary_id", "uuid", False, None),
        ("day_number", "integer", False, None),
        ("details", "jsonb", False, None),
    ],
    "bookings": [
        ("tenant_id", "uuid", False, None),
        ("booking_id", "uuid", False, "gen_random_uuid()"),
        ("itinerary_id", "uuid", False, None),
        ("user_id", "uuid", False, None),
        ("booking_type", "character varying(50)", False, None),
        ("booking_details", "jsonb", False, None),
        ("status", "character varying(50)", False, None),
        ("created_at", "timestamp without time zone", True, "CURRENT_TIMESTAMP"),
    ],
    "booking_reminders": [
        ("tenant_id", "uuid", False, None),
        ("reminder_id", "uuid", False, "gen_random_uuid()"),
        ("booking_id", "uuid", False, None),
        ("reminder_date", "timestamp without time zone", False, None),
        ("sent", "boolean", True, "false"),
    ],
    "travel_analytics": [
        ("tenant_id", "uuid", False, None),
        ("user_id", "uuid", False, None),
        ("trip_id", "uuid", False, None),
        ("total_spend", "numeric(10,2)", False, None),
        ("spend_by_category", "jsonb", False, None),
    ],
}

PRIMARY_KEYS = {
    "tenant_preferences": ["tenant_id", "preference_key"],
    "user_travel_history": ["tenant_id", "user_id", "trip_id"],
    "itineraries": ["tenant_id", "itinerary_id"],
    "itinerary_details": ["tenant_id", "itinerary_id", "day_number"],
    "bookings": ["tenant_id", "booking_id"],
    "booking_reminders": ["tenant_id", "reminder_id"],
    "travel_analytics": ["tenant_id", "user_id", "trip_id"],
}

USERS = ("users.tenant_users", ("tenant_id", "user_id"))
TENANTS = ("tenants", ("id",))
FOREIGN_KEYS = {
    "tenant_preferences": {(("tenant_id",), TENANTS)},
    "user_travel_history": {(("tenant_id",), TENANTS), (("tenant_id", "user_id"), USERS)},
    "itineraries": {(("tenant_id",), TENANTS), (("tenant_id", "user_id"), USERS)},
    "itinerary_details": {(("tenant_id", "itinerary_id"), ("itineraries", ("tenant_id", "itinerary_id")))},
    "bookings": {
        (("tenant_id", "itinerary_id"), ("itineraries", ("tenant_id", "itinerary_id"))),
        (("tenant_id", "user_id"), USERS),
    },
    "booking_reminders": {(("tenant_id", "booking_id"), ("bookings", ("tenant_id", "booking_id")))},
    "travel_analytics": {(("tenant_id",), TENANTS), (("tenant_id", "user_id"), USERS)},
}


async def rows(db: Database, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with db.unscoped() as session:
        from sqlalchemy import text

        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


@pytest.mark.parametrize("table", sorted(SPECIFIED_COLUMNS))
async def test_specified_table_has_exactly_the_contracted_columns(owner_db: Database, table: str) -> None:
    columns = await rows(
        owner_db,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        t=f"public.{table}",
    )
    assert columns == SPECIFIED_COLUMNS[table]


@pytest.mark.parametrize("table", sorted(PRIMARY_KEYS))
async def test_specified_table_has_the_contracted_primary_key(owner_db: Database, table: str) -> None:
    key = await rows(
        owner_db,
        "SELECT a.attname FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'p' ORDER BY k.n",
        t=f"public.{table}",
    )
    assert [name for (name,) in key] == PRIMARY_KEYS[table]


@pytest.mark.parametrize("table", sorted(FOREIGN_KEYS))
async def test_specified_table_has_the_contracted_foreign_keys(owner_db: Database, table: str) -> None:
    found = await rows(
        owner_db,
        "SELECT c.conname, c.confrelid::regclass::text, "
        "  array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "        ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
        "  array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "        ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) "
        "FROM pg_constraint c WHERE c.conrelid = CAST(:t AS regclass) AND c.contype = 'f'",
        t=f"public.{table}",
    )
    actual = {(tuple(cols), (target, tuple(ref))) for _name, target, cols, ref in found}  # type: ignore[arg-type]
    assert actual == FOREIGN_KEYS[table]


async def test_vector_extension_is_installed(owner_db: Database) -> None:
    assert await owner_db.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
