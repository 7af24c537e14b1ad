"""Privacy of memories and policy passages: exported with the traveller, erased with them, gone with the tenant."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import text

from agent.checkpoints import checkpoint_saver
from agent.privacy import export_bundle, forget_user
from agent.travel_memory import TravellerMemory
from bot.operator_commands import delete_tenant
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from tests.conftest import Company
from tests.policy_library import GLOBEX_POLICY, add_policy, northwind_library
from tests.test_privacy import places_holding

SECRET_HOTEL = "Never the Hotel Zebra-4417 again"


async def test_memories_are_exported_and_erased_with_their_traveller(
    db: Database, owner_db: Database, embedded: EmbeddedUrls, acme: Company
) -> None:
    memory = TravellerMemory(db)
    await memory.remember(tenant_id=acme.tenant_id, user_id=acme.traveler_id, fact=SECRET_HOTEL)
    await memory.remember(tenant_id=acme.tenant_id, user_id=acme.admin_id, fact="Likes window seats")
    async with checkpoint_saver(embedded.app_database_url, max_size=2) as saver:
        bundle = await export_bundle(db, saver, tenant_id=acme.tenant_id, user_id=acme.traveler_id)
        data = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("export.json"))
        assert [m["fact"] for m in data["travel_memories"]] == [SECRET_HOTEL]
        assert await places_holding(owner_db, "Zebra-4417") == ["public.travel_memories"]
        await forget_user(
            db, saver, tenant_id=acme.tenant_id, actor=Actor.user(acme.traveler_id), user_id=acme.traveler_id
        )
    assert await places_holding(owner_db, "Zebra-4417") == []
    async with db.tenant(acme.tenant_id) as session:
        assert await session.scalar(text("SELECT count(*) FROM travel_memories")) == 1  # the admin's


async def test_deleting_a_tenant_removes_its_documents_passages_and_memories(
    db: Database, owner_db: Database, acme: Company, globex: Company
) -> None:
    library = northwind_library(db)
    await add_policy(library, acme)
    await add_policy(library, globex, filename="globex.md", content=GLOBEX_POLICY)
    await TravellerMemory(db).remember(tenant_id=acme.tenant_id, user_id=acme.traveler_id, fact=SECRET_HOTEL)
    await delete_tenant(db, owner_db, tenant=str(acme.tenant_id))
    async with owner_db.unscoped() as session:
        for table in ("policy_documents", "policy_passages", "travel_memories"):
            left = await session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": acme.tenant_id}
            )
            assert left == 0, table
        assert await session.scalar(text("SELECT count(*) FROM policy_passages")) > 0  # Globex's remain
