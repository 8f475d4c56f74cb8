"""The real-world payload corpus (tests/corpus/, sources in its README), each payload sent
as its sender sends it through the real HTTP endpoint and processed by the real worker on
PostgreSQL, with the outcome it must have: marked, a conflict, ignored with a reason, or a
400 with a failed row.

Every queued row's normalised columns (which the worker's SQL fast path reads) must equal
what the Python path derives from the stored payload, so the two paths can't disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.payload import PlexWebhook, scrobble_keys
from tests.harness import Daemon
from tests.plex_payloads import FAKE_JPEG, multipart
from tests.processes import free_port

CORPUS = Path(__file__).parent / "corpus"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text())


def _episodes(*numbers: tuple[int, int]) -> list[dict[str, Any]]:
    seasons: dict[int, list[int]] = {}
    for season, episode in numbers:
        seasons.setdefault(season, []).append(episode)
    return [
        {
            "season_number": s,
            "episodes": [{"episode_number": n, "runtime": 22} for n in range(1, max(eps) + 1)],
        }
        for s, eps in seasons.items()
    ]


LIBRARY = [
    {
        "title": "The Office",
        "year": 2005,
        "tmdb_id": 2316,
        "tvdb_id": 73244,
        "imdb_id": "tt0386676",
        "seasons": _episodes((1, 6), (2, 8)),
    },
    {
        "title": "Futurama",
        "year": 1999,
        "tmdb_id": 615,
        "tvdb_id": 73871,
        "seasons": _episodes((1, 9), (2, 20)),
    },
    {
        "title": "Breaking Bad",
        "year": 2008,
        "tmdb_id": 1396,
        "tvdb_id": 81189,
        "seasons": _episodes((1, 7), (2, 13)),
    },
    {"title": "Attack on Titan", "year": 2013, "tvdb_id": 267440, "seasons": _episodes((1, 25))},
    # Traps: TMDB 603 is The Matrix (a movie; HAMA's tmdb-603), 397575 an EPISODE's TMDB id.
    {"title": "Some Other Show", "year": 2011, "tmdb_id": 603, "seasons": _episodes((1, 3))},
    {"title": "Yet Another Show", "year": 2012, "tmdb_id": 397575, "seasons": _episodes((1, 3))},
]


async def _setup(daemon: Daemon, case: dict[str, Any]) -> str:
    user_id, secret = await daemon.connect()
    daemon.plex_server.add_show(
        "1936543",
        "The Office",
        2005,
        guids=["imdb://tt0386676", "tmdb://2316", "tvdb://73244"],
        guid="plex://show/5d9c086c46115600200aa2fe",
    )
    # A show of a legacy agent as the server describes it: its ids only in its own guid.
    item = daemon.plex_server.add_show(
        "7888", "Breaking Bad", 2008, guid="com.plexapp.agents.thetvdb://81189?lang=en"
    )
    item.guids.clear()
    await daemon.import_shows(user_id, LIBRARY)
    if case.get("setup", {}).get("plex_server") == "unreachable":
        # Nothing listens there: connection refused, as for a server that is off.
        await daemon.services.accounts.update_settings(
            user_id, server_url=f"http://127.0.0.1:{free_port()}"
        )
    return secret


async def _send(daemon: Daemon, case: dict[str, Any], secret: str) -> Any:
    body = (CORPUS / case["file"]).read_bytes()
    url = daemon.base_url + "/api/plex/webhook"
    if case["transport"] == "json":
        return await daemon.http.post(
            url,
            params={"secret": secret},
            content=body,
            headers={"Content-Type": "application/json"},
        )
    if case["transport"] == "form":
        return await daemon.http.post(
            url, params={"secret": secret}, data={"payload": body.decode()}
        )
    content, ctype = multipart(body, thumb=FAKE_JPEG if case.get("thumb") else None)
    return await daemon.http.post(
        url, params={"secret": secret}, content=content, headers={"Content-Type": ctype}
    )


async def _watched(daemon: Daemon, title: str) -> list[tuple[int, int]]:
    rows = await daemon.fetch(
        """SELECT e.season, e.episode FROM tvshow_episodes e JOIN tvshows t ON t.id = e.tvshow_id
           WHERE t.title = $1 AND e.watched ORDER BY 1, 2""",
        title,
    )
    return [(r["season"], r["episode"]) for r in rows]


def _case_id(case: dict[str, Any]) -> str:
    setup = case.get("setup", {}).get("plex_server")
    return case["file"].removesuffix(".json") + (f"+{setup}" if setup else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
async def test_corpus_payload_has_its_outcome(daemon: Daemon, case: dict[str, Any]) -> None:
    expect = case["expect"]
    secret = await _setup(daemon, case)
    answer = await _send(daemon, case, secret)
    assert answer.status_code == expect["http"], answer.text
    log_id = answer.json()["id"]
    row = await daemon.settled(log_id)

    assert row["status"] == expect["status"], (row["status"], row["error_message"])
    if "action" in expect:
        assert row["action_taken"] == expect["action"], row["error_message"]
    if "reason" in expect:
        assert expect["reason"] in (row["error_message"] or ""), row["error_message"]
    if expect.get("raw_body"):
        # The body as it came is kept (a first part of it), beside what was storable.
        assert row["raw_body"], "the raw body is kept"
        assert row["raw_body"] == (CORPUS / case["file"]).read_text()[: len(row["raw_body"])]
    if "watched" in expect:
        title, season, episode = expect["watched"]
        assert await _watched(daemon, title) == [(season, episode)]
    if "untouched" in expect:
        assert await _watched(daemon, expect["untouched"]) == []
        mapped = await daemon.fetch(
            """SELECT 1 FROM plex_show_mappings m JOIN tvshows t ON t.id = m.tvshow_id
               WHERE t.title = $1""",
            expect["untouched"],
        )
        assert mapped == [], "never mapped to the trap"
    if "method" in expect:
        (mapping,) = await daemon.fetch("SELECT * FROM plex_show_mappings")
        assert mapping["match_method"] == expect["method"]
    if expect.get("held"):
        assert row["held_by_conflict_id"] is not None
        (conflict,) = await daemon.fetch(
            "SELECT * FROM plex_conflicts WHERE id = $1", row["held_by_conflict_id"]
        )
        if "conflict_type" in expect:
            assert conflict["conflict_type"] == expect["conflict_type"]
        if "key" in expect:
            assert conflict["plex_rating_key"] == expect["key"]
    elif "key" in expect:
        assert row["plex_rating_key"] == expect["key"]
    if "server_requests" in expect:
        assert len(daemon.plex_server.requests) == expect["server_requests"]
    if row["status"] in ("success", "pending"):
        await _columns_agree_with_python_path(row)


async def _columns_agree_with_python_path(row: Any) -> None:
    """The worker's SQL reads the row's columns; its Python path re-reads the payload."""
    payload = row["payload"]
    keys = scrobble_keys(
        PlexWebhook.model_validate(json.loads(payload) if isinstance(payload, str) else payload)
    )
    assert keys is not None
    watched_at = row["plex_watched_at"]
    assert (
        row["plex_rating_key"],
        row["plex_item_key"],
        row["plex_account_id"],
        row["plex_season"],
        row["plex_episode"],
        int(watched_at.timestamp()) if watched_at else None,
    ) == (
        keys.show_key,
        keys.item_key,
        keys.account_key,
        keys.season,
        keys.episode,
        keys.watched_at,
    )


def test_every_corpus_file_is_listed_and_sourced() -> None:
    files = {p.name for p in CORPUS.glob("*.json")} - {"cases.json"}
    listed = {c["file"] for c in CASES}
    assert files == listed
    readme = (CORPUS / "README.md").read_text()
    for name in files:
        assert name in readme, f"{name}: say where its shape comes from in corpus/README.md"
