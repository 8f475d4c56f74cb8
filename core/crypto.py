"""AES-256-GCM for secrets at rest, each ciphertext bound to the place it is stored.

Stored form: `v2:hex(iv):hex(tag):hex(ciphertext)`, sealed with associated data naming the
table, column and row (`Slot`). A value copied into another row or column (by someone with
write access to the database, or by a bug) then fails to decrypt instead of quietly
becoming, say, another user's Plex token. The seed's unbound form `hex(iv):hex(tag):hex(ct)`
(no prefix) still decrypts, so an upgrade loses nothing; start-up and `plex-tracker rekey`
rewrite such values in the bound form (`Cipher.needs_rewrite`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_BYTES = 12
TAG_BYTES = 16
BOUND_PREFIX = "v2:"


class CryptoError(Exception):
    """A stored value could not be decrypted: wrong key, tampered, moved or malformed."""


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a ciphertext lives: its table, column and row (the owning user's id)."""

    table: str
    column: str
    row_id: int

    def associated_data(self) -> bytes:
        return f"plex-tracker:{self.table}.{self.column}:{self.row_id}".encode()


def generate_key() -> str:
    return secrets.token_hex(32)


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def is_bound(stored: str) -> bool:
    """True for the current (bound) form; False for the seed's unbound one."""
    return stored.startswith(BOUND_PREFIX)


class Cipher:
    """Encrypts with the current key; decrypts with the current key, then the previous one.

    Keeping the previous key readable is what lets `plex-tracker rekey` rotate without downtime.
    """

    def __init__(self, key_hex: str, previous_key_hex: str | None = None) -> None:
        self._current = AESGCM(_key_bytes(key_hex))
        self._previous = AESGCM(_key_bytes(previous_key_hex)) if previous_key_hex else None

    def encrypt(self, plaintext: str, slot: Slot) -> str:
        iv = secrets.token_bytes(IV_BYTES)
        sealed = self._current.encrypt(iv, plaintext.encode(), slot.associated_data())
        ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
        return f"{BOUND_PREFIX}{iv.hex()}:{tag.hex()}:{ciphertext.hex()}"

    def decrypt(self, stored: str, slot: Slot) -> str:
        return self._decrypt(stored, slot)[0]

    def needs_rewrite(self, stored: str, slot: Slot) -> bool:
        """True when the value is in the unbound form or only opens with the previous key."""
        return self._decrypt(stored, slot)[1] or not is_bound(stored)

    def _decrypt(self, stored: str, slot: Slot) -> tuple[str, bool]:
        bound = is_bound(stored)
        iv, tag, ciphertext = _split(stored[len(BOUND_PREFIX) :] if bound else stored)
        # An unbound value was sealed without associated data; stripping the prefix from a
        # bound one does not help an attacker: its tag covers the associated data.
        aad = slot.associated_data() if bound else None
        for aes, is_previous in ((self._current, False), (self._previous, True)):
            if aes is None:
                continue
            try:
                return aes.decrypt(iv, ciphertext + tag, aad).decode(), is_previous
            except InvalidTag:
                continue
        raise CryptoError(
            f"cannot decrypt a stored secret ({slot.table}.{slot.column} of row {slot.row_id}): "
            "the ENCRYPTION_KEY is wrong, or the value was tampered with or copied from "
            "another row or column (set ENCRYPTION_KEY_PREVIOUS to the old key after a key "
            "change)"
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
