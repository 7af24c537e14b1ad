"""Operator commands: set up the database, create tenants and users, without any chat platform."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import uuid
import zipfile
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text

from storage.audit import OPERATOR
from storage.database import Database
from storage.errors import Conflict, InvalidInput, NotFound
from storage.identities import create_invite
from storage.models import Tenant, TenantUser
from storage.privacy import remove_travel_rows
from storage.tenants import NewTenant, NewUser, add_user, create_tenant, find_user_by_email, list_tenants
from storage.validation import validate_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantSummary:
    id: uuid.UUID
    name: str
    users: int
    created: str


def check_new_tenant(*, name: str, admin_name: str | None, admin_email: str | None, timezone: str) -> None:
    """Refuse bad options of `tenant create` before anything starts, whichever of them are given."""
    validate_model(NewTenant, {"name": name}, subject="The company name")
    if admin_email and not admin_name:
        raise InvalidInput("--admin-email needs --admin-name: the first admin is added with both.")
    check_new_user(name=admin_name, email=admin_email, role="admin", timezone=timezone, subject="The admin")


def check_new_user(*, name: str | None, email: str | None, role: str, timezone: str, subject: str) -> None:
    """Refuse a bad name, email, role or time zone before anything starts (`user add`, `tenant create`)."""
    person = {"display_name": name or "unnamed", "email": email, "role": role, "timezone": timezone}
    validate_model(NewUser, person, subject=subject)


async def find_tenant(owner: Database, reference: str) -> Tenant:
    """A tenant by id or by exact name (case-insensitive), seen as the owner across tenants."""
    async with owner.unscoped() as session:
        try:
            tenant = await session.get(Tenant, uuid.UUID(reference))
        except ValueError:
            matches = (
                await session.scalars(
                    select(Tenant).where(func.lower(Tenant.name) == reference.strip().lower())
                )
            ).all()
            if len(matches) > 1:
                raise Conflict(
                    f"{len(matches)} tenants are named '{reference}'; give the id instead."
                ) from None
            tenant = matches[0] if matches else None
    if tenant is None:
        raise NotFound(
            f"No tenant is named or numbered '{reference}'. `travelmate tenant list` shows them all."
        )
    return tenant


async def create_tenant_with_admin(
    app: Database,
    owner: Database,
    *,
    name: str,
    admin_name: str | None,
    admin_email: str | None,
    timezone: str,
) -> tuple[Tenant, TenantUser | None]:
    """Create a tenant (and optionally its first admin) through the application role, under RLS."""
    async with owner.unscoped() as session:
        taken = await session.scalar(
            select(func.count()).where(func.lower(Tenant.name) == name.strip().lower())
        )
    if taken:
        raise Conflict(f"A tenant named '{name.strip()}' already exists.")
    tenant_id = uuid.uuid4()
    async with app.tenant(tenant_id) as session:
        tenant = await create_tenant(session, name=name, actor=OPERATOR)
        admin = None
        if admin_name:
            admin = await add_user(
                session,
                actor=OPERATOR,
                display_name=admin_name,
                email=admin_email,
                role="admin",
                timezone=timezone,
            )
    return tenant, admin


async def tenant_summaries(owner: Database) -> list[TenantSummary]:
    async with owner.unscoped() as session:
        return [
            TenantSummary(t.id, t.name, users, t.created_at.strftime("%Y-%m-%d %H:%M"))
            for t, users in await list_tenants(session)
        ]


async def add_tenant_user(
    app: Database, owner: Database, *, tenant: str, name: str, email: str | None, role: str, timezone: str
) -> tuple[Tenant, TenantUser]:
    found = await find_tenant(owner, tenant)
    async with app.tenant(found.id) as session:
        user = await add_user(
            session, actor=OPERATOR, display_name=name, email=email, role=role, timezone=timezone
        )
    return found, user


async def invite_traveller(
    app: Database, owner: Database, *, tenant: str, email: str, days: int, now: dt.datetime
) -> tuple[Tenant, TenantUser, str]:
    """A one-time Telegram link code for an existing user of a tenant."""
    found = await find_tenant(owner, tenant)
    async with app.tenant(found.id) as session:
        user = await find_user_by_email(session, email=email)
        if user is None:
            raise NotFound(
                f"No user with the email {email} in {found.name}; add them with `travelmate user add`."
            )
        code = await create_invite(
            session, actor=OPERATOR, user_id=user.user_id, now=now, ttl=dt.timedelta(days=days)
        )
    return found, user, code


async def export_tenant(
    app: Database, owner: Database, *, tenant: str
) -> tuple[Tenant, bytes, dict[str, int]]:
    """Every row of one tenant, table by table, as a zip of JSON files (read under the tenant's own RLS)."""
    found = await find_tenant(owner, tenant)
    async with owner.unscoped() as session:
        tables = (await session.execute(text(_TENANT_TABLES))).scalars().all()
    buffer, counts = io.BytesIO(), {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        async with app.tenant(found.id) as session:
            for table in ["public.tenants", *tables]:
                rows = (await session.execute(text(f"SELECT to_jsonb(t) FROM {table} t"))).scalars().all()
                counts[table] = len(rows)
                bundle.writestr(f"{table}.json", json.dumps(rows, indent=2, ensure_ascii=False, default=str))
    return found, buffer.getvalue(), counts


async def delete_tenant(app: Database, owner: Database, *, tenant: str) -> Tenant:
    """Remove a tenant and everything of it: every tenant table, conversation checkpoints too, cascades from it."""
    found = await find_tenant(owner, tenant)
    async with app.tenant(found.id) as session:
        await remove_travel_rows(session, user_id=None)
        await session.execute(delete(Tenant).where(Tenant.id == found.id))
    log.warning("operator deleted tenant %s and all of its data", found.id)
    return found


_TENANT_TABLES = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped "
    "WHERE c.relkind = 'r' AND n.nspname IN ('public', 'users') ORDER BY 1"
)
