"""Secrets at rest: Fernet keys from TRAVELMATE_ENCRYPTION_KEY, newest first, so keys rotate without downtime."""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from storage.errors import DomainError

KEY_HELP = (
    "TRAVELMATE_ENCRYPTION_KEY must be one or more Fernet keys (32 url-safe base64 bytes), comma-separated, "
    'newest first. Make one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)


class EncryptionKeyError(DomainError):
    """The encryption key is missing, malformed, or not the one the data was sealed with."""

    kind = "configuration"


class SecretBox:
    """Seals with the first key and opens with any of them; `reseal` moves data to the first key."""

    def __init__(self, keys: str | None, *, purpose: str = "Stored secrets") -> None:
        if not keys or not keys.strip():
            raise EncryptionKeyError(f"{purpose} need TRAVELMATE_ENCRYPTION_KEY. " + KEY_HELP)
        self._fernet = MultiFernet([_fernet_of(key.strip()) for key in keys.split(",") if key.strip()])

    def seal_bytes(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open_bytes(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise EncryptionKeyError(
                "Stored data cannot be decrypted with TRAVELMATE_ENCRYPTION_KEY; while rotating, keep the old key "
                "in the list after the new one."
            ) from None

    def seal(self, plaintext: str) -> str:
        return self.seal_bytes(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        return self.open_bytes(sealed.encode()).decode()

    def reseal_bytes(self, sealed: bytes) -> bytes:
        """The same plaintext under the newest key; raises InvalidToken when no key opens it."""
        return self._fernet.rotate(sealed)

    def reseal(self, sealed: str) -> str:
        """The same plaintext under the newest key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise EncryptionKeyError("A stored secret cannot be decrypted with any configured key.") from None


def _fernet_of(key: str) -> Fernet:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) != 32:
            raise ValueError("a Fernet key is 32 bytes")
        return Fernet(key.encode())
    except (ValueError, binascii.Error):
        raise EncryptionKeyError("TRAVELMATE_ENCRYPTION_KEY is not valid. " + KEY_HELP) from None
