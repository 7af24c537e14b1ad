"""Tenant isolation enforced by PostgreSQL: row-level security, composite keys, pooled connections."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage.audit import Actor
from storage.bookings import create_booking
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.itineraries import create_draft
from storage.models import Booking, Itinerary, ItineraryDetail, TenantPreference, TenantUser
from tests.conftest import Company
from tests.plans import berlin_days

TENANT_TABLES_SQL = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
    "WHERE c.relkind = 'r' AND n.nspname IN ('public', 'users') ORDER BY 1"
)


async def tenant_tables(db: Database) -> list[str]:
    async with db.unscoped() as session:
        return list((await session.scalars(text(TENANT_TABLES_SQL))).all())


async def test_every_tenant_table_forces_a_policy_with_using_and_with_check(owner_db: Database) -> None:
    tables = await tenant_tables(owner_db)
    assert len(tables) >= 13
    async with owner_db.unscoped() as session:
        for table in [*tables, "public.tenants"]:
            enabled, forced = (
                await session.execute(
                    text(
                        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = CAST(:t AS regclass)"
                    ),
                    {"t": table},
                )
            ).one()
            policies = (
                await session.execute(
                    text(
                        "SELECT cmd, qual IS NOT NULL, with_check IS NOT NULL, qual FROM pg_policies "
                        "WHERE format('%I.%I', schemaname, tablename) = :t"
                    ),
                    {"t": table},
                )
            ).all()
            assert (enabled, forced) == (True, True), table
            assert [(p[0], p[1], p[2]) for p in policies] == [("ALL", True, True)], table
            assert "current_setting('app.tenant_id'" in policies[0][3] and "NULLIF" in policies[0][3], table


async def test_application_role_owns_nothing_and_cannot_bypass_rls(
    db: Database, embedded: EmbeddedUrls
) -> None:
    async with db.unscoped() as session:
        role = (
            await session.execute(
                text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
        ).one()
        owned = (
            await session.execute(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = current_user"
                )
            )
        ).scalar_one()
    assert role.rolsuper is False and role.rolbypassrls is False
    assert owned == 0


async def test_no_tenant_sees_nothing_and_inserts_nothing(db: Database, acme: Company) -> None:
    tables = await tenant_tables(db)
    async with db.unscoped() as session:
        for table in [*tables, "public.tenants"]:
            assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0, table
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.unscoped() as session:
            session.add(
                TenantPreference(tenant_id=acme.tenant_id, preference_key="currency", preference_value="USD")
            )
            await session.flush()


async def test_a_tenant_cannot_read_change_or_delete_another_tenants_rows(
    db: Database, acme: Company, globex: Company
) -> None:
    async with db.tenant(acme.tenant_id) as session:
        draft = await create_draft(
            session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id, plan=berlin_days()
        )
    async with db.tenant(globex.tenant_id) as session:
        assert (await session.scalar(select(func.count()).select_from(Itinerary))) == 0
        assert (await session.scalar(select(func.count()).select_from(ItineraryDetail))) == 0
        assert await session.get(Itinerary, (acme.tenant_id, draft.id)) is None
        changed = await session.execute(
            update(Itinerary).where(Itinerary.itinerary_id == draft.id).values(is_draft=False)
        )
        removed = await session.execute(delete(Itinerary).where(Itinerary.itinerary_id == draft.id))
        users_changed = await session.execute(
            update(TenantUser).where(TenantUser.tenant_id == acme.tenant_id).values(role="admin")
        )
        assert (changed.rowcount, removed.rowcount, users_changed.rowcount) == (0, 0, 0)  # type: ignore[attr-defined]
    async with db.tenant(acme.tenant_id) as session:
        assert (await session.get(Itinerary, (acme.tenant_id, draft.id))).status == "draft"  # type: ignore[union-attr]


async def test_a_tenant_cannot_insert_a_row_carrying_another_tenants_id(
    db: Database, acme: Company, globex: Company
) -> None:
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.tenant(globex.tenant_id) as session:
            session.add(
                TenantPreference(tenant_id=acme.tenant_id, preference_key="currency", preference_value="USD")
            )
            await session.flush()
    with pytest.raises(DBAPIError, match="row-level security"):
        async with db.tenant(globex.tenant_id) as session:
            await session.execute(update(TenantUser).values(tenant_id=acme.tenant_id))
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(TenantPreference)) == 0


async def test_a_child_row_cannot_reference_another_tenants_parent(
    db: Database, acme: Company, globex: Company
) -> None:
    async with db.tenant(acme.tenant_id) as session:
        draft = await create_draft(
            session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id, plan=berlin_days()
        )
    # Globex writes a booking under its own tenant that names Acme's itinerary: the composite key refuses it.
    with pytest.raises(IntegrityError, match="foreign key"):
        async with db.tenant(globex.tenant_id) as session:
            await create_booking(
                session,
                actor=Actor.user(globex.traveler_id),
                user_id=globex.traveler_id,
                itinerary_id=draft.id,
                booking_type="flight",
                details={"amount": "10", "currency": "EUR", "description": "x", "service_date": "2026-12-03"},
            )
    # Nor may Globex attach a row to Acme's user.
    with pytest.raises(IntegrityError, match="foreign key"):
        async with db.tenant(globex.tenant_id) as session:
            await create_draft(
                session, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id, plan=berlin_days()
            )
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 0


async def test_the_tenant_does_not_leak_to_the_next_transaction_on_a_pooled_connection(
    embedded: EmbeddedUrls, acme: Company
) -> None:
    single = Database(embedded.app_database_url, pool_size=1, max_overflow=0)
    try:
        async with single.tenant(acme.tenant_id) as session:
            first_pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert await session.scalar(select(func.count()).select_from(TenantUser)) == 2
        async with single.engine.connect() as connection:  # a raw transaction that binds no tenant
            assert await connection.scalar(text("SELECT pg_backend_pid()")) == first_pid
            assert await connection.scalar(text("SELECT current_setting('app.tenant_id', true)")) == ""
            assert await connection.scalar(select(func.count()).select_from(TenantUser)) == 0
        async with single.unscoped() as session:
            assert await session.scalar(select(func.count()).select_from(TenantUser)) == 0
    finally:
        await single.dispose()


async def test_cross_tenant_resolution_returns_ids_only(db: Database, acme: Company) -> None:
    async with db.unscoped() as session:
        definer = (
            await session.execute(
                text("SELECT proname, prosecdef FROM pg_proc WHERE proname LIKE 'resolve\\_%' ORDER BY 1")
            )
        ).all()
        assert [(name, secdef) for name, secdef in definer] == [
            ("resolve_identity", True),
            ("resolve_invite", True),
            ("resolve_workspace", True),
        ]
        assert (
            await session.execute(text("SELECT * FROM resolve_identity('slack', 'T1', 'U1')"))
        ).all() == []
    unknown = uuid.uuid4()
    assert await db.scalar("SELECT resolve_workspace('slack', '', :t)", t=str(unknown)) is None
