"""The Northwind policy document, its labelled questions and policy libraries for tests."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from langchain_openai import OpenAIEmbeddings
from pydantic import SecretStr

from agent.embeddings import Embedder
from agent.policy_library import PolicyLibrary
from storage.audit import Actor
from storage.database import Database
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel

DATA = Path(__file__).parent / "data"
NORTHWIND = DATA / "northwind_travel_policy.md"
GLOBEX_POLICY = b"""# Globex Travel Rules

## 1 Lounges

### 1.1 Lounge access

Globex pays the Aurora lounge pass for every traveller flying more than two hours.

## 2 Meals

### 2.1 Daily allowance

The Globex daily meal allowance is 40 EUR everywhere in the world.
"""
EMBEDDING_MODEL = "scripted-embedding"


def labelled_questions() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads((DATA / "policy_questions.json").read_text())
    return loaded


def embedder(server: ScriptedModel, *, dimensions: int = 384, model: str = EMBEDDING_MODEL) -> Embedder:
    """The product's embedder against the scripted server's /v1/embeddings."""
    client = OpenAIEmbeddings(
        model=model,
        openai_api_base=server.base_url,
        openai_api_key=SecretStr("test-key"),
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    return Embedder(model=model, dimensions=dimensions, client=client)


async def add_policy(
    library: PolicyLibrary, company: Company, *, filename: str = NORTHWIND.name, content: bytes | None = None
) -> int:
    _document, passages = await library.add(
        tenant_id=company.tenant_id,
        actor=Actor.user(company.admin_id),
        filename=filename,
        content=NORTHWIND.read_bytes() if content is None else content,
        is_admin=True,
    )
    return passages


def section_of(heading_path: str) -> str:
    found = re.match(r"(\d+(?:\.\d+)*)", heading_path.split(" > ")[-1])
    return found.group(1) if found else heading_path


async def top5_hit_rate(library: PolicyLibrary, company: Company) -> float:
    """The share of labelled questions whose expected section is among the first five passages."""
    questions = labelled_questions()
    hits = 0
    for item in questions:
        found = await library.search(company.tenant_id, item["question"], limit=5)
        hits += item["section"] in {section_of(hit.heading_path) for hit in found}
    return hits / len(questions)


def northwind_library(db: Database, server: ScriptedModel | None = None) -> PolicyLibrary:
    return PolicyLibrary(db, embedder(server) if server is not None else None)


def northwind_pdf(*, password: str | None = None) -> bytes:
    """The Northwind policy as a PDF, headings on their own lines, optionally locked with a password."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    pdf = FPDF()
    pdf.set_margins(25, 25)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    for block in NORTHWIND.read_text().split("\n\n"):
        heading = block.startswith("#")
        pdf.set_font("Helvetica", "B" if heading else "", 14 if heading else 12)
        pdf.multi_cell(0, 8, block.lstrip("# ").strip(), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(5)
    content = bytes(pdf.output())
    if password is None:
        return content
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(content)))
    writer.encrypt(user_password=password, algorithm="AES-128")
    locked = io.BytesIO()
    writer.write(locked)
    return locked.getvalue()
