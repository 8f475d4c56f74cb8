"""AES-256-GCM for secrets at rest, in the seed's stored form `hex(iv):hex(tag):hex(ciphertext)`."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_BYTES = 12
TAG_BYTES = 16


class CryptoError(Exception):
    """A stored value could not be decrypted: wrong key, tampered or malformed."""


def generate_key() -> str:
    return secrets.token_hex(32)


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Cipher:
    """Encrypts with the current key; decrypts with the current key, then the previous one.

    Keeping the previous key readable is what lets `plex-tracker rekey` rotate without downtime.
    """

    def __init__(self, key_hex: str, previous_key_hex: str | None = None) -> None:
        self._current = AESGCM(_key_bytes(key_hex))
        self._previous = AESGCM(_key_bytes(previous_key_hex)) if previous_key_hex else None

    def encrypt(self, plaintext: str) -> str:
        iv = secrets.token_bytes(IV_BYTES)
        sealed = self._current.encrypt(iv, plaintext.encode(), None)
        ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
        return f"{iv.hex()}:{tag.hex()}:{ciphertext.hex()}"

    def decrypt(self, stored: str) -> str:
        return self._decrypt(stored)[0]

    def needs_rotation(self, stored: str) -> bool:
        """True when the value only opens with the previous key."""
        return self._decrypt(stored)[1]

    def _decrypt(self, stored: str) -> tuple[str, bool]:
        iv, tag, ciphertext = _split(stored)
        for aes, is_previous in ((self._current, False), (self._previous, True)):
            if aes is None:
                continue
            try:
                return aes.decrypt(iv, ciphertext + tag, None).decode(), is_previous
            except InvalidTag:
                continue
        raise CryptoError(
            "cannot decrypt a stored secret: the ENCRYPTION_KEY is wrong or the value was "
            "tampered with (set ENCRYPTION_KEY_PREVIOUS to the old key after a key change)"
        )


def _key_bytes(key_hex: str) -> bytes:
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise CryptoError("encryption key must be 64 hex characters") from None
    if len(key) != 32:
        raise CryptoError("encryption key must be 64 hex characters (32 bytes)")
    return key


def _split(stored: str) -> tuple[bytes, bytes, bytes]:
    parts = stored.split(":")
    if len(parts) != 3:
        raise CryptoError("stored secret is malformed: expected iv:tag:ciphertext")
    try:
        iv, tag, ciphertext = (bytes.fromhex(p) for p in parts)
    except ValueError:
        raise CryptoError("stored secret is malformed: not hex") from None
    if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
        raise CryptoError("stored secret is malformed: wrong iv or tag length")
    return iv, tag, ciphertext
