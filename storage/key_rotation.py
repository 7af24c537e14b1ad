"""Key rotation: re-seal every stored secret under the newest TRAVELMATE_ENCRYPTION_KEY."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from sqlalchemy import text

from storage.database import Database
from storage.secrets import EncryptionKeyError, SecretBox

# Checkpoint values sealed by agent.checkpoints carry this suffix on their type.
_SEALED_CHECKPOINT = "%+fernet"


@dataclass(frozen=True)
class Rotation:
    slack_installations: int
    checkpoint_blobs: int
    checkpoint_writes: int


async def reseal_everything(owner: Database, box: SecretBox, *, batch: int = 500) -> Rotation:
    """Re-seal Slack installations and encrypted checkpoints with the first key of `box`, in batches.

    Runs as the owner role: it is an operator's maintenance across every tenant and reads no plaintext
    into logs. After it, the old keys can be removed from TRAVELMATE_ENCRYPTION_KEY.
    """
    installations = await _reseal_text(
        owner, box, "slack_installations", "installation_id", "installation_encrypted", batch
    )
    blobs = await _reseal_bytes(
        owner, box, "checkpoint_blobs", "(thread_id, checkpoint_ns, channel, version)", batch
    )
    writes = await _reseal_bytes(
        owner, box, "checkpoint_writes", "(thread_id, checkpoint_ns, checkpoint_id, task_id, idx)", batch
    )
    return Rotation(installations, blobs, writes)


async def _reseal_text(owner: Database, box: SecretBox, table: str, key: str, column: str, batch: int) -> int:
    done = 0
    last = ""
    while True:
        async with owner.unscoped() as session:
            rows = (
                await session.execute(
                    text(
                        f"SELECT {key}::text AS k, {column} AS v FROM {table} WHERE {key}::text > :last ORDER BY 1 LIMIT :n"
                    ),
                    {"last": last, "n": batch},
                )
            ).all()
            for row in rows:
                await session.execute(
                    text(f"UPDATE {table} SET {column} = :v WHERE {key}::text = :k"),
                    {"v": box.reseal(row.v), "k": row.k},
                )
        done += len(rows)
        if len(rows) < batch:
            return done
        last = rows[-1].k


async def _reseal_bytes(owner: Database, box: SecretBox, table: str, key: str, batch: int) -> int:
    done = 0
    last = ""
    while True:
        async with owner.unscoped() as session:
            rows = (
                await session.execute(
                    text(
                        f"SELECT {key}::text AS k, blob FROM {table} WHERE type LIKE :sealed AND {key}::text > :last "
                        f"ORDER BY 1 LIMIT :n"
                    ),
                    {"sealed": _SEALED_CHECKPOINT, "last": last, "n": batch},
                )
            ).all()
            for row in rows:
                try:
                    sealed = box.reseal_bytes(bytes(row.blob))
                except InvalidToken:
                    raise EncryptionKeyError(
                        f"A {table} row cannot be decrypted with any configured key."
                    ) from None
                await session.execute(
                    text(f"UPDATE {table} SET blob = :v WHERE {key}::text = :k"), {"v": sealed, "k": row.k}
                )
        done += len(rows)
        if len(rows) < batch:
            return done
        last = rows[-1].k
