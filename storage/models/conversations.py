"""Conversation threads, their checkpoints and the lease that lets one turn run at a time."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, of_tenant, of_user


class ConversationThread(Base):
    """One user's part in one checkpoint thread (`{tenant}:{channel}:{conversation}`)."""

    __tablename__ = "conversations"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("conversations_user", "tenant_id", "user_id"),
        Index("conversations_idle", "tenant_id", "last_active_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    last_active_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ConversationCheckpoint(Base):
    """The agent's latest checkpoint of one thread (agent.checkpoints), owned by the conversation's user."""

    __tablename__ = "conversation_checkpoints"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("conversation_checkpoints_user", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(300), primary_key=True, server_default="")
    user_id: Mapped[uuid.UUID]
    checkpoint_id: Mapped[str] = mapped_column(String(64))
    parent_checkpoint_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))
    checkpoint: Mapped[bytes] = mapped_column(LargeBinary)
    metadata_type: Mapped[str] = mapped_column(String(40))
    metadata_: Mapped[bytes] = mapped_column("metadata", LargeBinary)
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class ConversationCheckpointWrite(Base):
    """A pending write of a thread's latest checkpoint: an open confirmation, say."""

    __tablename__ = "conversation_checkpoint_writes"
    __table_args__ = (
        of_tenant(),
        of_user(),
        Index("conversation_checkpoint_writes_user", "tenant_id", "user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    checkpoint_ns: Mapped[str] = mapped_column(String(300), primary_key=True, server_default="")
    checkpoint_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    task_path: Mapped[str] = mapped_column(String(300), server_default="")


class ConversationTurnLease(Base):
    """Who runs a turn of a conversation now, until when (storage.turn_leases): turns of one thread in order."""

    __tablename__ = "conversation_turns"
    __table_args__ = (of_tenant(),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[uuid.UUID]
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
