"""Tenants (companies) and their users (travellers and admins)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record_audit
from storage.errors import Conflict, NotFound
from storage.models import Tenant, TenantUser
from storage.sessions import current_tenant
from storage.validation import validate_model

Role = Literal["admin", "traveler"]
TenantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


class NewTenant(BaseModel):
    name: TenantName


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: TenantName
    email: Email | None = None
    role: Role = "traveler"
    timezone: str = "UTC"
    locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone such as Europe/Berlin") from None
        return value


async def create_tenant(session: AsyncSession, *, name: str, actor: Actor) -> Tenant:
    """Create the tenant the session is bound to (its id is the session's tenant id)."""
    tenant = Tenant(
        id=current_tenant(session),
        name=validate_model(NewTenant, {"name": name}, subject="The company name").name,
    )
    session.add(tenant)
    await session.flush()
    await record_audit(
        session, actor=actor, action="tenant.create", entity="tenant", entity_id=str(tenant.id)
    )
    return tenant


async def get_tenant(session: AsyncSession) -> Tenant:
    tenant = await session.get(Tenant, current_tenant(session))
    if tenant is None:
        raise NotFound("This company is not registered.")
    return tenant


async def list_tenants(session: AsyncSession) -> list[tuple[Tenant, int]]:
    """Every tenant the session may see, with its number of users (operators see all)."""
    users = select(func.count()).where(TenantUser.tenant_id == Tenant.id).scalar_subquery()
    rows = await session.execute(select(Tenant, users).order_by(Tenant.created_at, Tenant.name))
    return [(tenant, count) for tenant, count in rows.all()]


async def add_user(
    session: AsyncSession,
    *,
    actor: Actor,
    display_name: str,
    email: str | None = None,
    role: str = "traveler",
    timezone: str = "UTC",
    locale: str = "en",
) -> TenantUser:
    """Add a traveller or admin to the session's tenant. Audited; the email is kept out of the audit."""
    fields = validate_model(
        NewUser,
        {"display_name": display_name, "email": email, "role": role, "timezone": timezone, "locale": locale},
        subject="The user",
    )
    if fields.email and await find_user_by_email(session, email=fields.email):
        raise Conflict(f"A user with the email {fields.email} already exists in this company.")
    user = TenantUser(tenant_id=current_tenant(session), user_id=uuid.uuid4(), **fields.model_dump())
    session.add(user)
    await session.flush()
    await record_audit(
        session,
        actor=actor,
        action="user.add",
        entity="tenant_user",
        entity_id=str(user.user_id),
        details={"role": fields.role},
    )
    return user


async def get_user(session: AsyncSession, *, user_id: uuid.UUID) -> TenantUser:
    user = await session.get(TenantUser, (current_tenant(session), user_id))
    if user is None:
        raise NotFound("That user is not known in this company.")
    return user


async def find_user_by_email(session: AsyncSession, *, email: str) -> TenantUser | None:
    statement = select(TenantUser).where(func.lower(TenantUser.email) == email.strip().lower())
    return (await session.scalars(statement)).first()


async def display_names(session: AsyncSession, *, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The display names of these users of the session's tenant (the erased ones are missing)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(TenantUser.user_id, TenantUser.display_name).where(TenantUser.user_id.in_(user_ids))
    )
    return {user_id: name for user_id, name in rows}


async def list_users(session: AsyncSession, *, role: Role | None = None) -> list[TenantUser]:
    statement = select(TenantUser).order_by(TenantUser.display_name)
    if role:
        statement = statement.where(TenantUser.role == role)
    return list((await session.scalars(statement)).all())


async def set_role(session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, role: Role) -> TenantUser:
    user = await get_user(session, user_id=user_id)
    if user.role == "admin" and role != "admin":
        admins = await list_users(session, role="admin")
        if len(admins) <= 1:
            raise Conflict("A company needs at least one admin; make someone else admin first.")
    user.role = role
    await record_audit(
        session,
        actor=actor,
        action="user.role",
        entity="tenant_user",
        entity_id=str(user_id),
        details={"role": role},
    )
    return user
