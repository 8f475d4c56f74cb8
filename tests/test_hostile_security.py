"""Security under hostile conditions: constant-time secret checks, secrets encrypted at rest,
nothing secret in logs, answers or /metrics, and SQL that treats titles as data."""

from __future__ import annotations

import asyncio
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from core.crypto import Cipher, sha256_hex
from core.db.plex_config import token_slot
from tests.cli import run_cli
from tests.conftest import TEST_KEY
from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.fakes.plex_server import FakePlexServer
from tests.fakes.plextv import FakePlexTv
from tests.fakes.tmdb import DEFAULT_API_KEY, FakeTmdb
from tests.harness import Daemon
from tests.plex_payloads import episode, legacy_episode, scrobble
from tests.processes import RunningService

EVIL = "'); DROP TABLE tvshows; --"


async def test_secret_check_is_a_hash_lookup_then_compare_digest(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, secret = await daemon.connect()
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    ok = await daemon.post(scrobble(), secret)
    assert ok.status_code == 200
    # The stored value compared is the SHA-256 of the secret, never the secret itself.
    digest = sha256_hex(secret).encode()
    assert (digest, digest) in compared
    assert all(secret.encode() not in (a, b) for a, b in compared)
    # A near miss (same length, last character changed) and a missing secret answer alike.
    near = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    wrong, missing = await daemon.post(scrobble(), near), await daemon.post(scrobble(), None)
    assert wrong.status_code == missing.status_code == 401
    assert wrong.content == missing.content
    row = (await daemon.fetch("SELECT * FROM plex_config WHERE user_id = $1", user_id))[0]
    assert row["webhook_secret_hash"] == sha256_hex(secret)
    assert secret not in str(dict(row)), "the secret is stored only encrypted and hashed"


async def test_plex_token_is_encrypted_at_rest(daemon: Daemon) -> None:
    user_id, _secret = await daemon.connect()
    row = (await daemon.fetch("SELECT * FROM plex_config WHERE user_id = $1", user_id))[0]
    stored = row["plex_token"]
    assert PLEX_TOKEN not in str(dict(row))
    version, iv, tag, _ciphertext = stored.split(":")
    assert (version, len(iv), len(tag)) == ("v2", 24, 32)
    assert Cipher(TEST_KEY).decrypt(stored, token_slot(user_id)) == PLEX_TOKEN
    # Encryption is randomised: the same token stored twice looks different.
    await daemon.connect()
    again = await daemon.fetch("SELECT plex_token FROM plex_config WHERE user_id = $1", user_id)
    assert again[0]["plex_token"] != stored


async def test_sql_injection_title_round_trips(
    daemon: Daemon, cli_env: dict[str, str], tmp_path: Path
) -> None:
    user_id, secret = await daemon.connect()
    library = tmp_path / "evil.json"
    library.write_text(
        json.dumps(
            [
                {
                    "title": EVIL,
                    "year": 2001,
                    "tvdb_id": 424242,
                    "imdb_id": "tt0424242",
                    "seasons": [{"season_number": 1, "episodes": [{"episode_number": 1}]}],
                }
            ]
        )
    )
    done = await asyncio.to_thread(
        run_cli, "shows", "import", str(library), "--user", "alice", env=cli_env
    )
    assert done.returncode == 0, done.stderr
    # Rating keys are numbers (anything else is no key), so the injection rides in the
    # account id, a free-text key, and in every title.
    meta = legacy_episode("thetvdb", "424242", 1, 1, show=EVIL, show_key="4242", title=EVIL)
    answer = await daemon.post(scrobble(meta, account={"id": EVIL, "title": "alice"}), secret)
    assert answer.status_code == 200
    row = await daemon.settled(answer.json()["id"])
    assert (row["status"], row["action_taken"]) == ("success", "marked_watched")
    assert (row["plex_title"], row["plex_account_id"]) == (EVIL, EVIL)
    listed = await asyncio.to_thread(run_cli, "shows", "list", "--user", "alice", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    assert EVIL in listed.stdout and "1/1" in listed.stdout
    shows = await daemon.fetch(
        "SELECT title, watched_episodes FROM tvshows WHERE user_id = $1", user_id
    )
    assert [(s["title"], s["watched_episodes"]) for s in shows] == [(EVIL, 1)]
    mapping = await daemon.fetch("SELECT plex_rating_key, plex_title FROM plex_show_mappings")
    assert [(m["plex_rating_key"], m["plex_title"]) for m in mapping] == [("4242", EVIL)]
    seen = await daemon.fetch("SELECT account_id FROM plex_scrobbles_seen")
    assert [s["account_id"] for s in seen] == [EVIL]


async def test_nothing_secret_in_the_log_answers_or_metrics_of_a_real_process(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The real `plex-tracker run`, its own logging set-up, every failure path that handles a
    secret: plex.tv check, Plex server errors (token in a header), TMDB errors (key in the
    query), bad and missing webhook secrets, bad bodies."""
    async with FakeTmdb() as tmdb, FakePlexServer() as plex_server, FakePlexTv() as plextv:
        plextv.add_account(PLEX_TOKEN, id=1, username="alice")
        env = {
            **cli_env,
            "TMDB_BASE_URL": tmdb.base_url,
            "TMDB_API_KEY": DEFAULT_API_KEY,
            "PLEX_TV_BASE_URL": plextv.base_url,
            "PLEX_RATE_LIMIT": "100000",
            "LOG_LEVEL": "DEBUG",
        }
        connected = await asyncio.to_thread(
            run_cli,
            "connect",
            "--user",
            "alice",
            "--plex-token",
            PLEX_TOKEN,
            "--server-url",
            plex_server.base_url,
            env=env,
        )
        assert connected.returncode == 0, connected.stderr
        secret = connected.stdout.strip().splitlines()[-1].rsplit("=", 1)[1]
        service = RunningService(env, tmp_path / "run.log")
        await asyncio.to_thread(service.start)
        answers: list[str] = []
        try:
            import httpx

            async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as http:

                async def post(payload: Any, key: str | None) -> httpx.Response:
                    from tests.plex_payloads import multipart

                    body, ctype = multipart(payload)
                    params = {"secret": key} if key is not None else {}
                    resp = await http.post(
                        "/api/plex/webhook",
                        params=params,
                        content=body,
                        headers={"Content-Type": ctype},
                    )
                    answers.append(resp.text)
                    return resp

                async def settled(log_id: int) -> None:
                    for _ in range(300):
                        logs = await http.get("/healthz")
                        answers.append(logs.text)
                        if logs.json()["database"].get("pending_webhooks") == 0:
                            return
                        await asyncio.sleep(0.1)
                    raise TimeoutError(log_id)

                plex_server.fail_next(10, 401)  # the server refuses the token
                first = await post(scrobble(episode(show_key="77")), secret)
                tmdb.fail_next(10, 500)  # TMDB errors with our key in the query
                second = await post(
                    scrobble(legacy_episode("thetvdb", "81189", 1, 1, show_key="88")), secret
                )
                tmdb.reset()
                tmdb.rate_limit_next(10, retry_after=60)
                third = await post(
                    scrobble(legacy_episode("imdb", "tt0903747", 1, 1, show_key="99")), secret
                )
                await post(scrobble(), "0" * 64)
                await post(scrobble(), None)
                await post("{not json", secret)
                for resp in (first, second, third):
                    assert resp.status_code == 200
                    await settled(resp.json()["id"])
                metrics = await http.get("/metrics")
                if Path(__file__).parent.parent.joinpath("daemon", "metrics.py").exists():
                    assert metrics.status_code == 200
                    answers.append(metrics.text)
        finally:
            await asyncio.to_thread(service.stop)
            service.kill()
    log = service.log()
    assert "webhook" in log and "upstream" in log.lower(), "the failures were logged"
    everything = log + "\n".join(answers)
    for name, value in (
        ("plex token", PLEX_TOKEN),
        ("webhook secret", secret),
        ("TMDB key", DEFAULT_API_KEY),
        ("encryption key", TEST_KEY),
    ):
        assert value not in everything, f"the {name} leaked"
