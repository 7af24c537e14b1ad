"""Forwarded confirmations: a PDF (or .txt, .eml) sent in Slack or on Telegram is read and recorded on its trip."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Any

import pytest
from fpdf import FPDF
from sqlalchemy import select

from agent.forwarded import MAX_FILE_BYTES, ForwardedFile, confirmation_text
from storage.database import Database
from storage.identities import resolve_identity
from storage.models import Booking, Itinerary
from tests.conftest import Company
from tests.fakes.scripted_model import ScriptedModel, call, say
from tests.fakes.slack_api import ACME, TRAVELLER, FakeSlack, SlackHarness
from tests.test_telegram_booking import trip
from tests.test_telegram_harness import ALEX, TelegramBot, telegram, telegram_api

__all__ = ["telegram", "telegram_api"]  # fixtures used by name

CONFIRMATION = ["Lufthansa booking confirmation", "Flight LH 1234 Munich - Berlin", "Booking code XK7Q2P"]


def confirmation_pdf(day: dt.date, *, password: str | None = None) -> bytes:
    """A one-page airline confirmation, as a travel agency would send it."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in [*CONFIRMATION, f"Departure {day:%d %b %Y} 07:15", "Total paid 245.00 EUR"]:
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    if password:
        pdf.set_encryption(owner_password="agency", user_password=password)
    return bytes(pdf.output())


def recording(day: dt.date) -> dict[str, Any]:
    return {
        "booking_type": "flight",
        "service_date": day.isoformat(),
        "amount": "245.00",
        "currency": "EUR",
        "reference": "XK7Q2P",
        "number": "LH 1234",
        "vendor": "Lufthansa",
    }


def record_request_text(model: ScriptedModel) -> str:
    """What the model had read when it called record_booking: the last user message of that request."""
    (request,) = [r for r in model.requests if any(m["role"] == "user" for m in r["messages"])][-1:]
    return str([m for m in request["messages"] if m["role"] == "user"][-1]["content"])


# -- Telegram ----------------------------------------------------------------------------------------


async def plan_on_telegram(telegram: TelegramBot, acme: Company) -> tuple[str, dt.date]:
    plan = trip()
    telegram.model.script(call("create_draft_itinerary", plan), say("Here is your Berlin draft."))
    await telegram.deliver(telegram.updates.message(ALEX, "Berlin next month, please"))
    async with telegram.db.tenant(acme.tenant_id) as session:
        itinerary_id = str(await session.scalar(select(Itinerary.itinerary_id)))
    return itinerary_id, dt.date.fromisoformat(plan["start_date"])


async def test_a_pdf_sent_on_telegram_is_recorded_on_its_trip(telegram: TelegramBot, acme: Company) -> None:
    await telegram.link(acme, ALEX)
    itinerary_id, day = await plan_on_telegram(telegram, acme)
    pdf = confirmation_pdf(day)
    telegram.api.add_file("conf1", pdf)
    telegram.model.script(call("record_booking", recording(day)), say("Recorded your Lufthansa flight."))

    await telegram.deliver(
        telegram.updates.document(ALEX, "conf1", file_name="LH-confirmation.pdf", size=len(pdf))
    )

    read = record_request_text(telegram.model)
    assert "LH 1234" in read and "XK7Q2P" in read and "245.00 EUR" in read
    assert "not instructions" in read
    async with telegram.db.tenant(acme.tenant_id) as session:
        (booking,) = (await session.scalars(select(Booking))).all()
    assert str(booking.itinerary_id) == itinerary_id and booking.booking_details["reference"] == "XK7Q2P"
    assert telegram.api.texts(ALEX.id)[-1] == "Recorded your Lufthansa flight."


