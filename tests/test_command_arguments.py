"""Every slash command in every channel answers any input with a sentence, never an exception."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.checkpoints import checkpoint_saver
from agent.command_arguments import count, duration
from agent.commands import COMMANDS, CommandRunner
from agent.context import Context
from storage.audit import Actor
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.errors import InvalidInput
from storage.itineraries import CONFIRMED, create_draft, set_status
from tests.conftest import NOW, Company, make_company, traveller
from tests.fakes.scripted_model import ScriptedModel
from tests.fakes.slack_api import ADMIN, FakeSlack, acme_slack
from tests.test_agent_booking import berlin_days
from tests.test_slack_commands import run as run_slack
from tests.test_telegram_harness import ALEX, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

# How each channel hands a command to the shared runner: console and Telegram type "/name", Slack
# "/travelmate name" (its runner gets "/" + the text and answers with its own prefix).
CHANNELS = {"console": "/", "telegram": "/", "slack": "/travelmate "}
NAMES = sorted({c.name.split()[0] for c in COMMANDS} | {"start", "policy", "me", "nonsense", ""})
SUBCOMMANDS = sorted({" ".join(c.name.split()[1:]) for c in COMMANDS} | {"snooze", "mute", "unmute", "erase"})
AWKWARD = [
    "²",
    "٣",
    "99999999d",
    "99999999999999999999",
    "-1",
    "0",
    "1e9",
    "\x00",
    "\u200b",
    "\ud800",
    "",
    " ",
]

argument = st.one_of(
    st.text(max_size=40),
    st.sampled_from(AWKWARD),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**12), st.sampled_from("dhmDHMx²")),
)


def is_sentence(text: str) -> bool:
    stripped = text.strip()
    starts = bool(stripped) and (stripped[0].isupper() or stripped[0].isdigit() or stripped[0] in "'\"")
    return starts and "Traceback" not in text and "Error" not in stripped.split(":")[0]


async def booked_trip(db: Database, company: Company) -> str:
    """A confirmed trip of the traveller, so TRIP arguments can name a real one."""
    async with db.tenant(company.tenant_id) as session:
        draft = await create_draft(
            session, actor=Actor.user(company.traveler_id), user_id=company.traveler_id, plan=berlin_days()
        )
        await set_status(
            session, actor=Actor.user(company.traveler_id), itinerary_id=draft.id, status=CONFIRMED
        )
    return draft.id.hex[:8]


_company: dict[str, tuple[Company, str]] = {}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    channel=st.sampled_from(sorted(CHANNELS)),
    admin=st.booleans(),
    name=st.sampled_from(NAMES),
    sub=st.sampled_from(["", *SUBCOMMANDS]),
    trip=st.booleans(),
    arguments=st.lists(argument, max_size=3),
)
async def test_every_command_answers_arbitrary_arguments_with_a_sentence(
    db: Database,
    embedded: EmbeddedUrls,
    channel: str,
    admin: bool,
    name: str,
    sub: str,
    trip: bool,
    arguments: list[str],
) -> None:
    if "company" not in _company:  # one company for all examples; the `db` fixture wipes it afterwards
        company = await make_company(db, f"Prop{uuid.uuid4().hex[:6]}")
        _company["company"] = (company, await booked_trip(db, company))
    company, short = _company["company"]
    ctx: Context = traveller(company, role="admin" if admin else "traveler", channel=channel)
    words = [w for w in (sub, short if trip else "", *arguments) if w]
    if "forget-me" in words or "erase" in words:
        words = [w for w in words if w != "confirm"]  # the property is about parsing, not erasing the caller
    text = "/" + " ".join([name, *words])
    async with checkpoint_saver(embedded.app_database_url, max_size=1) as saver:
        reply = await CommandRunner(db, clock=lambda: NOW, saver=saver).run(
            ctx, text, prefix=CHANNELS[channel]
        )
    assert is_sentence(reply.text), (text, reply.text)


@pytest.fixture(autouse=True, scope="module")
def _forget_company() -> None:
    _company.clear()


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/audit ²", "'²' is not a number; write it in digits, e.g. /audit 20."),
        (
            "/audit 99999999999999999999",
            "'99999999999999999999' is not a number; write it in digits, e.g. /audit 20.",
        ),
        ("/reminders snooze TRIP ²d", "'²d' is not a duration; write 2d, 12h or 90m."),
        ("/reminders snooze TRIP 99999999d", "That is too far ahead; the longest is 365 days."),
        ("/reminders snooze TRIP 0d", "'0d' is not a duration; write 2d, 12h or 90m."),
        (
            "/privacy export \x00@acme.test",
            "That command contains control characters I cannot read; please type it again.",
        ),
    ],
)
async def test_the_reported_inputs_get_their_sentence(
    db: Database, embedded: EmbeddedUrls, acme: Company, text: str, answer: str
) -> None:
    short = await booked_trip(db, acme)
    async with checkpoint_saver(embedded.app_database_url, max_size=1) as saver:
        runner = CommandRunner(db, clock=lambda: NOW, saver=saver)
        caller = traveller(acme, role="admin" if text.startswith("/audit") else "traveler")
        reply = await runner.run(caller, text.replace("TRIP", short))
    assert reply.text == answer


def test_counts_and_durations_are_bounded_and_ascii() -> None:
    assert count("", default=20, low=1, high=50, usage="audit 20") == 20
    assert count("500", default=20, low=1, high=50, usage="audit 20") == 50
    assert duration("12H") == dt.timedelta(hours=12)
    for bad in ("²", "١٢", "1.5"):
        with pytest.raises(InvalidInput):
            count(bad, default=20, low=1, high=50, usage="audit 20")


REPORTED = ["audit ²", "reminders snooze 1234abcd ²d", "reminders snooze 1234abcd 99999999d", "spend \x00"]


async def test_the_reported_inputs_get_a_sentence_through_slack(
    db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> None:
    async with acme_slack(
        db=db, embedded=embedded, model=scripted_model, fake=fake_slack, introduced=(ADMIN,)
    ) as slack:
        for text in REPORTED:
            answer = await run_slack(slack, ADMIN, text)
            assert is_sentence(answer) and answer.endswith("."), (text, answer)


async def test_the_reported_inputs_get_a_sentence_through_telegram(
    telegram: TelegramBot, acme: Company
) -> None:
    await telegram.link(acme, ALEX, admin=True)
    for text in REPORTED:
        await telegram.deliver(telegram.updates.message(ALEX, "/" + text))
    answers = telegram.api.texts(ALEX.id)
    assert len(answers) == len(REPORTED) and all(is_sentence(a) and a.endswith(".") for a in answers), answers
