"""`/audit`: the latest entries of the company's audit log, each with who, what, which record and why."""

from __future__ import annotations

from typing import Any

from agent.command_arguments import count
from agent.context import Context
from agent.replies import AgentReply
from storage.audit import recent_audit
from storage.database import Database
from storage.errors import Forbidden


def _why(details: dict[str, Any] | None) -> str:
    """For a policy decision: how many rules it let through and the justification given, if any; for an
    answer in an approval chain, its step."""
    reasons = (details or {}).get("reasons")
    step = (details or {}).get("step")
    if isinstance(step, str) and details is not None:  # one step of a trip's approval chain
        escalated = ", escalated after the timeout" if details.get("escalated") else ""
        following = f"; {details['next']} next" if details.get("next") else ""
        return f" ({step} step{escalated}{following})"
    if not isinstance(reasons, list):
        return ""
    justification = (details or {}).get("justification")
    said = f': "{justification}"' if justification else ""
    return f" ({len(reasons)} {'reason' if len(reasons) == 1 else 'reasons'} out of policy{said})"


async def audit_command(db: Database, ctx: Context, rest: str) -> AgentReply:
    """`audit [N]`: the latest N entries of the tenant's audit log, for admins."""
    if not ctx.is_admin:
        raise Forbidden("The audit log is for admins of your company.")
    limit = count(rest, default=20, low=1, high=50, usage="{/}audit 20")
    async with db.tenant(ctx.tenant_id) as session:
        entries = await recent_audit(session, limit=limit)
    if not entries:
        return AgentReply.say("The audit log is empty.")
    lines = [f"The latest {len(entries)} audit entries (UTC):"]
    lines += [
        f"  {e.occurred_at:%Y-%m-%d %H:%M:%S} {e.actor}{' ' + str(e.actor_user_id)[:8] if e.actor_user_id else ''} "
        f"{e.action} {e.entity}{' ' + e.entity_id if e.entity_id else ''}{_why(e.details)}"
        for e in entries
    ]
    return AgentReply.say("\n".join(lines))
