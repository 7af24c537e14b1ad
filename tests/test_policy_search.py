"""Policy documents: passages found by full text or hybrid search, only ever within the asking tenant."""

from __future__ import annotations

from sqlalchemy import text

from agent.policy_reader import read_policy_file
from storage.database import Database
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel
from tests.policy_library import (
    GLOBEX_POLICY,
    NORTHWIND,
    add_policy,
    labelled_questions,
    northwind_library,
    northwind_pdf,
    top5_hit_rate,
)


async def test_full_text_search_finds_the_expected_passage_in_the_top_five(
    db: Database, acme: Company
) -> None:
    library = northwind_library(db)
    assert await add_policy(library, acme) >= 60
    rate = await top5_hit_rate(library, acme)
    print(f"\nfull-text top-5 hit rate: {rate:.0%} of {len(labelled_questions())} questions")
    assert len(labelled_questions()) >= 30
    assert rate >= 0.8


async def test_hybrid_search_is_not_worse_than_full_text(
    db: Database, acme: Company, scripted_model: ScriptedModel
) -> None:
    full_text, hybrid = northwind_library(db), northwind_library(db, scripted_model)
    await add_policy(hybrid, acme)
    full_text_rate = await top5_hit_rate(full_text, acme)
    hybrid_rate = await top5_hit_rate(hybrid, acme)
    print(f"\ntop-5 hit rate: full text {full_text_rate:.0%}, hybrid {hybrid_rate:.0%}")
    assert hybrid_rate >= full_text_rate


async def test_a_tenant_finds_only_its_own_passages_even_in_raw_sql(
    db: Database, acme: Company, globex: Company
) -> None:
    library = northwind_library(db)
    await add_policy(library, acme)
    await add_policy(library, globex, filename="globex.md", content=GLOBEX_POLICY)
    acme_hits = await library.search(acme.tenant_id, "lounge access")
    globex_hits = await library.search(globex.tenant_id, "lounge access")
    assert acme_hits and all(hit.document_title == "Northwind Travel Policy" for hit in acme_hits)
    assert [hit.document_title for hit in globex_hits] == ["Globex Travel Rules"]
    assert "Aurora" in globex_hits[0].body
    async with db.tenant(globex.tenant_id) as session:
        seen = (await session.execute(text("SELECT DISTINCT tenant_id FROM policy_passages"))).scalars().all()
        memories = await session.scalar(text("SELECT count(*) FROM policy_documents"))
    assert seen == [globex.tenant_id] and memories == 1
    async with db.unscoped() as session:
        assert await session.scalar(text("SELECT count(*) FROM policy_passages")) == 0


def test_the_pdf_keeps_the_sections_of_the_markdown_it_was_printed_from() -> None:
    printed = read_policy_file("northwind-travel-policy.pdf", northwind_pdf())
    written = read_policy_file("northwind.md", NORTHWIND.read_bytes())
    assert printed.pages == 15 and printed.title == written.title == "Northwind Travel Policy"
    sections = [{p.heading_path for p in f.passages if " > " in p.heading_path} for f in (printed, written)]
    assert sections[0] == sections[1] and "3 Air travel > 3.5 Airport lounges" in sections[0]
