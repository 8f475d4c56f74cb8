from __future__ import annotations

import re

import pytest

from core.crypto import Cipher, CryptoError, generate_key, sha256_hex

KEY_A = generate_key()
KEY_B = generate_key()


def test_round_trip_in_the_seed_format() -> None:
    cipher = Cipher(KEY_A)
    stored = cipher.encrypt("plex-token-123")
    assert re.fullmatch(r"[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+", stored)
    assert "plex-token-123" not in stored
    assert cipher.decrypt(stored) == "plex-token-123"


def test_each_encryption_uses_a_fresh_iv() -> None:
    cipher = Cipher(KEY_A)
    assert cipher.encrypt("same") != cipher.encrypt("same")


def test_wrong_key_is_a_clear_error_not_garbage() -> None:
    stored = Cipher(KEY_A).encrypt("secret")
    with pytest.raises(CryptoError, match="ENCRYPTION_KEY is wrong"):
        Cipher(KEY_B).decrypt(stored)


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampering_with_any_part_is_detected(part: int) -> None:
    cipher = Cipher(KEY_A)
    pieces = cipher.encrypt("secret value").split(":")
    flipped = "0" if pieces[part][0] != "0" else "1"
    pieces[part] = flipped + pieces[part][1:]
    with pytest.raises(CryptoError):
        cipher.decrypt(":".join(pieces))


@pytest.mark.parametrize(
    "stored", ["", "abc", "a:b:c", "00:00:00", "zz" * 12 + ":" + "00" * 16 + ":00"]
)
def test_malformed_values_are_clear_errors(stored: str) -> None:
    with pytest.raises(CryptoError):
        Cipher(KEY_A).decrypt(stored)


def test_previous_key_still_decrypts_and_is_reported_for_rotation() -> None:
    old = Cipher(KEY_A).encrypt("token")
    rotated = Cipher(KEY_B, previous_key_hex=KEY_A)
    assert rotated.decrypt(old) == "token"
    assert rotated.needs_rotation(old)
    assert not rotated.needs_rotation(rotated.encrypt("token"))


def test_sha256_is_hex() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
