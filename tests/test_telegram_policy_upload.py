"""Policy documents sent to the bot on Telegram: an admin's PDF or Markdown is added, others get a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from storage.database import Database
from storage.embedded import EmbeddedUrls
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.telegram_api import FakeTelegramAPI, TelegramUser
from tests.policy_library import EMBEDDING_MODEL, NORTHWIND, northwind_pdf
from tests.test_telegram_harness import (
    ALEX,
    ROBIN,
    TelegramBot,
    running_bot,
    telegram_api,
    telegram_settings,
)

__all__ = ["telegram_api"]  # a fixture used by name


@pytest.fixture
async def bot(
    db: Database,
    embedded: EmbeddedUrls,
    scripted_model: ScriptedModel,
    telegram_api: FakeTelegramAPI,
    acme: Company,
) -> AsyncIterator[TelegramBot]:
    """The bot with embeddings from the scripted server, Robin linked as Acme's admin, Alex as its traveller."""
    telegram_api.reset()
    settings = telegram_settings(
        telegram_api,
        scripted_model,
        embedded,
        TRAVELMATE_EMBEDDING_MODEL=EMBEDDING_MODEL,
        TRAVELMATE_EMBEDDING_DIMENSIONS=384,
    )
    async with running_bot(settings, embedded, telegram_api, scripted_model) as running:
        await running.link(acme, ROBIN, admin=True)
        await running.link(acme, ALEX)
        yield running
    telegram_api.reset()


async def send(
    bot: TelegramBot,
    person: TelegramUser,
    name: str,
    content: bytes,
    mime_type: str,
    *,
    caption: str = "policy",
) -> str:
    document = bot.api.add_document(content, file_name=name, mime_type=mime_type)
    await bot.deliver(
        bot.updates.document(
            person,
            document["file_id"],
            file_name=name,
            size=len(content),
            mime_type=mime_type,
            caption=caption,  # "policy": the sender offers the file as the company's policy document
        )
    )
    return bot.api.texts(person.id)[-1]


async def test_an_admin_sends_the_policy_as_pdf_and_markdown_and_it_is_embedded(
    bot: TelegramBot, owner_db: Database, acme: Company
) -> None:
    answer = await send(bot, ROBIN, "northwind-travel-policy.pdf", northwind_pdf(), "application/pdf")
    assert "Added the policy document" in answer and "Northwind Travel Policy" in answer
    answer = await send(bot, ROBIN, "policy.md", NORTHWIND.read_bytes(), "text/markdown")
    assert "Added the policy document" in answer
    assert len(bot.api.calls_to("getFile")) == 2
    async with owner_db.unscoped() as session:
        embedded_rows = (
            await session.execute(
                text(
                    "SELECT DISTINCT d.media_type, p.embedding_model, p.embedding_dimensions FROM policy_passages p "
                    "JOIN policy_documents d USING (tenant_id, document_id) WHERE p.tenant_id = :t ORDER BY 1"
                ),
                {"t": acme.tenant_id},
            )
        ).all()
    assert embedded_rows == [("markdown", EMBEDDING_MODEL, 384), ("pdf", EMBEDDING_MODEL, 384)]
    hits = await bot.product.commands.library.search(acme.tenant_id, "Can I expense the airport lounge?")
    assert hits[0].citation.endswith("§3.5")


async def test_an_admins_file_without_the_word_policy_is_read_as_a_forwarded_confirmation(
    bot: TelegramBot, owner_db: Database, acme: Company
) -> None:
    answer = await send(bot, ROBIN, "policy.md", NORTHWIND.read_bytes(), "text/markdown", caption="my hotel")
    assert "Added the policy document" not in answer
    async with owner_db.unscoped() as session:
        documents = await session.scalar(
            text("SELECT count(*) FROM policy_documents WHERE tenant_id = :t"), {"t": acme.tenant_id}
        )
    assert documents == 0


async def test_a_travellers_document_is_refused_without_being_downloaded(bot: TelegramBot) -> None:
    answer = await send(bot, ALEX, "policy.md", NORTHWIND.read_bytes(), "text/markdown")
    assert "Only an admin of your company can add the travel-policy document" in answer
    assert bot.api.calls_to("getFile") == []


@pytest.mark.parametrize(
    ("name", "content", "mime_type", "sentence", "downloaded"),
    [
        (
            "locked.pdf",
            northwind_pdf(password="s3cret"),
            "application/pdf",
            "is encrypted with a password",
            True,
        ),
        ("scan.pdf", b"%PDF-1.4\n\x00\x01 not a PDF", "application/pdf", "is not a PDF I can read", True),
        (
            "notes.txt",
            bytes(range(256)) * 8,
            "text/plain",
            "is not a text, Markdown or PDF file I can read",
            True,
        ),
        ("huge.md", b"# P\n\n" + b"x" * (11 * 1024 * 1024), "text/markdown", "can be at most 10 MB", False),
    ],
)
async def test_an_unreadable_document_gets_one_sentence(
    bot: TelegramBot, name: str, content: bytes, mime_type: str, sentence: str, downloaded: bool
) -> None:
    answer = await send(bot, ROBIN, name, content, mime_type)
    assert sentence in answer and "error id" not in answer
    assert bool(bot.api.calls_to("getFile")) == downloaded
