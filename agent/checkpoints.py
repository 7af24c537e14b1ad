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
_COLUMNS = """(tenant_id, thread_id, checkpoint_ns, user_id, checkpoint_id, parent_checkpoint_id, type,
    checkpoint, metadata_type, metadata)"""
_VALUES = """(%(tenant)s, %(thread)s, %(ns)s, %(user)s, %(id)s, %(parent)s, %(type)s, %(checkpoint)s,
    %(metadata_type)s, %(metadata)s)"""
# Compare-and-set: a checkpoint is saved only over the one it grew from, so a concurrent writer is never
# overwritten silently. A thread's first checkpoint is saved only where there is none yet.
_SAVE_FIRST = f"""
    INSERT INTO conversation_checkpoints {_COLUMNS} VALUES {_VALUES}
    ON CONFLICT (tenant_id, thread_id, checkpoint_ns) DO NOTHING RETURNING checkpoint_id
"""
_SAVE_OVER = f"""
    UPDATE conversation_checkpoints SET {_COLUMNS} = {_VALUES}, saved_at = now()
    WHERE {_KEY} AND checkpoint_id = %(expected)s RETURNING checkpoint_id
"""
_SAVED = f"EXISTS (SELECT 1 FROM conversation_checkpoints WHERE {_KEY} AND checkpoint_id = %(id)s)"
# Writes of a superseded checkpoint were folded into its successor by the graph; they are not needed again.
_DROP_STALE_WRITES = (
    f"DELETE FROM conversation_checkpoint_writes WHERE {_KEY} AND checkpoint_id <> %(id)s AND {_SAVED}"
)
_WRITE_COLUMNS = f"""
    INSERT INTO conversation_checkpoint_writes (tenant_id, thread_id, checkpoint_ns, checkpoint_id, task_id,
        idx, user_id, channel, type, blob, task_path)
    SELECT %(tenant)s::uuid, %(thread)s::varchar, %(ns)s::varchar, %(id)s::varchar, %(task)s::varchar,
        %(idx)s::integer, %(user)s::uuid, %(channel)s::varchar, %(type)s::varchar, %(blob)s::bytea,
        %(path)s::varchar
    WHERE {_SAVED}
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


class ConversationMoved(Exception):
    """Another turn of the conversation was saved first; this turn's state was not kept."""


# (task id, idx, channel, value, task path): one pending write, as stored.
PendingWrite = tuple[str, int, str, Any, str]


@dataclass
class ConversationTurn:
    """A turn's view of its thread: what it read, and what the graph saved during it, held until committed.

    Nothing a turn saves reaches the database before `TenantCheckpointSaver.commit`, so a turn that raises,
    or that the conversation service does not accept, leaves the conversation exactly as it was.
    """

    thread: str
    read_id: str | None  # the checkpoint the turn started from: the commit replaces only that one
    latest: CheckpointTuple | None
    writes: list[PendingWrite]
    user: uuid.UUID | None = None
    changed: bool = False

    def tuple(self) -> CheckpointTuple | None:
        if self.latest is None:
            return None
        ordered = sorted(self.writes, key=lambda w: writes_sort_key(w[4], w[0], w[1]))
        # The graph updates the checkpoint it is handed; each reader gets its own.
        return self.latest._replace(
            checkpoint=copy_checkpoint(self.latest.checkpoint),
            pending_writes=[(task, channel, value) for task, _idx, channel, value, _path in ordered],
        )


_turn: ContextVar[ConversationTurn | None] = ContextVar("conversation_turn", default=None)


class TenantCheckpointSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on the product's tenant tables; every call is one round trip.

    `aput` needs `user_id` in the run's configurable (the conversation service puts it there). Saves are
    compare-and-set on the checkpoint they grew from. Inside `turn()` a thread's reads and saves stay in
    memory until `commit()` writes them in one transaction, or the turn is dropped.
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

    def _writes(self, rows: list[tuple[Any, ...]]) -> list[PendingWrite]:
        return [
            (task_id, idx, channel, self.serde.loads_typed((kind, blob)), path)
            for task_id, idx, channel, kind, blob, path in rows
        ]

    def from_rows(
        self, thread_id: str, saved: list[tuple[Any, ...]], writes: list[tuple[Any, ...]], *, ns: str = ""
    ) -> CheckpointTuple | None:
        """The checkpoint tuple from the rows of `latest_statements`."""
        if not saved:
            return None
        checkpoint_id, parent_id, type_, checkpoint, metadata_type, metadata = saved[0]
        ordered = sorted(self._writes(writes), key=lambda w: writes_sort_key(w[4], w[0], w[1]))
        where = {"thread_id": thread_id, "checkpoint_ns": ns}
        return CheckpointTuple(
            config={"configurable": {**where, "checkpoint_id": checkpoint_id}},
            checkpoint=self.serde.loads_typed((type_, checkpoint)),
            metadata=self.serde.loads_typed((metadata_type, metadata)),
            parent_config={"configurable": {**where, "checkpoint_id": parent_id}} if parent_id else None,
            pending_writes=[(task, channel, value) for task, _idx, channel, value, _path in ordered],
        )

    @contextmanager
    def turn(
        self, thread_id: str, saved: list[tuple[Any, ...]], writes: list[tuple[Any, ...]]
    ) -> Iterator[ConversationTurn]:
        """Within the block the thread's checkpoint is the one read in `saved` and `writes` (the rows of
        `latest_statements`) plus what the block saves; nothing is written unless `commit` is called."""
        latest = self.from_rows(thread_id, saved, writes)
        turn = ConversationTurn(
            thread=thread_id,
            read_id=saved[0][0] if saved else None,
            latest=latest and latest._replace(pending_writes=[]),
            writes=self._writes(writes),
        )
        token = _turn.set(turn)
        try:
            yield turn
        finally:
            _turn.reset(token)

    async def commit(self, turn: ConversationTurn) -> None:
        """Write what the turn saved, over the checkpoint it read; ConversationMoved when that was replaced."""
        if not turn.changed or turn.latest is None or turn.user is None:
            return
        latest = turn.latest
        key = {
            "tenant": thread_tenant(turn.thread),
            "thread": turn.thread,
            "ns": "",
            "user": turn.user,
            "id": latest.config["configurable"]["checkpoint_id"],
        }
        parent = (latest.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        statements = [
            self._save_statement(key, latest.checkpoint, latest.metadata, parent, expected=turn.read_id),
            Statement(_DELETE_THREAD[0] + f" AND {_SAVED}", key),
            *self._write_statements(key, turn.writes, replace=False),
        ]
        saved, *_ = await self._write(key["tenant"], *statements)
        if not saved:
            raise ConversationMoved("Another turn of this conversation was saved first.")

    def _save_statement(
        self,
        key: dict[str, Any],
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        parent: str | None,
        *,
        expected: str | None,
    ) -> Statement:
        type_, blob = self.serde.dumps_typed(checkpoint)
        metadata_type, metadata_blob = self.serde.dumps_typed(metadata)
        row = {
            **key,
            "parent": parent,
            "expected": expected,
            "type": type_,
            "checkpoint": blob,
            "metadata_type": metadata_type,
            "metadata": metadata_blob,
        }
        return Statement(_SAVE_FIRST if expected is None else _SAVE_OVER, row)

    def _write_statements(
        self, key: dict[str, Any], writes: Sequence[PendingWrite], *, replace: bool
    ) -> list[Statement]:
        statements = []
        for task_id, idx, channel, value, path in writes:
            kind, blob = self.serde.dumps_typed(value)
            row = {"task": task_id, "idx": idx, "channel": channel, "path": path, "type": kind, "blob": blob}
            statements.append(Statement(_REPLACE_WRITE if replace else _KEEP_WRITE, {**key, **row}))
        return statements

    @staticmethod
    def _current_turn(key: dict[str, Any]) -> ConversationTurn | None:
        turn = _turn.get()
        if turn is not None and turn.thread == key["thread"] and not key["ns"]:
            return turn
        return None

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._latest(config)

    async def _latest(self, config: RunnableConfig) -> CheckpointTuple | None:
        key = self._key(config)
        wanted = get_checkpoint_id(config)
        turn = self._current_turn(key)
        if turn is not None:
            found = turn.tuple()
        else:
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
        latest = await self._latest(config)
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
        where = {"thread_id": key["thread"], "checkpoint_ns": key["ns"]}
        parent = (config.get("configurable") or {}).get("checkpoint_id")
        full_metadata = get_checkpoint_metadata(config, metadata)
        turn = self._current_turn(key)
        if turn is not None:
            turn.latest = CheckpointTuple(
                config={"configurable": {**where, "checkpoint_id": checkpoint["id"]}},
                checkpoint=copy_checkpoint(checkpoint),
                metadata=full_metadata,
                parent_config={"configurable": {**where, "checkpoint_id": parent}} if parent else None,
                pending_writes=[],
            )
            turn.writes, turn.user, turn.changed = [], key["user"], True
        else:
            saved, _ = await self._write(
                key["tenant"],
                self._save_statement(key, checkpoint, full_metadata, parent, expected=parent),
                Statement(_DROP_STALE_WRITES, key),
            )
            if not saved:
                raise ConversationMoved("The checkpoint this one grew from is no longer the latest.")
        return {"configurable": {**where, "checkpoint_id": checkpoint["id"]}}

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
        # Special writes (errors, interrupts, resumes) replace their earlier value; others are written once.
        replace = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        pending = [
            (task_id, WRITES_IDX_MAP.get(channel, idx), channel, value, task_path)
            for idx, (channel, value) in enumerate(writes)
        ]
        turn = self._current_turn(key)
        if turn is None:
            await self._write(key["tenant"], *self._write_statements(key, pending, replace=replace))
            return
        if turn.latest is None or turn.latest.config["configurable"]["checkpoint_id"] != key["id"]:
            return  # writes of a checkpoint this turn already moved past are not needed again
        for write in pending:
            same = next((w for w in turn.writes if w[:2] == write[:2]), None)
            if same is not None and replace:
                turn.writes.remove(same)
            if same is None or replace:
                turn.writes.append(write)
        turn.user, turn.changed = key["user"], True

    async def adelete_thread(self, thread_id: str) -> None:
        tenant = thread_tenant(thread_id)
        key = {"tenant": tenant, "thread": thread_id}
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

    async def _write(self, tenant: uuid.UUID, *statements: Statement) -> list[list[tuple[Any, ...]]]:
        try:
            return await self.statements.run(tenant, *statements)
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


def shared_checkpoint_saver(
    statements: TenantStatements, *, encryption_key: str | None = None
) -> TenantCheckpointSaver:
    """A saver on the process's own statement pool, so checkpoints spend no connections of their own."""
    return TenantCheckpointSaver(statements, serde=checkpoint_serializer(encryption_key))
