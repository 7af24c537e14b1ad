"""`travelmate policy add` and `travelmate policy reindex` against the test database and the scripted model."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from agent.travel_memory import TravellerMemory
from storage.database import Database
from storage.embedded import EmbeddedUrls
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel
from tests.policy_library import EMBEDDING_MODEL, NORTHWIND
from tests.test_cli import travelmate


async def embeddings_of(
    owner_db: Database, company: Company, table: str = "policy_passages"
) -> list[tuple[str | None, int | None, int]]:
    async with owner_db.unscoped() as session:
        rows = await session.execute(
            text(
                f"SELECT embedding_model, embedding_dimensions, count(*) FROM {table} WHERE tenant_id = :t "
                "GROUP BY 1, 2"
            ),
            {"t": company.tenant_id},
        )
        return [(r[0], r[1], int(r[2])) for r in rows.all()]


@pytest.mark.slow  # six CLI processes, each starting the product
async def test_an_operator_adds_a_document_and_reindexes_it_without_mixing_models(
    embedded: EmbeddedUrls,
    db: Database,
    owner_db: Database,
    scripted_model: ScriptedModel,
    acme: Company,
    globex: Company,
) -> None:
    env = dict(os.environ)
    memory = TravellerMemory(db)  # remembered while no embedding model was configured
    for fact in ("Prefers aisle seats", "Avoids red-eye flights"):
        await memory.remember(tenant_id=acme.tenant_id, user_id=acme.traveler_id, fact=fact)
    added = travelmate("policy", "add", "--tenant", "Acme", str(NORTHWIND), env=env)
    assert added.returncode == 0, added.stderr
    assert "Acme: Added the policy document 'Northwind Travel Policy'" in added.stdout
    ((model, dimensions, passages),) = await embeddings_of(owner_db, acme)
    assert model is None and dimensions is None and passages > 50

    assert "nothing to embed" in travelmate("policy", "reindex", env=env).stdout
    env.update(
        OPENAI_BASE_URL=scripted_model.base_url,
        OPENAI_API_KEY="test",
        TRAVELMATE_EMBEDDING_MODEL=EMBEDDING_MODEL,
        TRAVELMATE_EMBEDDING_DIMENSIONS="384",
    )
    reindexed = travelmate("policy", "reindex", env=env)
    assert reindexed.returncode == 0, reindexed.stderr
    assert (
        f"Embedded {passages} passages and 2 memories with {EMBEDDING_MODEL} (384 dimensions)"
        in reindexed.stdout
    )
    assert await embeddings_of(owner_db, acme) == [(EMBEDDING_MODEL, 384, passages)]
    assert await embeddings_of(owner_db, acme, "travel_memories") == [(EMBEDDING_MODEL, 384, 2)]

    env.update(TRAVELMATE_EMBEDDING_MODEL="other-model", TRAVELMATE_EMBEDDING_DIMENSIONS="768")
    mismatch = travelmate("policy", "reindex", env=env)
    assert mismatch.returncode == 1 and "returned 384 dimensions" in " ".join(mismatch.stderr.split())
    assert await embeddings_of(owner_db, acme) == [(EMBEDDING_MODEL, 384, passages)]  # nothing mixed

    env.update(TRAVELMATE_EMBEDDING_MODEL="text-embedding-3-small")  # asks the server for 768 dimensions
    moved = travelmate("policy", "reindex", "--tenant", "Acme", env=env)
    assert f"Embedded {passages} passages and 2 memories" in moved.stdout, moved.stderr
    assert await embeddings_of(owner_db, acme) == [("text-embedding-3-small", 768, passages)]
    assert await embeddings_of(owner_db, acme, "travel_memories") == [("text-embedding-3-small", 768, 2)]
    assert await embeddings_of(owner_db, globex) == []

    missing = travelmate("policy", "add", "--tenant", "Acme", str(NORTHWIND.with_name("nope.md")), env=env)
    assert missing.returncode == 1 and "There is no file at" in missing.stderr
