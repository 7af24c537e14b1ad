"""With only the password of `serve`'s role, no SQL lists tenants, users or platform identities."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.identities import link_identity
from tests.conftest import Company

# Arguments that ask a function for as much as it will give: no lower bound, no limit, every date.
WIDE = {
    "uuid": None,
    "integer": 1_000_000,
    "bigint": 1_000_000,
    "date": "2999-12-31",
    "timestamp without time zone": "2999-12-31",
    "timestamp with time zone": "2999-12-31",
    "text": "",
    "bytea": b"",
}


async def known_values(db: Database, *companies: Company) -> list[str]:
    """Link a Slack and a Telegram identity per company; return every id, email and platform id held."""
    values = []
    for number, company in enumerate(companies):
        async with db.tenant(company.tenant_id) as session:
            for channel, workspace, external in (
                ("slack", f"T0SECRET{number}", f"U0SECRET{number}"),
                ("telegram", "", f"9876543{number}"),
            ):
                await link_identity(
                    session,
                    actor=Actor.user(company.traveler_id),
                    channel=channel,
                    workspace_id=workspace,
                    external_user_id=external,
                    user_id=company.traveler_id,
                    chat_id=external,
                )
                values += [workspace, external]
        values += [str(company.tenant_id), str(company.admin_id), str(company.traveler_id)]
        values += [f"admin@{company.name.lower()}.test", f"traveller@{company.name.lower()}.test"]
    return [value for value in values if value]


async def readable_relations(connection: psycopg.AsyncConnection[Any]) -> list[str]:
    """Every table and view of every schema, the catalog's included, that the role may SELECT from."""
    rows = await connection.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND has_table_privilege(c.oid, 'SELECT') ORDER BY 1"
    )
    return [row[0] for row in await rows.fetchall()]


async def executable_functions(connection: psycopg.AsyncConnection[Any]) -> list[tuple[str, list[str]]]:
    """Every function of the product's schemas that the role may execute, with its argument types."""
    rows = await connection.execute(
        "SELECT format('%I.%I', n.nspname, p.proname), "
        "ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t) "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%' "
        "AND p.prokind = 'f' AND has_function_privilege(p.oid, 'EXECUTE') ORDER BY 1"
    )
    return [(row[0], list(row[1])) for row in await rows.fetchall()]


async def everything_readable(url: str, *, tenant: uuid.UUID | None = None) -> tuple[str, list[str]]:
    """All text the role can get without knowing a tenant's id: relations dumped, functions called with
    NULLs and with the widest arguments. Returns the text and the functions that were callable."""
    found: list[str] = []
    called: list[str] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        if tenant is not None:
            await connection.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant),))
        for relation in await readable_relations(connection):
            try:
                cursor = await connection.execute(
                    sql.SQL("SELECT t::text FROM {} t").format(sql.SQL(relation))
                )
                found += [row[0] for row in await cursor.fetchall()]
            except psycopg.Error:
                continue  # a view that needs more than it grants: nothing was read
        for name, types in await executable_functions(connection):
            for arguments in ([None] * len(types), [WIDE.get(t) for t in types]):
                placeholders = sql.SQL(", ").join(
                    sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(t)) for t in types
                )
                statement = sql.SQL("SELECT t::text FROM {}({}) t").format(sql.SQL(name), placeholders)
                try:
                    cursor = await connection.execute(statement, arguments)
                    found += [str(row[0]) for row in await cursor.fetchall()]
                    called.append(name)
                except psycopg.Error:
                    continue
    return "\n".join(found), sorted(set(called))


def leaked(text: str, values: list[str]) -> list[str]:
    return [value for value in values if value in text]


async def test_serve_role_lists_no_tenant_user_or_platform_identity(
    db: Database, embedded: EmbeddedUrls, acme: Company, globex: Company
) -> None:
    values = await known_values(db, acme, globex)
    text, called = await everything_readable(embedded.app_database_url)
    assert leaked(text, values) == []
    # The probe really ran: it read the catalog and called the platform resolvers the role keeps.
    assert "travelmate_app" in text and "travelmate_worker" in text  # pg_roles, for one
    assert {"public.resolve_identity", "public.resolve_workspace", "public.resolve_invite"} <= set(called)
    assert not {"public.tenant_ids_after", "public.due_reminder_ids", "public.ended_trip_ids"} & set(called)


async def test_a_tenant_bound_by_a_guess_shows_nothing(
    db: Database, embedded: EmbeddedUrls, acme: Company
) -> None:
    values = await known_values(db, acme)
    text, _ = await everything_readable(embedded.app_database_url, tenant=uuid.uuid4())
    assert leaked(text, values) == []


async def test_the_worker_role_can_walk_the_tenants_so_the_probe_would_see_a_leak(
    db: Database, embedded: EmbeddedUrls, acme: Company, globex: Company
) -> None:
    values = await known_values(db, acme, globex)
    text, called = await everything_readable(embedded.worker_database_url)
    assert "public.tenant_ids_after" in called
    assert {str(acme.tenant_id), str(globex.tenant_id)} <= set(leaked(text, values))


@pytest.mark.parametrize(
    "function", ["tenant_ids_after(NULL, 1000)", "due_reminder_ids(now()::timestamp, NULL, NULL, 10)"]
)
async def test_serve_role_is_refused_the_enumerating_functions(embedded: EmbeddedUrls, function: str) -> None:
    async with await psycopg.AsyncConnection.connect(
        embedded.app_database_url, autocommit=True
    ) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await connection.execute(f"SELECT * FROM {function}")
