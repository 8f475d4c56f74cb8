"""/api/tv/ over real HTTP: the tracker's JSON API, per-user tokens, strict bodies."""

from __future__ import annotations

from tests.harness import Daemon
from tests.plex_payloads import legacy_episode, scrobble
from tests.test_api import _user_with_token
from tests.test_tracker import SEVERANCE, add_severance, totals_match_rows


async def test_tracker_json_api(daemon: Daemon) -> None:
    add_severance(daemon)
    alice, secret, api = await _user_with_token(daemon, "alice")
    _, _, bob_api = await _user_with_token(daemon, "bob")
    show_id = (await daemon.services.tracker.add_show(alice, SEVERANCE)).detail.show.id

    listed = await api("GET", "/api/tv/shows?filter=not_started&sort=title")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert (body["page"], body["pages"], body["total"], body["filter"]) == (0, 1, 1, "not_started")
    assert body["items"][0]["title"] == "Severance" and body["items"][0]["state"] == "not_started"
    assert (await api("GET", "/api/tv/shows?filter=bogus")).status_code == 400

    season = await api(
        "POST", f"/api/tv/shows/{show_id}/watched", json={"scope": "season", "season": 1}
    )
    assert season.status_code == 200, season.text
    assert (season.json()["changed"], season.json()["next"]["code"]) == (9, "S02E01")
    nxt = await api("POST", f"/api/tv/shows/{show_id}/watched", json={})
    assert (nxt.json()["season"], nxt.json()["episode"], nxt.json()["show"]["watched"]) == (
        2,
        1,
        10,
    )
    meta = legacy_episode("themoviedb", str(SEVERANCE), 2, 2, show="Severance", show_key="51")
    await daemon.settled((await daemon.post(scrobble(meta), secret)).json()["id"])

    detail = (await api("GET", f"/api/tv/shows/{show_id}")).json()
    assert detail["next"]["code"] == "S02E03"
    assert detail["last_watched"]["source"] in ("manual", "webhook")
    assert detail["plex"][0]["match_method"] == "tmdb_id"
    assert [s["watched"] for s in detail["seasons"]] == [0, 9, 2]
    upnext = (await api("GET", "/api/tv/upnext")).json()["items"]
    assert [(i["show"]["id"], i["next"]["code"]) for i in upnext] == [(show_id, "S02E03")]
    history = (await api("GET", "/api/tv/history?days=2&limit=3")).json()
    assert history["total"] == 11 and len(history["items"]) == 3
    everything = (await api("GET", "/api/tv/history?days=2&limit=200")).json()["items"]
    assert {w["code"]: w["source"] for w in everything}["S02E02"] == "webhook"

    # Strict bodies, clear errors, another user's show is not there.
    for bad, reason in (
        ({"season": None}, "leave the field out"),
        ({"season": "1"}, "season"),
        ({"scope": "all"}, "scope"),
        ({"colour": "red"}, "colour"),
    ):
        answer = await api("POST", f"/api/tv/shows/{show_id}/watched", json=bad)
        assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
    missing = await api(
        "POST", f"/api/tv/shows/{show_id}/watched", json={"season": 2, "episode": 40}
    )
    assert missing.status_code == 404 and "S02E40" in missing.json()["error"]
    assert (await bob_api("GET", f"/api/tv/shows/{show_id}")).status_code == 404
    bob_mark = await bob_api("POST", f"/api/tv/shows/{show_id}/watched", json={})
    assert bob_mark.status_code == 404
    assert (await api("GET", "/api/tv/shows/1")).status_code in (200, 404)
    assert (await daemon.http.get(daemon.base_url + "/api/tv/upnext")).status_code == 401
    await totals_match_rows(daemon, show_id)
    doc = (await daemon.http.get(daemon.base_url + "/api/openapi.json")).json()
    assert {"/api/tv/shows", "/api/tv/shows/{id}", "/api/tv/upnext"} <= set(doc["paths"])
