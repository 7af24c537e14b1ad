"""LangGraph checkpoints in the product's PostgreSQL: table set-up as the owner, a pooled saver for the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from storage.database import libpq_url
from storage.secrets import EncryptionKeyError, SecretBox


def setup_checkpoint_tables(owner_url: str) -> None:
    """Create or migrate LangGraph's tables as the owner; default privileges give the app role access."""
    with Connection.connect(
        libpq_url(owner_url), autocommit=True, prepare_threshold=None, row_factory=dict_row
    ) as connection:
        PostgresSaver(connection).setup()


class FernetCheckpointCipher:
    """langgraph's CipherProtocol over the product's SecretBox, so checkpoints rotate keys like tokens do."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return "fernet", self.box.seal_bytes(plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != "fernet":
            raise EncryptionKeyError(f"Checkpoints sealed with {ciphername!r} cannot be read.")
        return self.box.open_bytes(ciphertext)


def checkpoint_serializer(encryption_key: str | None) -> SerializerProtocol | None:
    """Encrypted checkpoints when TRAVELMATE_ENCRYPTION_KEY is set; unencrypted ones still load."""
    if not encryption_key:
        return None
    box = SecretBox(encryption_key, purpose="Encrypted checkpoints")
    return EncryptedSerializer(FernetCheckpointCipher(box), JsonPlusSerializer())


@asynccontextmanager
async def checkpoint_saver(
    database_url: str, *, max_size: int = 10, encryption_key: str | None = None
) -> AsyncIterator[AsyncPostgresSaver]:
    """A saver on its own pool (autocommit, dict rows, no prepared statements so PgBouncer works)."""
    kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row, "prepare_threshold": None}
    async with AsyncConnectionPool(
        libpq_url(database_url), min_size=1, max_size=max_size, kwargs=kwargs, open=False
    ) as pool:
        yield AsyncPostgresSaver(pool, serde=checkpoint_serializer(encryption_key))  # type: ignore[arg-type]
