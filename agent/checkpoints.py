"""LangGraph checkpoints in tenant tables: the latest state of each conversation, under row-level security.

The saver keeps one checkpoint per thread (the latest; history is trimmed and nothing travels back in time)
and the pending writes of that checkpoint, in `conversation_checkpoints` and `conversation_checkpoint_writes`
(migration 0008). Each call is one pipelined transaction bound to the tenant named by the thread id
(`{tenant}:{channel}:{conversation}`, built on the server), so PostgreSQL itself keeps one tenant's
conversations from another's. Every row names the conversation's user, whose erasure cascades to it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    copy_checkpoint,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from psycopg.errors import ForeignKeyViolation

from storage.database import Statement, TenantStatements
from storage.secrets import EncryptionKeyError, SecretBox


class ConversationErased(Exception):
    """The conversation's user was erased while the turn ran: its checkpoint is not kept."""


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


def thread_tenant(thread_id: str) -> uuid.UUID:
    """The tenant a thread id belongs to: its first segment, put there by the conversation service."""
    try:
        return uuid.UUID(thread_id.split(":", 1)[0])
    except ValueError:
        raise ValueError("a conversation thread id starts with its tenant id") from None


_KEY = "tenant_id = %(tenant)s AND thread_id = %(thread)s AND checkpoint_ns = %(ns)s"
_READ = f"""
    SELECT checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata_type, metadata
    FROM conversation_checkpoints WHERE {_KEY}
"""
_READ_WRITES = f"""
    SELECT task_id, idx, channel, type, blob, task_path FROM conversation_checkpoint_writes
    WHERE {_KEY} AND checkpoint_id = (SELECT checkpoint_id FROM conversation_checkpoints WHERE {_KEY})
"""
_SAVE = """
    INSERT INTO conversation_checkpoints (tenant_id, thread_id, checkpoint_ns, user_id, checkpoint_id,
        parent_checkpoint_id, type, checkpoint, metadata_type, metadata)
    VALUES (%(tenant)s, %(thread)s, %(ns)s, %(user)s, %(id)s, %(parent)s, %(type)s, %(checkpoint)s,
        %(metadata_type)s, %(metadata)s)
    ON CONFLICT (tenant_id, thread_id, checkpoint_ns) DO UPDATE SET user_id = EXCLUDED.user_id,
        checkpoint_id = EXCLUDED.checkpoint_id, parent_checkpoint_id = EXCLUDED.parent_checkpoint_id,
        type = EXCLUDED.type, checkpoint = EXCLUDED.checkpoint, metadata_type = EXCLUDED.metadata_type,
        metadata = EXCLUDED.metadata, saved_at = now()
"""
# Writes of a superseded checkpoint were folded into its successor by the graph; they are not needed again.
_DROP_STALE_WRITES = f"DELETE FROM conversation_checkpoint_writes WHERE {_KEY} AND checkpoint_id <> %(id)s"
_WRITE_COLUMNS = """
    INSERT INTO conversation_checkpoint_writes (tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id,
        idx, user_id, channel, type, blob, task_path)
    VALUES (%(tenant)s, %(thread)s, %(ns)s, %(id)s, %(task)s, %(idx)s, %(user)s, %(channel)s, %(type)s,
        %(blob)s, %(path)s)
"""
# Special writes (errors, interrupts, resumes) replace their earlier value; ordinary ones are written once.
_REPLACE_WRITE = (
    _WRITE_COLUMNS + " ON CONFLICT (tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id, idx) "
    "DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
)
_KEEP_WRITE = _WRITE_COLUMNS + " ON CONFLICT DO NOTHING"
_DELETE_THREAD = [
    "DELETE FROM conversation_checkpoint_writes WHERE tenant_id = %(tenant)s AND thread_id = %(thread)s",
    "DELETE FROM conversation_checkpoints WHERE tenant_id = %(tenant)s AND thread_id = %(thread)s",
]


@dataclass
class _ReadAhead:
    """A thread's latest checkpoint, read together with the turn's other statements."""

    thread: str
    saved: CheckpointTuple | None
    current: bool = True


_read_ahead: ContextVar[_ReadAhead | None] = ContextVar("checkpoint_read_ahead", default=None)


class TenantCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on the product's tenant tables; every call is one round trip.

    `aput` needs `user_id` in the run's configurable (the conversation service puts it there). A turn can
    read the checkpoint in its own first round trip (`latest_statements`, `from_rows`) and hand it over with
    `read_ahead`, so the graph does not read it again.
    """

    def __init__(self, statements: TenantStatements, *, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)
        self.statements = statements

    @staticmethod
    def _key(config: RunnableConfig) -> dict[str, Any]:
        configurable = config.get("configurable") or {}
        thread = str(configurable["thread_id"])
        return {
            "tenant": thread_tenant(thread),
            "thread": thread,
            "ns": configurable.get("checkpoint_ns", ""),
        }

    @staticmethod
    def latest_statements(thread_id: str, ns: str = "") -> list[Statement]:
        """The two reads (checkpoint, its pending writes) of a thread's latest checkpoint, for a batch."""
        key = {"tenant": thread_tenant(thread_id), "thread": thread_id, "ns": ns}
        return [Statement(_READ, key), Statement(_READ_WRITES, key)]

    def from_rows(
        self, thread_id: str, saved: list[tuple[Any, ...]], writes: list[tuple[Any, ...]], *, ns: str = ""
    ) -> CheckpointTuple | None:
        """The checkpoint tuple from the rows of `latest_statements`."""
        if not saved:
            return None
        checkpoint_id, parent_id, type_, checkpoint, metadata_type, metadata = saved[0]
        ordered = sorted(writes, key=lambda w: writes_sort_key(w[5], w[0], w[1]))
        where = {"thread_id": thread_id, "checkpoint_ns": ns}
        return CheckpointTuple(
            config={"configurable": {**where, "checkpoint_id": checkpoint_id}},
            checkpoint=self.serde.loads_typed((type_, checkpoint)),
            metadata=self.serde.loads_typed((metadata_type, metadata)),
            parent_config={"configurable": {**where, "checkpoint_id": parent_id}} if parent_id else None,
            pending_writes=[
                (task_id, channel, self.serde.loads_typed((kind, blob)))
                for task_id, _idx, channel, kind, blob, _path in ordered
            ],
        )

    @contextmanager
    def read_ahead(self, thread_id: str, saved: CheckpointTuple | None) -> Iterator[None]:
        """Within the block, reads of the thread's latest checkpoint get `saved` until something is written."""
        token = _read_ahead.set(_ReadAhead(thread_id, saved))
        try:
            yield
        finally:
            _read_ahead.reset(token)

    def _forget_read_ahead(self, thread_id: str) -> None:
        ahead = _read_ahead.get()
        if ahead is not None and ahead.thread == thread_id:
            ahead.current = False

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        key = self._key(config)
        wanted = get_checkpoint_id(config)
        ahead = _read_ahead.get()
        if (
            ahead is not None
            and ahead.current
            and ahead.thread == key["thread"]
            and not key["ns"]
            and not wanted
        ):
            if ahead.saved is None:
                return None
            # The graph updates the checkpoint it is handed; each reader gets its own.
            return ahead.saved._replace(
                checkpoint=copy_checkpoint(ahead.saved.checkpoint),
                pending_writes=list(ahead.saved.pending_writes or []),
            )
        rows, writes = await self.statements.run(
            key["tenant"], *self.latest_statements(key["thread"], key["ns"])
        )
        found = self.from_rows(key["thread"], rows, writes, ns=key["ns"])
        if found is not None and wanted and wanted != found.config["configurable"]["checkpoint_id"]:
            return None  # only the latest checkpoint of a thread is kept
        return found

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        if config is None:
            raise ValueError("Checkpoints are listed per conversation thread.")
        latest = await self.aget_tuple(config)
        if latest is None or limit == 0:
            return
        if before is not None and latest.config["configurable"]["checkpoint_id"] >= (
            get_checkpoint_id(before) or ""
        ):
            return
        if filter and any(latest.metadata.get(k) != v for k, v in filter.items()):
            return
        yield latest

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        key = {**self._key(config), "user": self._user(config), "id": checkpoint["id"]}
        type_, blob = self.serde.dumps_typed(checkpoint)
        metadata_type, metadata_blob = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        row = {
            **key,
            "parent": (config.get("configurable") or {}).get("checkpoint_id"),
            "type": type_,
            "checkpoint": blob,
            "metadata_type": metadata_type,
            "metadata": metadata_blob,
        }
        self._forget_read_ahead(key["thread"])
        await self._write(key["tenant"], Statement(_SAVE, row), Statement(_DROP_STALE_WRITES, key))
        return {
            "configurable": {
                "thread_id": key["thread"],
                "checkpoint_ns": key["ns"],
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if not writes:
            return
        key = {
            **self._key(config),
            "user": self._user(config),
            "id": config["configurable"]["checkpoint_id"],
        }
        sql = _REPLACE_WRITE if all(channel in WRITES_IDX_MAP for channel, _ in writes) else _KEEP_WRITE
        statements = []
        for idx, (channel, value) in enumerate(writes):
            kind, blob = self.serde.dumps_typed(value)
            row = {
                "task": task_id,
                "idx": WRITES_IDX_MAP.get(channel, idx),
                "channel": channel,
                "path": task_path,
            }
            statements.append(Statement(sql, {**key, **row, "type": kind, "blob": blob}))
        self._forget_read_ahead(key["thread"])
        await self._write(key["tenant"], *statements)

    async def adelete_thread(self, thread_id: str) -> None:
        tenant = thread_tenant(thread_id)
        key = {"tenant": tenant, "thread": thread_id}
        self._forget_read_ahead(thread_id)
        await self.statements.run(tenant, *(Statement(sql, key) for sql in _DELETE_THREAD))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Versions that sort as strings: a zero-padded counter and a random tie-breaker (as InMemorySaver)."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"  # noqa: S311 (a tie-breaker, not a secret)

    @staticmethod
    def _user(config: RunnableConfig) -> uuid.UUID:
        user = (config.get("configurable") or {}).get("user_id")
        if not user:
            raise ValueError(
                "A conversation checkpoint is saved for a user: pass user_id in the configurable."
            )
        return uuid.UUID(str(user))

    async def _write(self, tenant: uuid.UUID, *statements: Statement) -> None:
        try:
            await self.statements.run(tenant, *statements)
        except ForeignKeyViolation:
            raise ConversationErased("The conversation's user no longer exists.") from None


@asynccontextmanager
async def checkpoint_saver(
    database_url: str, *, max_size: int = 10, encryption_key: str | None = None
) -> AsyncIterator[TenantCheckpointSaver]:
    """A saver on its own pool of application-role connections (no prepared statements, so PgBouncer works)."""
    statements = TenantStatements(database_url, max_size=max_size)
    await statements.open()
    try:
        yield TenantCheckpointSaver(statements, serde=checkpoint_serializer(encryption_key))
    finally:
        await statements.close()
