"""Secrets at rest: encrypted checkpoints, and keys that rotate without losing anything."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from agent.checkpoints import checkpoint_saver
from agent.conversation import ConversationService, thread_id
from agent.graph import build_graph
from agent.tools import AgentServices
from storage.database import Database
from storage.embedded import EmbeddedUrls
from storage.key_rotation import reseal_everything
from storage.models import SlackInstallation
from storage.secrets import EncryptionKeyError, SecretBox
from tests.conftest import NOW, Company, chat_model, traveller
from tests.fakes.scripted_model import ScriptedModel, say
from tests.test_privacy import places_holding

PHRASE = "confidential-merger-talks-4410"


async def test_checkpoints_are_encrypted_when_a_key_is_set(
    db: Database, owner_db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, acme: Company
) -> None:
    key = Fernet.generate_key().decode()
    services = AgentServices(db=db, clock=lambda: NOW)
    scripted_model.responder = lambda _request: say("Understood.")
    async with checkpoint_saver(embedded.app_database_url, max_size=2, encryption_key=key) as saver:
        service = ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )
        await service.handle_message(traveller(acme), "c1", f"Trip for the {PHRASE}")
        await service.handle_message(traveller(acme), "c1", "And a hotel?")
    history = [m["content"] for m in scripted_model.messages() if m["role"] == "user"]
    assert history == [f"Trip for the {PHRASE}", "And a hotel?"]  # read back through the cipher
    assert await places_holding(owner_db, PHRASE) == []
    # A new key first and the old one after still reads the old checkpoints.
    rotated = f"{Fernet.generate_key().decode()},{key}"
    async with checkpoint_saver(embedded.app_database_url, max_size=2, encryption_key=rotated) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": thread_id(traveller(acme), "c1")}})
    assert saved is not None and PHRASE in saved.checkpoint["channel_values"]["messages"][0].text


def test_a_secret_box_rotates_and_refuses_bad_keys() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox(old).seal("xoxb-secret-token")
    resealed = SecretBox(f"{new},{old}").reseal(sealed)
    assert SecretBox(new).open(resealed) == "xoxb-secret-token"
    with pytest.raises(EncryptionKeyError, match="cannot be decrypted"):
        SecretBox(new).open(sealed)
    with pytest.raises(EncryptionKeyError, match="is not valid"):
        SecretBox("not-a-key")
    with pytest.raises(EncryptionKeyError, match="need TRAVELMATE_ENCRYPTION_KEY"):
        SecretBox("")


async def test_rotation_reseals_everything_so_the_new_key_alone_reads_it(
    db: Database, owner_db: Database, embedded: EmbeddedUrls, scripted_model: ScriptedModel, acme: Company
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    async with db.tenant(acme.tenant_id) as session:
        session.add(
            SlackInstallation(
                tenant_id=acme.tenant_id,
                team_id="T1",
                installation_encrypted=SecretBox(old).seal('{"bot_token": "xoxb-1"}'),
            )
        )
    services = AgentServices(db=db, clock=lambda: NOW)
    scripted_model.responder = lambda _request: say("Noted.")
    async with checkpoint_saver(embedded.app_database_url, max_size=2, encryption_key=old) as saver:
        service = ConversationService(
            services=services,
            graph=build_graph(model=chat_model(scripted_model), services=services, checkpointer=saver),
        )
        await service.handle_message(traveller(acme), "c1", f"Remember the {PHRASE}")

    rotation = await reseal_everything(owner_db, SecretBox(f"{new},{old}"))
    assert rotation.slack_installations == 1 and rotation.checkpoints + rotation.checkpoint_writes >= 1

    async with db.tenant(acme.tenant_id) as session:
        sealed = (await session.scalars(select(SlackInstallation.installation_encrypted))).one()
    assert SecretBox(new).open(sealed) == '{"bot_token": "xoxb-1"}'
    async with checkpoint_saver(embedded.app_database_url, max_size=2, encryption_key=new) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": thread_id(traveller(acme), "c1")}})
    assert saved is not None and PHRASE in saved.checkpoint["channel_values"]["messages"][0].text
