"""`POST /api/plex/sync` and `GET /api/plex/sync/{id}` over real HTTP: 202 with the run's id,
the run executed by the daemon's sync poller against the fake Plex server, its status
read back; other users' runs, bad bodies and users who never connected."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import Daemon
from tests.history_support import T0, plex_show, tracker_show


async def token_for(daemon: Daemon, user_id: int) -> dict[str, str]:
    token = (await daemon.services.api_tokens.create(user_id)).token
    return {"Authorization": f"Bearer {token}"}


async def until_done(daemon: Daemon, headers: dict[str, str], run_id: int) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            got = await daemon.http.get(
                f"{daemon.base_url}/api/plex/sync/{run_id}", headers=headers
            )
            assert got.status_code == 200, got.text
            body: dict[str, Any] = got.json()
            if body["state"] not in ("queued", "running"):
                return body
            await asyncio.sleep(0.05)


async def test_post_sync_answers_202_and_the_run_can_be_followed(daemon: Daemon) -> None:
    daemon.services.history.start()  # what `plex-tracker run` does
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(user_id, [tracker_show("The Office", 2005, 2316, {1: 6})])
    office = plex_show(daemon.plex_server, 100, "The Office", 2005, {1: 6}, tmdb_id=2316)
    for n in (1, 2):
        daemon.plex_server.watch(office.ep(1, n).rating_key, viewed_at=T0 + n)
    alice = await token_for(daemon, user_id)
    url = daemon.base_url + "/api/plex/sync"

    assert (await daemon.http.post(url)).status_code == 401
    started = await daemon.http.post(url, headers=alice)
    assert started.status_code == 202, started.text
    run = started.json()
    assert started.headers["Location"] == run["status_url"] == f"/api/plex/sync/{run['id']}"
    assert run["state"] in ("queued", "running") and run["trigger"] == "api"
    assert run["mode"] == "incremental"

    done = await until_done(daemon, alice, run["id"])
    assert done["state"] == "succeeded", done
    assert (done["episodes_marked"], done["shows_seen"], done["error"]) == (2, 1, None)
    assert done["progress"]["phase"] == "history" and done["plex_requests"] >= 5
    assert done["finished_at"] is not None

    # Full, since, dry run; bad bodies are 400 with the reason.
    dry = await daemon.http.post(url, headers=alice, json={"full": True, "dry_run": True})
    assert dry.status_code == 202 and dry.json()["dry_run"] and dry.json()["mode"] == "full"
    dry_done = await until_done(daemon, alice, dry.json()["id"])
    assert dry_done["already_watched"] == 2 and dry_done["episodes_marked"] == 0
    for bad in ({"full": True, "since": "2024-01-01"}, {"since": "last week"}, {"nope": 1}):
        answer = await daemon.http.post(url, headers=alice, json=bad)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"]
    since = await daemon.http.post(url, headers=alice, json={"since": "2024-01-01"})
    assert since.status_code == 202 and since.json()["mode"] == "since"
    await until_done(daemon, alice, since.json()["id"])


async def test_another_users_run_unknown_runs_and_users_without_plex(daemon: Daemon) -> None:
    alice_id, _ = await daemon.connect("alice")
    bob_id, _ = await daemon.connect("bob")
    alice, bob = await token_for(daemon, alice_id), await token_for(daemon, bob_id)
    run = (await daemon.http.post(daemon.base_url + "/api/plex/sync", headers=alice)).json()
    # Twice in a row: the run on its way, not a second one.
    again = await daemon.http.post(daemon.base_url + "/api/plex/sync", headers=alice)
    assert again.status_code == 202 and again.json()["id"] == run["id"]

    theirs = await daemon.http.get(f"{daemon.base_url}/api/plex/sync/{run['id']}", headers=bob)
    assert theirs.status_code == 403 and "another user" in theirs.json()["error"]
    for missing in ("999999", "0", "abc", str(2**70)):
        got = await daemon.http.get(f"{daemon.base_url}/api/plex/sync/{missing}", headers=alice)
        assert got.status_code == 404, missing

    await daemon.services.accounts.disconnect(bob_id)
    gone = await daemon.http.post(daemon.base_url + "/api/plex/sync", headers=bob)
    assert gone.status_code == 404 and "not connected" in gone.json()["error"]


async def test_the_openapi_document_describes_the_sync_routes(daemon: Daemon) -> None:
    doc = (await daemon.http.get(daemon.base_url + "/api/openapi.json")).json()
    post = doc["paths"]["/api/plex/sync"]["post"]
    assert set(post["responses"]) >= {"202", "400", "401", "404"}
    get = doc["paths"]["/api/plex/sync/{id}"]["get"]
    assert set(get["responses"]) >= {"200", "401", "403", "404"}
    assert {"SyncRun", "SyncRequest"} <= set(doc["components"]["schemas"])


async def test_a_since_date_before_1970_reads_everything(daemon: Daemon) -> None:
    """`{"since": "0001-01-01"}` (a date the API and `sync --since` accept) failed the run
    with an internal error (asyncpg stores that date as -infinity and reads it back naive;
    `timestamp()` refuses year 1). A date before 1970 means everything."""
    daemon.services.history.start()
    user_id, _ = await daemon.connect("alice")
    await daemon.import_shows(user_id, [tracker_show("The Office", 2005, 2316, {1: 6})])
    office = plex_show(daemon.plex_server, 100, "The Office", 2005, {1: 6}, tmdb_id=2316)
    daemon.plex_server.watch(office.ep(1, 3).rating_key, viewed_at=T0)
    alice = await token_for(daemon, user_id)
    for since, marked in (("0001-01-01", 1), ("1969-12-31", 0), ("9999-12-31", 0)):
        started = await daemon.http.post(
            daemon.base_url + "/api/plex/sync", headers=alice, json={"since": since}
        )
        assert started.status_code == 202, started.text
        done = await until_done(daemon, alice, started.json()["id"])
        assert (done["state"], done["error"]) == ("succeeded", None), (since, done)
        assert done["episodes_marked"] == marked, (since, done)
