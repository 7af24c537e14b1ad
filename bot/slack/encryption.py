"""Encryption at rest for Slack installations (tokens included), keyed by TRAVELMATE_ENCRYPTION_KEY."""

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
    """The encryption key is missing or malformed, so tokens cannot be stored or read."""

    kind = "configuration"


class TokenCipher:
    """Encrypts with the first key and decrypts with any, so keys can be rotated without downtime."""

    def __init__(self, keys: str | None) -> None:
        if not keys or not keys.strip():
            raise EncryptionKeyError("Slack installs need TRAVELMATE_ENCRYPTION_KEY. " + KEY_HELP)
        self._fernet = MultiFernet([self._fernet_of(key.strip()) for key in keys.split(",") if key.strip()])

    @staticmethod
    def _fernet_of(key: str) -> Fernet:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError("a Fernet key is 32 bytes")
            return Fernet(key.encode())
        except (ValueError, binascii.Error):
            raise EncryptionKeyError("TRAVELMATE_ENCRYPTION_KEY is not valid. " + KEY_HELP) from None

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise EncryptionKeyError(
                "A stored Slack installation cannot be decrypted with TRAVELMATE_ENCRYPTION_KEY; "
                "keep the old key in the list (after the new one) while rotating."
            ) from None

    def reseal(self, sealed: str) -> str:
        """The same plaintext under the newest key (for key rotation)."""
        return self._fernet.rotate(sealed.encode()).decode()
