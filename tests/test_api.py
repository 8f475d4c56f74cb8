"""The JSON API over real HTTP: good, missing, malformed, unknown and other-user tokens, each
route's answer, and an OpenAPI document that describes every route under /api/plex."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.fakes.plex_server import DEFAULT_TOKEN as PLEX_TOKEN
from tests.harness import Daemon
from tests.plex_payloads import episode, event, scrobble

OFFICE = {
    "title": "The Office",
    "year": 2005,
    "tmdb_id": 2316,
    "seasons": [{"season_number": 2, "episodes": [{"episode_number": 3, "runtime": 22}]}],
}


class Api:
    def __init__(self, daemon: Daemon, token: str | None) -> None:
        self.daemon = daemon
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.daemon.http.request(
            method, self.daemon.base_url + path, headers=self.headers, **kw
        )


async def _user_with_token(daemon: Daemon, name: str) -> tuple[int, str, Api]:
    user_id, secret = await daemon.connect(name)
    token = (await daemon.services.api_tokens.create(user_id)).token
    return user_id, secret, Api(daemon, token)


async def _mapping(daemon: Daemon, user_id: int, key: str) -> int:
    rows = await daemon.fetch(
        """INSERT INTO plex_show_mappings (user_id, plex_rating_key, plex_title, match_method)
           VALUES ($1, $2, 'Some Show', 'fuzzy') RETURNING id""",
        user_id,
        key,
    )
    return int(rows[0]["id"])


async def test_tokens_missing_malformed_unknown_get_401_json(daemon: Daemon) -> None:
    await _user_with_token(daemon, "alice")
    for headers, message in (
        ({}, "missing bearer token"),
        ({"Authorization": "Basic YWxpY2U6eA=="}, "malformed Authorization header"),
        ({"Authorization": "Bearer"}, "malformed Authorization header"),
        ({"Authorization": "Bearer ptk_not-a-real-token"}, "invalid or revoked token"),
    ):
        for path in ("/api/plex/config", "/api/plex/logs", "/api/plex/conflicts"):
            got = await daemon.http.get(daemon.base_url + path, headers=headers)
            assert got.status_code == 401, (path, headers)
            assert got.json()["error"].startswith(message)
            assert got.headers["WWW-Authenticate"].startswith("Bearer")


async def test_config_get_post_delete(daemon: Daemon) -> None:
    user_id, secret, api = await _user_with_token(daemon, "alice")
    got = await api("GET", "/api/plex/config")
    assert got.status_code == 200
    body = got.json()
    assert body["connected"] is True and body["auto_add_shows"] is True
    assert body["webhook_url"].endswith(f"secret={secret}")
    assert "plex_token" not in body and PLEX_TOKEN not in got.text

    changed = await api(
        "POST", "/api/plex/config", json={"auto_add_shows": False, "accounts": ["Kid"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["auto_add_shows"] is False
    assert changed.json()["followed_accounts"] == ["Kid"]

    rotated = await api("POST", "/api/plex/config", json={"rotate_secret": True})
    assert rotated.status_code == 200
    assert not rotated.json()["webhook_url"].endswith(secret)

    for bad, message in (
        ({"auto_add_shows": "maybe"}, "invalid body: auto_add_shows"),
        ({"nope": 1}, "invalid body: nope"),
        ({"server_url": "ftp://example.com"}, "server_url: must be a URL starting with http"),
    ):
        answer = await api("POST", "/api/plex/config", json=bad)
        assert answer.status_code == 400 and message in answer.json()["error"], answer.text
    raw = await daemon.http.post(
        daemon.base_url + "/api/plex/config",
        content=b"{",
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and raw.json()["error"] == "the body is not valid JSON"

    gone = await api("DELETE", "/api/plex/config")
    assert gone.status_code == 200 and gone.json() == {"disconnected": True}
    after = (await api("GET", "/api/plex/config")).json()
    assert after["connected"] is False and after["webhook_url"] is None
    # The old secret no longer opens the webhook.
    assert (await daemon.post(scrobble(episode()), secret)).status_code == 401

    reconnect = await api(
        "POST", "/api/plex/config", json={"plex_token": PLEX_TOKEN, "verify": False}
    )
    assert reconnect.status_code == 200 and reconnect.json()["connected"] is True
    assert user_id == (await daemon.services.accounts.user_by_name("alice")).id


async def test_config_of_a_user_never_connected_is_404(daemon: Daemon) -> None:
    async with daemon.services.pool.acquire() as conn:
        user_id = await conn.fetchval("INSERT INTO users (name) VALUES ('carol') RETURNING id")
    api = Api(daemon, (await daemon.services.api_tokens.create(user_id)).token)
    got = await api("GET", "/api/plex/config")
    assert got.status_code == 404 and "not connected" in got.json()["error"]


async def test_logs_are_paged_filtered_and_per_user(daemon: Daemon) -> None:
    _, secret, api = await _user_with_token(daemon, "alice")
    _, bob_secret, bob = await _user_with_token(daemon, "bob")
    for name in ("media.play", "media.pause", "media.resume"):
        assert (await daemon.post(event(name, episode()), secret)).status_code == 200
    assert (await daemon.post(event("media.stop", episode()), bob_secret)).status_code == 200

    first = (await api("GET", "/api/plex/logs", params={"limit": 2})).json()
    assert [i["event_type"] for i in first["items"]] == ["media.resume", "media.pause"]
    assert first["next_offset"] == 2
    rest = (await api("GET", "/api/plex/logs", params={"limit": 2, "offset": 2})).json()
    assert [i["event_type"] for i in rest["items"]] == ["media.play"]
    assert rest["next_offset"] is None
    ignored = (await api("GET", "/api/plex/logs", params={"status": "ignored"})).json()
    assert len(ignored["items"]) == 3
    assert (await api("GET", "/api/plex/logs", params={"status": "success"})).json()["items"] == []
    bobs = (await bob("GET", "/api/plex/logs")).json()["items"]
    assert [i["event_type"] for i in bobs] == ["media.stop"]
    for params, message in (
        ({"status": "weird"}, "status must be one of"),
        ({"limit": "0"}, "limit must be between 1 and 200"),
        ({"offset": "x"}, "offset must be an integer"),
    ):
        bad = await api("GET", "/api/plex/logs", params=params)
        assert bad.status_code == 400 and message in bad.json()["error"]


async def test_mappings_list_and_patch_with_403_and_404(daemon: Daemon) -> None:
    alice_id, _, alice = await _user_with_token(daemon, "alice")
    bob_id, _, bob = await _user_with_token(daemon, "bob")
    await daemon.import_shows(alice_id, [OFFICE])
    show_id = (await daemon.fetch("SELECT id FROM tvshows WHERE user_id = $1", alice_id))[0]["id"]
    mapping_id = await _mapping(daemon, alice_id, "100")
    bobs_mapping = await _mapping(daemon, bob_id, "200")

    listed = (await alice("GET", "/api/plex/mappings")).json()
    assert [m["id"] for m in listed["items"]] == [mapping_id]

    paused = await alice("PATCH", f"/api/plex/mappings/{mapping_id}", json={"sync_enabled": False})
    assert paused.status_code == 200 and paused.json()["sync_enabled"] is False
    remapped = await alice("PATCH", f"/api/plex/mappings/{mapping_id}", json={"tvshow_id": show_id})
    assert remapped.status_code == 200
    assert remapped.json()["tvshow_id"] == show_id
    assert remapped.json()["match_method"] == "manual"

    other = await alice("PATCH", f"/api/plex/mappings/{bobs_mapping}", json={"sync_enabled": False})
    assert other.status_code == 403 and "another user" in other.json()["error"]
    missing = await alice("PATCH", "/api/plex/mappings/999999", json={"sync_enabled": False})
    assert missing.status_code == 404
    not_an_id = await alice("PATCH", "/api/plex/mappings/abc", json={"sync_enabled": False})
    assert not_an_id.status_code == 404
    empty = await alice("PATCH", f"/api/plex/mappings/{mapping_id}", json={})
    assert empty.status_code == 400
    wrong_show = await bob(
        "PATCH", f"/api/plex/mappings/{bobs_mapping}", json={"tvshow_id": show_id}
    )
    assert wrong_show.status_code == 404  # alice's show is not in bob's tracker
    rows = await daemon.fetch(
        "SELECT sync_enabled FROM plex_show_mappings WHERE id = $1", bobs_mapping
    )
    assert rows[0]["sync_enabled"] is True


async def test_conflicts_list_and_resolve_replays_held_scrobbles(daemon: Daemon) -> None:
    alice_id, secret, alice = await _user_with_token(daemon, "alice")
    _, _, bob = await _user_with_token(daemon, "bob")
    await daemon.import_shows(alice_id, [OFFICE])
    show_id = (await daemon.fetch("SELECT id FROM tvshows WHERE user_id = $1", alice_id))[0]["id"]
    # A Plex show the tracker can't place: no ids, a title nothing resembles.
    meta = episode(
        show="Zzyzx Unknown", show_key="777", season=2, number=3, grandparent_guid="local://1"
    )
    posted = await daemon.post(scrobble(meta), secret)
    held = await daemon.settled(posted.json()["id"])
    assert held["held_by_conflict_id"] is not None
    conflict_id = held["held_by_conflict_id"]

    listed = (await alice("GET", "/api/plex/conflicts")).json()["items"]
    assert [c["id"] for c in listed] == [conflict_id]
    assert listed[0]["held_scrobbles"] == 1
    assert (await bob("GET", "/api/plex/conflicts")).json()["items"] == []

    url = f"/api/plex/conflicts/{conflict_id}/resolve"
    forbidden = await bob("POST", url, json={"ignore": True})
    assert forbidden.status_code == 403 and "another user" in forbidden.json()["error"]
    assert (
        await alice("POST", "/api/plex/conflicts/99999/resolve", json={"ignore": True})
    ).status_code == 404
    two = await alice("POST", url, json={"ignore": True, "tvshow_id": show_id})
    assert two.status_code == 400 and "exactly one" in two.json()["error"]

    done = await alice("POST", url, json={"tvshow_id": show_id})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["tvshow_id"] == show_id and body["held"] == 1 and body["episodes_marked"] == 1
    assert body["resolved_by"] == "api" and body["already_resolved"] is False
    row = await daemon.log_row(posted.json()["id"])
    assert row["status"] == "success" and row["tvshow_id"] == show_id
    again = await alice("POST", url, json={"ignore": True})
    assert again.status_code == 200 and again.json()["already_resolved"] is True


async def test_openapi_documents_every_api_route(daemon: Daemon) -> None:
    got = await daemon.http.get(daemon.base_url + "/api/openapi.json")
    assert got.status_code == 200
    doc = got.json()
    assert doc["openapi"].startswith("3.1")
    registered = set()
    for route in daemon.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/api/plex") and route.method != "HEAD":
            registered.add((re.sub(r"\{(\w+)\}", r"{\1}", path), route.method.lower()))
    assert registered, "no routes found under /api/plex"
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert registered <= documented, registered - documented
    for path, method in registered:
        op = doc["paths"][path][method]
        assert op["responses"], (path, method)
        if path != "/api/plex/webhook":
            assert "401" in op["responses"], (path, method)
