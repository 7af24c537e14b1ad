"""Policy files shared with the bot in Slack: an admin's PDF or Markdown becomes the policy; others get a sentence."""

from __future__ import annotations

import httpx
import pytest

from storage.database import Database
from tests.fakes.slack_api import ACME, ADMIN, TRAVELLER, FakeSlack, SlackHarness, acme_workspace
from tests.policy_library import NORTHWIND, northwind_pdf
from tests.test_slack_commands import slack

__all__ = ["slack"]  # the fixture of the Slack command tests: Acme with its admin and traveller


async def share(slack: SlackHarness, user: str, name: str, content: bytes, mimetype: str) -> str:
    """The bot's answer in the DM thread of a shared file."""
    shared = slack.fake.share_file(
        ACME, user, name, content, mimetype=mimetype, filetype=name.rsplit(".")[-1]
    )
    response, event = await slack.send.file_share(ACME, user, shared, text="policy")  # offered as the policy
    assert response.status_code == 200
    await slack.settle()
    (answer,) = slack.fake.thread("D" + user, event["ts"])
    return answer.text


async def test_an_admin_shares_the_policy_as_pdf_and_as_markdown(
    slack: SlackHarness, owner_db: Database
) -> None:
    answer = await share(slack, ADMIN, "northwind-travel-policy.pdf", northwind_pdf(), "application/pdf")
    assert "Added the policy document 'Northwind Travel Policy'" in answer
    answer = await share(slack, ADMIN, "policy.md", NORTHWIND.read_bytes(), "text/markdown")
    assert "Added the policy document 'Northwind Travel Policy'" in answer
    assert len(slack.fake.called("files.info")) == 2
    added = await owner_db.scalar(
        "SELECT string_agg(media_type, ',' ORDER BY media_type) FROM policy_documents"
    )
    assert added == "markdown,pdf"


async def test_a_travellers_file_is_refused_without_being_downloaded(slack: SlackHarness) -> None:
    answer = await share(slack, TRAVELLER, "my-policy.md", NORTHWIND.read_bytes(), "text/markdown")
    assert "Only an admin of your company can add the travel-policy document" in answer
    assert slack.fake.called("files.info") == []


@pytest.mark.parametrize(
    ("name", "content", "mimetype", "sentence"),
    [
        ("locked.pdf", northwind_pdf(password="s3cret"), "application/pdf", "is encrypted with a password"),
        ("broken.pdf", b"%PDF-1.4\n%garbage that is no PDF", "application/pdf", "is not a PDF I can read"),
        ("photo.txt", bytes(range(256)) * 8, "text/plain", "is not a text, Markdown or PDF file I can read"),
        (
            "huge.md",
            b"# Policy\n\n" + b"word " * 2_200_000,
            "text/markdown",
            "a policy document can be at most 10 MB",
        ),
    ],
)
async def test_an_unreadable_file_gets_one_sentence(
    slack: SlackHarness, name: str, content: bytes, mimetype: str, sentence: str
) -> None:
    answer = await share(slack, ADMIN, name, content, mimetype)
    assert sentence in answer and "error id" not in answer


async def test_the_fake_hands_private_files_only_to_their_workspace_like_slack(fake_slack: FakeSlack) -> None:
    token = acme_workspace(fake_slack)
    fake_slack.add_workspace("T0OTHER", "Other")
    other = fake_slack.issue_token("T0OTHER")
    shared = fake_slack.share_file(
        ACME, ADMIN, "p.md", b"# P\n\ntext", mimetype="text/markdown", filetype="md"
    )
    async with httpx.AsyncClient(follow_redirects=False) as http:
        info = (
            await http.post(
                f"{fake_slack.base_url}files.info",
                data={"file": shared["id"]},
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
        url = info["file"]["url_private_download"]
        assert (await http.get(url, headers={"Authorization": f"Bearer {token}"})).content == b"# P\n\ntext"
        assert (await http.get(url)).status_code == 302
        assert (await http.get(url, headers={"Authorization": f"Bearer {other}"})).status_code == 302
        elsewhere = await http.post(
            f"{fake_slack.base_url}files.info",
            data={"file": shared["id"]},
            headers={"Authorization": f"Bearer {other}"},
        )
    assert elsewhere.json() == {"ok": False, "error": "file_not_found"}
