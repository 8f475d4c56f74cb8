from __future__ import annotations

import json
import re
from pathlib import Path

import asyncpg

from core.crypto import Cipher, generate_key
from core.db.plex_config import secret_slot, token_slot
from tests.cli import run_cli
from tests.conftest import TEST_KEY

SHOWS = [
    {
        "title": "The Office",
        "year": 2005,
        "tmdb_id": 2316,
        "tvdb_id": 73244,
        "imdb_id": "tt0386676",
        "seasons": [
            {
                "season_number": 1,
                "episodes": [
                    {"episode_number": n, "title": f"Ep {n}", "runtime": 22} for n in range(1, 7)
                ],
            }
        ],
    },
    {
        "title": "Dark",
        "year": 2017,
        "seasons": [
            {
                "season_number": 1,
                "episodes": [{"episode_number": 1, "title": "Secrets", "runtime": 51}],
            }
        ],
    },
]


def _url(out: str) -> str:
    return out.strip().splitlines()[-1]


async def test_connect_creates_user_encrypts_token_and_prints_url_last(
    cli_env: dict[str, str], clean_db: str
) -> None:
    first = run_cli(
        "connect",
        "--user",
        "alice",
        "--plex-token",
        "tok-ABC",
        "--no-verify",
        "--server-url",
        "http://10.0.0.5:32400",
        "--accounts",
        "1,Bob",
        env=cli_env,
    )
    assert first.returncode == 0, first.stderr
    url = _url(first.stdout)
    assert re.fullmatch(r"http://127\.0\.0\.1:8080/api/plex/webhook\?secret=[0-9a-f]{64}", url)
    assert "(created)" in first.stdout

    again = run_cli(
        "connect", "--user", "alice", "--plex-token", "tok-ABC", "--no-verify", env=cli_env
    )
    assert again.returncode == 0, again.stderr
    assert _url(again.stdout) == url, "running connect again keeps the secret"

    rotated = run_cli(
        "connect",
        "--user",
        "alice",
        "--plex-token",
        "tok-ABC",
        "--no-verify",
        "--rotate-secret",
        env=cli_env,
    )
    assert _url(rotated.stdout) != url

    conn = await asyncpg.connect(clean_db)
    try:
        row = await conn.fetchrow(
            "SELECT c.* FROM plex_config c JOIN users u ON u.id = c.user_id WHERE u.name = 'alice'"
        )
    finally:
        await conn.close()
    assert row is not None
    assert "tok-ABC" not in row["plex_token"]
    assert Cipher(TEST_KEY).decrypt(row["plex_token"], token_slot(row["user_id"])) == "tok-ABC"
    secret = _url(rotated.stdout).rsplit("=", 1)[1]
    assert secret not in row["webhook_secret"]
    assert Cipher(TEST_KEY).decrypt(row["webhook_secret"], secret_slot(row["user_id"])) == secret
    assert row["server_url"] == "http://10.0.0.5:32400"
    assert list(row["followed_accounts"]) == ["1", "Bob"]
    assert "tok-ABC" not in first.stdout + first.stderr


def test_shows_import_and_list_with_progress(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert (
        run_cli(
            "connect", "--user", "bob", "--plex-token", "t", "--no-verify", env=cli_env
        ).returncode
        == 0
    )
    path = tmp_path / "shows.json"
    path.write_text(json.dumps(SHOWS))
    imported = run_cli("shows", "import", str(path), "--user", "bob", env=cli_env)
    assert imported.returncode == 0, imported.stderr
    assert "2 new, 0 updated, 7 episodes" in imported.stdout

    # Re-import updates rather than duplicates (by tmdb_id, else title + year).
    SHOWS[1]["seasons"][0]["episodes"].append({"episode_number": 2, "title": "Lies"})  # type: ignore[index]
    path.write_text(json.dumps(SHOWS))
    again = run_cli("shows", "import", str(path), "--user", "bob", env=cli_env)
    assert "0 new, 2 updated" in again.stdout, again.stdout + again.stderr

    listed = run_cli("shows", "list", "--user", "bob", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    header, rule, *lines = listed.stdout.strip().splitlines()
    assert header.split() == ["id", "title", "watched", "%", "tmdb"]
    assert set(rule.strip()) == {"─"}
    assert len(lines) == 2
    assert "0/2" in lines[0] and "Dark (2017)" in lines[0]
    assert "0/6" in lines[1] and "The Office (2005)" in lines[1]


def test_bad_import_file_is_a_clear_error_and_imports_nothing(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run_cli("connect", "--user", "carol", "--plex-token", "t", "--no-verify", env=cli_env)
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps([{"title": "Fine", "year": 2001}, {"title": "Broken", "year": "soon"}])
    )
    result = run_cli("shows", "import", str(path), "--user", "carol", env=cli_env)
    assert result.returncode == 1
    assert "entry 2 ('Broken'): year" in result.stderr, "entries are numbered from 1"
    listed = run_cli("shows", "list", "--user", "carol", env=cli_env)
    assert "no shows yet" in listed.stdout

    path.write_text("[{not json")
    assert (
        "not valid JSON"
        in run_cli("shows", "import", str(path), "--user", "carol", env=cli_env).stderr
    )
    assert (
        "no user named 'nobody'" in run_cli("shows", "list", "--user", "nobody", env=cli_env).stderr
    )


def test_gen_key_and_settings_errors(cli_env: dict[str, str]) -> None:
    key = run_cli("gen-key", env=cli_env).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    bad = run_cli("migrate", env={**cli_env, "ENCRYPTION_KEY": "a" * 63})
    assert bad.returncode == 2
    assert "ENCRYPTION_KEY" in bad.stderr and "a" * 63 not in bad.stderr


async def test_rekey_rotates_every_secret(cli_env: dict[str, str], clean_db: str) -> None:
    url = _url(
        run_cli(
            "connect", "--user", "dan", "--plex-token", "tok-D", "--no-verify", env=cli_env
        ).stdout
    )
    new_key = generate_key()
    rotated_env = {**cli_env, "ENCRYPTION_KEY": new_key, "ENCRYPTION_KEY_PREVIOUS": TEST_KEY}
    # Before rekey the old values still open through ENCRYPTION_KEY_PREVIOUS.
    assert (
        _url(
            run_cli(
                "connect", "--user", "dan", "--plex-token", "tok-D", "--no-verify", env=rotated_env
            ).stdout
        )
        == url
    )
    result = run_cli("rekey", env=rotated_env)
    assert result.returncode == 0, result.stderr
    assert "1 user " in result.stdout
    conn = await asyncpg.connect(clean_db)
    try:
        row = await conn.fetchrow("SELECT user_id, plex_token, webhook_secret FROM plex_config")
    finally:
        await conn.close()
    assert row is not None
    only_new = Cipher(new_key)
    assert only_new.decrypt(row["plex_token"], token_slot(row["user_id"])) == "tok-D"
    secret = url.rsplit("=", 1)[1]
    assert only_new.decrypt(row["webhook_secret"], secret_slot(row["user_id"])) == secret
    # With only the new key set, everything still works.
    again = run_cli(
        "connect",
        "--user",
        "dan",
        "--plex-token",
        "tok-D",
        "--no-verify",
        env={**cli_env, "ENCRYPTION_KEY": new_key},
    )
    assert _url(again.stdout) == url
