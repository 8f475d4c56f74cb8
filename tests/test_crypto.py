from __future__ import annotations

import re
import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto import Cipher, CryptoError, Slot, generate_key, sha256_hex

KEY_A = generate_key()
KEY_B = generate_key()
TOKEN_OF_1 = Slot("plex_config", "plex_token", 1)
TOKEN_OF_2 = Slot("plex_config", "plex_token", 2)
SECRET_OF_1 = Slot("plex_config", "webhook_secret", 1)


def seed_format(key_hex: str, plaintext: str) -> str:
    """A value as versions before binding stored it: `hex(iv):hex(tag):hex(ct)`, no
    associated data (the seed's form)."""
    iv = secrets.token_bytes(12)
    sealed = AESGCM(bytes.fromhex(key_hex)).encrypt(iv, plaintext.encode(), None)
    return f"{iv.hex()}:{sealed[-16:].hex()}:{sealed[:-16].hex()}"


def test_round_trip_in_the_bound_format() -> None:
    cipher = Cipher(KEY_A)
    stored = cipher.encrypt("plex-token-123", TOKEN_OF_1)
    assert re.fullmatch(r"v2:[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+", stored)
    assert "plex-token-123" not in stored
    assert cipher.decrypt(stored, TOKEN_OF_1) == "plex-token-123"
    assert not cipher.needs_rewrite(stored, TOKEN_OF_1)


def test_each_encryption_uses_a_fresh_iv() -> None:
    cipher = Cipher(KEY_A)
    assert cipher.encrypt("same", TOKEN_OF_1) != cipher.encrypt("same", TOKEN_OF_1)


def test_wrong_key_is_a_clear_error_not_garbage() -> None:
    stored = Cipher(KEY_A).encrypt("secret", TOKEN_OF_1)
    with pytest.raises(CryptoError, match="ENCRYPTION_KEY is wrong"):
        Cipher(KEY_B).decrypt(stored, TOKEN_OF_1)


@pytest.mark.parametrize("elsewhere", [TOKEN_OF_2, SECRET_OF_1, Slot("users", "plex_token", 1)])
def test_a_value_moved_to_another_row_or_column_does_not_decrypt(elsewhere: Slot) -> None:
    cipher = Cipher(KEY_A)
    stored = cipher.encrypt("alice's plex token", TOKEN_OF_1)
    with pytest.raises(CryptoError, match="copied from another row"):
        cipher.decrypt(stored, elsewhere)
    # Dressing it up as an unbound (seed-format) value does not get around the binding.
    with pytest.raises(CryptoError):
        cipher.decrypt(stored.removeprefix("v2:"), elsewhere)
    with pytest.raises(CryptoError):
        cipher.decrypt(stored.removeprefix("v2:"), TOKEN_OF_1)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampering_with_any_part_is_detected(part: int) -> None:
    cipher = Cipher(KEY_A)
    pieces = cipher.encrypt("secret value", TOKEN_OF_1).removeprefix("v2:").split(":")
    flipped = "0" if pieces[part][0] != "0" else "1"
    pieces[part] = flipped + pieces[part][1:]
    with pytest.raises(CryptoError):
        cipher.decrypt("v2:" + ":".join(pieces), TOKEN_OF_1)


@pytest.mark.parametrize(
    "stored",
    ["", "abc", "a:b:c", "00:00:00", "zz" * 12 + ":" + "00" * 16 + ":00", "v2:", "v2:00:00:00"],
)
def test_malformed_values_are_clear_errors(stored: str) -> None:
    with pytest.raises(CryptoError):
        Cipher(KEY_A).decrypt(stored, TOKEN_OF_1)


def test_values_from_before_binding_still_decrypt_and_ask_to_be_rewritten() -> None:
    old = seed_format(KEY_A, "token")
    cipher = Cipher(KEY_A)
    assert cipher.decrypt(old, TOKEN_OF_1) == "token"
    assert cipher.needs_rewrite(old, TOKEN_OF_1)
    # ...also when the key has changed since (ENCRYPTION_KEY_PREVIOUS).
    assert Cipher(KEY_B, previous_key_hex=KEY_A).decrypt(old, TOKEN_OF_1) == "token"


def test_previous_key_still_decrypts_and_is_reported_for_rotation() -> None:
    old = Cipher(KEY_A).encrypt("token", TOKEN_OF_1)
    rotated = Cipher(KEY_B, previous_key_hex=KEY_A)
    assert rotated.decrypt(old, TOKEN_OF_1) == "token"
    assert rotated.needs_rewrite(old, TOKEN_OF_1)
    assert not rotated.needs_rewrite(rotated.encrypt("token", TOKEN_OF_1), TOKEN_OF_1)
    with pytest.raises(CryptoError):
        rotated.decrypt(old, TOKEN_OF_2)  # the binding holds under the previous key too


def test_sha256_is_hex() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
