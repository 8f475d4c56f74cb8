"""Each encrypted value is bound to its table, column and row (issue 10 #20): a ciphertext
copied elsewhere does not decrypt; values written before binding are rewritten bound at
start-up and by `rekey`, with ENCRYPTION_KEY_PREVIOUS still honoured."""

from __future__ import annotations

import secrets
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.runtime import open_services
from core.crypto import Cipher, CryptoError, generate_key
from core.db.plex_config import secret_slot, token_slot
from core.services.doctor import Doctor
from core.settings import Settings
from tests.conftest import TEST_KEY, make_settings
from tests.harness import Daemon
from tests.plex_payloads import episode, scrobble


def seed_format(key_hex: str, plaintext: str) -> str:
    """How versions before binding stored a secret: `hex(iv):hex(tag):hex(ct)`, no
    associated data."""
    iv = secrets.token_bytes(12)
    sealed = AESGCM(bytes.fromhex(key_hex)).encrypt(iv, plaintext.encode(), None)
    return f"{iv.hex()}:{sealed[-16:].hex()}:{sealed[:-16].hex()}"


async def _execute(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_a_token_copied_into_another_users_row_does_not_decrypt(daemon: Daemon) -> None:
    alice, _ = await daemon.connect("alice")
    bob = await daemon.services.accounts.connect(
        user_name="bob",
        plex_token="bobs-own-token-the-server-refuses",
        server_url=daemon.plex_server.base_url,
        verify=False,
    )
    bob_id, bob_secret = bob.user.id, bob.webhook_url.rsplit("=", 1)[1]
    # Someone with write access to the database gives Bob Alice's (working) Plex token.
    await daemon.fetch(
        """UPDATE plex_config SET plex_token = (SELECT plex_token FROM plex_config
                                                WHERE user_id = $1) WHERE user_id = $2""",
        alice,
        bob_id,
    )
    config = await daemon.services.accounts.config(bob_id)
    with pytest.raises(CryptoError, match="copied from another row"):
        await daemon.services.accounts.plex_token(config)
    # What the doctor (and /plex status) tell Bob to do covers this case, not only a key change.
    async with httpx.AsyncClient() as http:
        problems = await Doctor(daemon.services, http=http).user_problems(bob_id)
    [check] = [c for c in problems if c.name == "encryption key"]
    assert "bob" in check.detail
    assert check.fix is not None and "copied from another row or column" in check.fix
    assert "connect those users again" in check.fix
    # A scrobble that needs Bob's server never reaches it with Alice's token.
    daemon.plex_server.add_show("1936543", "The Office", 2005, guids=["tmdb://2316"])
    answer = await daemon.post(scrobble(episode()), bob_secret)
    row = await daemon.settled(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("failed", "decrypt_failed")
    assert daemon.plex_server.requests_to("/library/metadata/1936543") == []
    # Nor does a webhook secret moved into the token column open as a token.
    await daemon.fetch(
        "UPDATE plex_config SET plex_token = webhook_secret WHERE user_id = $1", alice
    )
    with pytest.raises(CryptoError):
        await daemon.services.accounts.plex_token(await daemon.services.accounts.config(alice))


async def _legacy_alice(settings: Settings, key: str) -> tuple[int, str]:
    """Alice connected, then her row rewritten as the version before binding stored it."""
    async with open_services(settings) as services:
        done = await services.accounts.connect(
            user_name="alice", plex_token="tok-legacy", verify=False
        )
    secret = done.webhook_url.rsplit("=", 1)[1]
    await _execute(
        settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "UPDATE plex_config SET plex_token = $2, webhook_secret = $3 WHERE user_id = $1",
        done.user.id,
        seed_format(key, "tok-legacy"),
        seed_format(key, secret),
    )
    return done.user.id, secret


async def test_start_up_rewrites_values_stored_before_binding(
    clean_db: str, tmp_path: Path
) -> None:
    settings = make_settings(clean_db, tmp_path)
    user_id, secret = await _legacy_alice(settings, TEST_KEY)
    async with open_services(settings) as services:  # the upgrade: a restart
        [row] = await _execute(clean_db, "SELECT plex_token, webhook_secret FROM plex_config")
        assert row["plex_token"].startswith("v2:") and row["webhook_secret"].startswith("v2:")
        cipher = Cipher(TEST_KEY)
        assert cipher.decrypt(row["plex_token"], token_slot(user_id)) == "tok-legacy"
        assert cipher.decrypt(row["webhook_secret"], secret_slot(user_id)) == secret
        # Nothing a user sees changed: the same webhook URL, the same token.
        owner = await services.accounts.owner_of_secret(secret)
        assert owner is not None and owner.user_id == user_id
        assert await services.accounts.plex_token(owner.config) == "tok-legacy"
        assert await services.accounts.webhook_url(user_id) == settings.webhook_url(secret)
    async with open_services(settings):  # a second start has nothing left to rewrite
        [again] = await _execute(clean_db, "SELECT plex_token FROM plex_config")
        assert again["plex_token"] == row["plex_token"]


async def test_key_rotation_with_values_from_before_binding(clean_db: str, tmp_path: Path) -> None:
    old_key, new_key = TEST_KEY, generate_key()
    user_id, secret = await _legacy_alice(make_settings(clean_db, tmp_path), old_key)
    rotating = make_settings(
        clean_db, tmp_path, ENCRYPTION_KEY=new_key, ENCRYPTION_KEY_PREVIOUS=old_key
    )
    async with open_services(rotating) as services:
        owner = await services.accounts.owner_of_secret(secret)
        assert owner is not None and await services.accounts.plex_token(owner.config) == (
            "tok-legacy"
        )
        assert await services.accounts.rekey() == 1
    only_new = make_settings(clean_db, tmp_path, ENCRYPTION_KEY=new_key)
    async with open_services(only_new) as services:
        owner = await services.accounts.owner_of_secret(secret)
        assert owner is not None and owner.user_id == user_id
        assert await services.accounts.plex_token(owner.config) == "tok-legacy"
        [row] = await _execute(clean_db, "SELECT webhook_secret FROM plex_config")
        assert Cipher(new_key).decrypt(row["webhook_secret"], secret_slot(user_id)) == secret


async def test_a_value_no_key_opens_does_not_stop_start_up(
    clean_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(clean_db, tmp_path)
    await _legacy_alice(settings, generate_key())  # a key nobody has
    async with open_services(settings) as services:
        assert "stored secrets left as they are" in caplog.text
        with pytest.raises(CryptoError):
            await services.accounts.rekey()  # rekey says so, and changes nothing
    [row] = await _execute(clean_db, "SELECT plex_token FROM plex_config")
    assert not row["plex_token"].startswith("v2:")
