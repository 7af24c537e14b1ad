"""The agent answers policy questions from the company's own document and cites the passage it was given."""

from __future__ import annotations

import re
from typing import Any

from agent.conversation import ConversationService
from storage.database import Database
from tests.conftest import Company, traveller
from tests.fakes.scripted_model import Reply, ScriptedModel, call, say
from tests.policy_library import GLOBEX_POLICY, add_policy, northwind_library


def tool_results(model: ScriptedModel) -> list[str]:
    return [m["content"] for r in model.requests for m in r["messages"] if m["role"] == "tool"]


def quote_first_citation(request: dict[str, Any]) -> Reply | None:
    """A model that answers with the first passage it was given, quoted and cited as the prompt asks."""
    messages = request["messages"]
    if not any(m["role"] == "tool" for m in messages):
        return None
    result = next(m for m in reversed(messages) if m["role"] == "tool")
    cited = re.search(r"\[([^\]]+)\] [^\n]*\n([^\n]+)", result["content"])
    if cited is None:
        return say(result["content"])
    return say(f'"{cited.group(2)[:120]}" ({cited.group(1)})')


async def test_the_answer_quotes_and_cites_the_passage_of_the_askers_company(
    db: Database,
    conversation: ConversationService,
    scripted_model: ScriptedModel,
    acme: Company,
    globex: Company,
) -> None:
    library = northwind_library(db)
    await add_policy(library, acme)
    await add_policy(library, globex, filename="globex.md", content=GLOBEX_POLICY)
    scripted_model.responder = quote_first_citation
    scripted_model.script(call("search_policy", question="Can I expense the airport lounge?"))
    reply = await conversation.handle_message(traveller(acme), "c1", "Can I expense the airport lounge?")
    assert "Northwind Travel Policy §3.5" in reply.text
    assert "Single-visit lounge access is reimbursed up to 50 EUR" in reply.text
    (given,) = tool_results(scripted_model)
    assert "Aurora" not in given and "Globex" not in given

    scripted_model.reset()
    scripted_model.responder = quote_first_citation
    scripted_model.script(call("search_policy", question="lounge"))
    reply = await conversation.handle_message(traveller(globex), "c1", "Is the lounge paid?")
    assert "Globex Travel Rules §1.1" in reply.text and "Aurora lounge pass" in reply.text


async def test_without_a_document_the_agent_says_the_company_has_not_added_one(
    conversation: ConversationService, scripted_model: ScriptedModel, acme: Company
) -> None:
    scripted_model.responder = quote_first_citation
    scripted_model.script(call("search_policy", question="What's the per diem in Tokyo?"))
    reply = await conversation.handle_message(traveller(acme), "c1", "What's the per diem in Tokyo?")
    assert "has not added a travel-policy document" in reply.text
    assert "search_policy" in scripted_model.tool_schemas()
    instructions = scripted_model.messages()[0]["content"]
    assert "cite the bracketed reference" in instructions
