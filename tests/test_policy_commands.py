"""/policy add, list and remove: admins manage the company's documents; everyone sees only their own company's."""

from __future__ import annotations

from pathlib import Path

from agent.commands import CommandRunner
from agent.context import Context
from storage.database import Database
from tests.conftest import NOW, Company, traveller
from tests.policy_library import GLOBEX_POLICY, NORTHWIND


def admin(company: Company, channel: str = "console") -> Context:
    return traveller(company, role="admin", channel=channel)


async def test_an_admin_adds_lists_and_removes_a_document_in_the_console(
    db: Database, acme: Company, globex: Company, tmp_path: Path
) -> None:
    commands = CommandRunner(db, clock=lambda: NOW)
    added = await commands.run(admin(acme), f"/policy add {NORTHWIND}")
    assert "Added the policy document 'Northwind Travel Policy'" in added.text
    globex_file = tmp_path / "globex rules.md"
    globex_file.write_bytes(GLOBEX_POLICY)
    await commands.run(admin(globex), f"/policy add '{globex_file}'")

    listed = (await commands.run(traveller(acme), "/policy list")).text
    assert "Northwind Travel Policy" in listed and "Globex" not in listed
    assert "Globex Travel Rules" in (await commands.run(traveller(globex), "/policy list")).text
    again = await commands.run(admin(acme), f"/policy add {NORTHWIND}")
    assert "already added as 'Northwind Travel Policy'" in again.text

    short_id = listed.splitlines()[1].split()[0]
    refused = await commands.run(traveller(acme), f"/policy remove {short_id}")
    assert refused.text == "Only an admin of your company can add or remove travel-policy documents."
    elsewhere = await commands.run(admin(globex), f"/policy remove {short_id}")
    assert "No single policy document has the id" in elsewhere.text
    removed = await commands.run(admin(acme), f"/policy remove {short_id}")
    assert removed.text == "Removed the policy document 'Northwind Travel Policy'."
    assert "has not added" in (await commands.run(traveller(acme), "/policy list")).text
    assert "Globex Travel Rules" in (await commands.run(traveller(globex), "/policy list")).text


async def test_policy_alone_still_shows_the_policy_keys(db: Database, acme: Company) -> None:
    reply = await CommandRunner(db, clock=lambda: NOW).run(traveller(acme), "/policy")
    assert reply.text.startswith("Company policy and preferences:")


async def test_bad_files_and_callers_get_one_sentence(db: Database, acme: Company, tmp_path: Path) -> None:
    commands = CommandRunner(db, clock=lambda: NOW)
    garbage = tmp_path / "policy.txt"
    garbage.write_bytes(bytes(range(256)) * 40)
    fake_pdf = tmp_path / "policy.pdf"
    fake_pdf.write_bytes(b"%PDF-1.7\nthis is not really a PDF at all")
    cases = {
        f"/policy add {tmp_path / 'missing.md'}": "There is no file at",
        f"/policy add {garbage}": "policy.txt is not a text, Markdown or PDF file I can read",
        f"/policy add {fake_pdf}": "policy.pdf is not a PDF I can read",
        "/policy add": "Usage: /policy add PATH",
        "/policy remove": "Usage: /policy remove ID",
    }
    for command, sentence in cases.items():
        assert sentence in (await commands.run(admin(acme), command)).text
    assert "Only an admin" in (await commands.run(traveller(acme), f"/policy add {NORTHWIND}")).text
    in_slack = await commands.run(admin(acme, "slack"), f"/policy add {NORTHWIND}")
    assert "send the policy file itself" in in_slack.text
    assert "has not added" in (await commands.run(traveller(acme), "/policy list")).text
