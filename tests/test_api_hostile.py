"""The JSON API against hostile input (issue 10, items 10, 25 and 28): numbers out of the
database's range, text no database or header can hold, JSON nested 100,000 deep, explicit
nulls. Each is a 400 or 404 naming the problem, never a 500; and the answers carry exactly
the fields the OpenAPI document describes."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from core.errors import InvalidInputError
from tests.harness import PLEX_TOKEN, Daemon
from tests.plex_payloads import episode, scrobble
from tests.test_api import OFFICE, Api, _mapping, _user_with_token


async def _conflict(daemon: Daemon, secret: str) -> int:
    meta = episode(show="Zzyzx Unknown", show_key="777", grandparent_guid="local://1")
    posted = await daemon.post(scrobble(meta), secret)
    held = await daemon.settled(posted.json()["id"])
    assert held["held_by_conflict_id"] is not None
    return int(held["held_by_conflict_id"])


async def test_out_of_range_ids_and_numbers_are_400_or_404(daemon: Daemon) -> None:
    user_id, secret, api = await _user_with_token(daemon, "alice")
    mapping_id = await _mapping(daemon, user_id, "100")
    conflict_id = await _conflict(daemon, secret)
    resolve = f"/api/plex/conflicts/{conflict_id}/resolve"
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", resolve, {"json": {"tmdb_id": 2**40}}, 400, "tmdb_id"),
        ("POST", resolve, {"json": {"tmdb_id": 2**31}}, 400, "tmdb_id"),
        ("POST", resolve, {"json": {"tvshow_id": 2**64}}, 400, "tvshow_id"),
        ("POST", resolve, {"json": {"tvshow_id": 2**63}}, 400, "tvshow_id"),
        ("POST", resolve, {"json": {"tvshow_id": 0}}, 400, "tvshow_id"),
        ("POST", resolve, {"json": {"pick": 10**30}}, 400, "pick"),
        ("POST", resolve, {"json": {"pick": 99}}, 404, "no candidate 99"),
        ("POST", resolve, {"json": {"tvshow_id": 2**62}}, 404, "not in this user's tracker"),
        ("POST", resolve, {"json": {"tvshow_id": 1.5}}, 400, "tvshow_id"),
        ("POST", resolve, {"json": {"tvshow_id": "5"}}, 400, "tvshow_id"),
        ("POST", resolve, {"json": {"ignore": False}}, 400, "exactly one"),
        (
            "POST",
            "/api/plex/conflicts/12345678901234567890/resolve",
            {"json": {"ignore": True}},
            404,
            "no such id",
        ),
        (
            "POST",
            f"/api/plex/conflicts/{2**62}/resolve",
            {"json": {"ignore": True}},
            404,
            "no conflict",
        ),
        ("POST", "/api/plex/conflicts/0/resolve", {"json": {"ignore": True}}, 404, "no such id"),
        (
            "POST",
            "/api/plex/conflicts/%D9%A3/resolve",
            {"json": {"ignore": True}},
            404,
            "no such id",
        ),
        (
            "PATCH",
            f"/api/plex/mappings/{mapping_id}",
            {"json": {"tvshow_id": 2**64}},
            400,
            "tvshow_id",
        ),
        (
            "PATCH",
            "/api/plex/mappings/99999999999999999999",
            {"json": {"sync_enabled": True}},
            404,
            "no such id",
        ),
        (
            "PATCH",
            f"/api/plex/mappings/{2**63 - 1}",
            {"json": {"sync_enabled": True}},
            404,
            "no mapping",
        ),
        ("GET", "/api/plex/logs", {"params": {"offset": "9" * 20}}, 400, "offset"),
        ("GET", "/api/plex/logs", {"params": {"offset": "10000001"}}, 400, "offset"),
        ("GET", "/api/plex/mappings", {"params": {"limit": "1e3"}}, 400, "limit"),
        ("GET", "/api/plex/mappings", {"params": {"offset": "-1"}}, 400, "offset"),
    ]
    for method, path, kw, status, message in cases:
        got = await api(method, path, **kw)
        assert got.status_code == status, (method, path, kw, got.status_code, got.text)
        assert message in got.json()["error"], (path, kw, got.text)
    # The conflict is untouched by all of that.
    listed = (await api("GET", "/api/plex/conflicts")).json()["items"]
    assert [c["id"] for c in listed] == [conflict_id]
    await daemon.import_shows(user_id, [OFFICE])


async def test_config_text_fields_are_validated_and_named(daemon: Daemon) -> None:
    _, _, api = await _user_with_token(daemon, "alice")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"plex_token": "tökén"}, "plex_token"),
        ({"plex_token": "abc\u0000def"}, "plex_token"),
        ({"plex_token": "abc def"}, "plex_token"),
        ({"plex_token": ""}, "plex_token"),
        ({"accounts": ["ali\u0000ce"]}, "accounts.0"),
        ({"accounts": ["bob", "x\u001b[31m"]}, "accounts.1"),
        ({"accounts": ["x" * 201]}, "accounts.0"),
        ({"accounts": ["a"] * 101}, "accounts"),
        ({"server_url": "http://plex\u0000.lan:32400"}, "server_url"),
        ({"server_url": "http://plëx.lan:32400"}, "server_url"),
        ({"server_url": "http://"}, "server_url"),
        ({"plex_token": None}, "plex_token: leave the field out"),
        ({"enabled": None}, "enabled"),
        ({"enabled": "true"}, "enabled"),
        ({"enabled": 1}, "enabled"),
    ]
    for body, field in cases:
        got = await api("POST", "/api/plex/config", json=body)
        assert got.status_code == 400, (body, got.status_code, got.text)
        assert field in got.json()["error"], (body, got.text)
    # Lone surrogates can only be sent as JSON escapes; so can a body nested 100,000 deep.
    raw_cases = [
        (b'{"plex_token": "ab\\ud800cd"}', "plex_token"),
        (b'{"accounts": ["\\udfff"]}', "accounts.0"),
        (b'{"server_url": "http://x/\\ud83d"}', "server_url"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b'{"accounts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deep"),
    ]
    for content, message in raw_cases:
        got = await daemon.http.post(
            daemon.base_url + "/api/plex/config",
            content=content,
            headers={**api.headers, "Content-Type": "application/json"},
        )
        assert got.status_code == 400, (content[:60], got.status_code, got.text)
        assert message in got.json()["error"], (content[:60], got.text)
    # Nothing was changed by any of it.
    config = (await api("GET", "/api/plex/config")).json()
    assert config["followed_accounts"] == [] and config["enabled"] is True


async def test_patch_with_nothing_to_change_is_400(daemon: Daemon) -> None:
    user_id, _, api = await _user_with_token(daemon, "alice")
    mapping_id = await _mapping(daemon, user_id, "100")
    for body in ({}, {"sync_enabled": None}):
        got = await api("PATCH", f"/api/plex/mappings/{mapping_id}", json=body)
        assert got.status_code == 400, got.text


async def test_answers_match_the_openapi_schemas_exactly(daemon: Daemon) -> None:
    """Every object schema forbids fields it doesn't list: a field the server adds (or
    drops) without the document saying so fails here."""
    user_id, secret, api = await _user_with_token(daemon, "alice")
    await daemon.import_shows(user_id, [OFFICE])
    show_id = (await daemon.fetch("SELECT id FROM tvshows WHERE user_id = $1", user_id))[0]["id"]
    mapping_id = await _mapping(daemon, user_id, "100")
    conflict_id = await _conflict(daemon, secret)
    doc = (await daemon.http.get(daemon.base_url + "/api/openapi.json")).json()

    def check(got: Any, method: str, path: str) -> None:
        op = doc["paths"][path][method.lower()]
        schema = op["responses"][str(got.status_code)]["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})
        errors = [e.message for e in validator.iter_errors(got.json())]
        assert not errors, (method, path, got.status_code, errors)

    for method, path, template, kw in (
        ("GET", "/api/plex/config", None, {}),
        ("GET", "/api/plex/mappings", None, {}),
        (
            "PATCH",
            f"/api/plex/mappings/{mapping_id}",
            "/api/plex/mappings/{id}",
            {"json": {"sync_enabled": False}},
        ),
        ("GET", "/api/plex/conflicts", None, {}),
        ("GET", "/api/plex/logs", None, {}),
        (
            "POST",
            f"/api/plex/conflicts/{conflict_id}/resolve",
            "/api/plex/conflicts/{id}/resolve",
            {"json": {"tvshow_id": show_id}},
        ),
        (
            "POST",
            f"/api/plex/conflicts/{conflict_id}/resolve",
            "/api/plex/conflicts/{id}/resolve",
            {"json": {"pick": 1}},
        ),
        ("POST", "/api/plex/conflicts/1/resolve", "/api/plex/conflicts/{id}/resolve", {"json": {}}),
        ("POST", "/api/plex/config", None, {"json": {"auto_add_shows": False}}),
        ("DELETE", "/api/plex/config", None, {}),
    ):
        got = await api(method, path, **kw)
        assert got.status_code < 500, got.text
        check(got, method, template or path)
    unauthorized = await Api(daemon, None)("GET", "/api/plex/logs")
    check(unauthorized, "GET", "/api/plex/logs")
    hook = await daemon.post(scrobble(), "nope")
    check(hook, "POST", "/api/plex/webhook")


async def test_server_urls_are_checked_and_stored_without_credentials(daemon: Daemon) -> None:
    """A server URL with a port out of range or a broken IPv6 literal used to be stored, and
    every scrobble of a `plex://` show then failed with "internal error: ValueError"; one
    with `?X-Plex-Token=…` or `user:pass@` kept that token in the clear in plex_config."""
    user_id, _, api = await _user_with_token(daemon, "alice")
    for url in ("http://plex.lan:99999", "http://[::1:32400", "http://plex.lan:port"):
        got = await api("POST", "/api/plex/config", json={"server_url": url})
        assert got.status_code == 400, (url, got.text)
        assert "server_url" in got.json()["error"], got.text
        with pytest.raises(InvalidInputError, match="the server URL has a port"):
            # the path `plex-tracker connect --server-url` and Discord's connect form take
            await daemon.services.accounts.connect(
                user_name="alice", plex_token=PLEX_TOKEN, server_url=url
            )
    pasted = "http://me:hunter2@192.168.1.10:32400/?X-Plex-Token=sEcReTtOkEn#x"
    got = await api("POST", "/api/plex/config", json={"server_url": pasted})
    assert got.status_code == 200, got.text
    assert got.json()["server_url"] == "http://192.168.1.10:32400"
    [row] = await daemon.fetch("SELECT server_url FROM plex_config WHERE user_id = $1", user_id)
    assert row["server_url"] == "http://192.168.1.10:32400"


async def test_a_stored_server_url_that_cannot_be_read_fails_retryably_not_internally(
    daemon: Daemon,
) -> None:
    """A value stored before the check (or edited in the database) is the user's problem to
    fix, said as such, and the scrobble is kept for a retry."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [OFFICE])
    await daemon.fetch(
        "UPDATE plex_config SET server_url = 'http://[::1:32400' WHERE user_id = $1", user_id
    )
    answer = await daemon.post(scrobble(episode(show_key="4242")), secret)
    row = await daemon.settled(answer.json()["id"], 30)
    assert row["status"] == "failed" and row["retryable"], dict(row)
    assert row["action_taken"] != "internal_error", dict(row)
    assert "the Plex server URL has a port or an IPv6 address" in row["error_message"]
