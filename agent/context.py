"""Who is asking, from the verified platform identity: passed to the graph as its runtime context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

from agent.replies import TurnOutput
from storage.models import TenantUser

Role = Literal["admin", "traveler"]
Channel = Literal["console", "slack", "telegram"]


@dataclass(frozen=True, kw_only=True)
class Context:
    """The caller of one turn. Identity fields have no defaults: no tenant, no access.

    Tools read it from the runtime; the model never sees or fills any of it.
    """

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    channel: Channel
    timezone: str
    locale: str
    display_name: str = ""
    # Tenant and user facts for the tail of the prompt, loaded once per turn by the conversation service.
    facts: str = ""
    # What the tools of this turn produced for the channel to render (cards, charts, a confirmation).
    output: TurnOutput = field(default_factory=lambda: TurnOutput())

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def with_facts(self, facts: str) -> Context:
        return Context(
            tenant_id=self.tenant_id,
            user_id=self.user_id,
            role=self.role,
            channel=self.channel,
            timezone=self.timezone,
            locale=self.locale,
            display_name=self.display_name,
            facts=facts,
            output=TurnOutput(),
        )


def user_context(user: TenantUser, *, channel: Channel) -> Context:
    """The Context of a verified tenant user: role, time zone and locale come from the database."""
    return Context(
        tenant_id=user.tenant_id,
        user_id=user.user_id,
        role="admin" if user.role == "admin" else "traveler",
        channel=channel,
        timezone=user.timezone,
        locale=user.locale,
        display_name=user.display_name,
    )