@pytest.mark.parametrize("case", ["encrypted", "too large", "not a pdf", "spreadsheet"])
async def test_files_that_cannot_be_read_get_a_sentence_on_telegram(
    telegram: TelegramBot, acme: Company, case: str
) -> None:
    await telegram.link(acme, ALEX)
    day = dt.date.today() + dt.timedelta(days=30)
    content = {
        "encrypted": confirmation_pdf(day, password="secret"),
        "not a pdf": b"%PDF-1.7 this is not really a PDF",
        "spreadsheet": b"PK\x03\x04 a spreadsheet",
        "too large": b"x",
    }[case]
    name = "sheet.xlsx" if case == "spreadsheet" else "confirmation.pdf"
    size = MAX_FILE_BYTES + 1 if case == "too large" else len(content)
    telegram.api.add_file("f1", content)

    await telegram.deliver(telegram.updates.document(ALEX, "f1", file_name=name, size=size))

    (answer,) = telegram.api.texts(ALEX.id)
    expected = {
        "encrypted": "protected by a password",
        "too large": "I read confirmations of up to 5 MB",
        "not a pdf": "does not look like a valid PDF",
        "spreadsheet": "PDF, plain-text (.txt) or e-mail (.eml)",
    }[case]
    assert expected in answer and "Traceback" not in answer
    assert telegram.model.requests == []
    if case == "too large":
        assert telegram.api.calls_to("getFile") == [], "an oversized file is never downloaded"


async def test_a_photo_gets_a_useful_sentence(telegram: TelegramBot, acme: Company) -> None:
    await telegram.link(acme, ALEX)
    await telegram.deliver(telegram.updates.photo(ALEX))
    (answer,) = telegram.api.texts(ALEX.id)
    assert "forward the confirmation as a PDF" in answer and telegram.model.requests == []


# -- Slack -------------------------------------------------------------------------------------------


async def test_a_pdf_shared_in_slack_is_recorded_on_its_trip(
    acme_on_slack: SlackHarness, db: Database, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> None:
    plan = trip()
    day = dt.date.fromisoformat(plan["start_date"])
    scripted_model.script(call("create_draft_itinerary", plan), say("Here is your Berlin draft."))
    await acme_on_slack.send.dm(ACME, TRAVELLER, "plan Berlin next month")
    await acme_on_slack.settle()
    shared = fake_slack.share_file(
        ACME,
        TRAVELLER,
        "LH confirmation.pdf",
        confirmation_pdf(day),
        mimetype="application/pdf",
        filetype="pdf",
    )
    scripted_model.script(call("record_booking", recording(day)), say("Recorded your Lufthansa flight."))

    await acme_on_slack.send.dm(ACME, TRAVELLER, "my flight", files=[shared])
    await acme_on_slack.settle()

    read = record_request_text(scripted_model)
    assert read.startswith("my flight") and "LH 1234" in read and "XK7Q2P" in read
    identity = await resolve_identity(db, channel="slack", workspace_id=ACME, external_user_id=TRAVELLER)
    assert identity is not None
    async with db.tenant(identity.tenant_id) as session:
        itinerary_id = await session.scalar(select(Itinerary.itinerary_id))
        (booking,) = (await session.scalars(select(Booking))).all()
    assert booking.itinerary_id == itinerary_id and booking.booking_details["number"] == "LH 1234"


async def test_an_encrypted_pdf_in_slack_gets_a_sentence(
    acme_on_slack: SlackHarness, scripted_model: ScriptedModel, fake_slack: FakeSlack
) -> None:
    day = dt.date.today() + dt.timedelta(days=30)
    shared = fake_slack.share_file(
        ACME,
        TRAVELLER,
        "locked.pdf",
        confirmation_pdf(day, password="secret"),
        mimetype="application/pdf",
        filetype="pdf",
    )
    await acme_on_slack.send.dm(ACME, TRAVELLER, "", files=[shared])
    await acme_on_slack.settle()
    said = [m.text for m in fake_slack.posted if m.channel == "D" + TRAVELLER]
    assert any("protected by a password" in text for text in said)
    assert scripted_model.requests == []


def test_an_eml_and_a_text_file_are_read_as_the_traveller_sees_them() -> None:
    mail = EmailMessage()
    mail["From"] = "bookings@hotel-adlon.example"
    mail["Subject"] = "Your reservation AD-99812"
    mail.set_content("Hotel Adlon, 2 nights from 3 Dec 2026, total 600.00 EUR.")
    mail.add_alternative("<p>Hotel Adlon, <b>2 nights</b></p>", subtype="html")
    read = confirmation_text(ForwardedFile("reservation.eml", mail.as_bytes(), "message/rfc822"))
    assert "Subject: Your reservation AD-99812" in read and "total 600.00 EUR" in read and "<p>" not in read
    text = confirmation_text(ForwardedFile("conf.txt", "Zug ICE 599 · 89,90 €".encode(), "text/plain"))
    assert text == "Zug ICE 599 · 89,90 €"
