"""Fuzzing the webhook endpoint over real HTTP: random and truncated multipart bodies, random
JSON, huge fields, wrong types, odd Unicode, NULs, lone surrogates. Every answer is a 4xx, or
a 200 with a log row; never a 500; the daemon stays up and its memory stays bounded."""

from __future__ import annotations

import json
import random
import resource
import secrets
from typing import Any

import httpx

from tests.harness import Daemon
from tests.plex_payloads import FAKE_JPEG, event, legacy_episode, multipart, scrobble

SEED = 20240707
UNICODE = [
    "Ｔｈｅ Ｏｆｆｉｃｅ",
    "進撃の巨人",
    "שׁוֹגוּן",
    "Pokémon 🐉🔥",
    "e\u0301\u0301\u0301",
    "\u202eevil",
    "\ufeffBOM",
    "a\u2028b",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
]
# Out-of-range integers (2**70) have their own test below: they are a known bug.
WRONG = [None, True, 1.5, -1, 2**31 - 1, "", "x" * 5000, [], {}, [1, 2], {"a": {"b": None}}]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(WRONG)
    if kind == 1:
        return rng.randint(-(2**40), 2**40)
    if kind == 2:
        return rng.choice(UNICODE) + "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(5))
    if kind == 3:
        return rng.random()
    if kind in (4, 5):
        return {
            rng.choice([*UNICODE[:3], "event", "Metadata", "index"]): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(4))
        }
    return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def _mutated_payload(rng: random.Random) -> dict[str, Any]:
    body = scrobble(legacy_episode("thetvdb", str(rng.randint(1, 10**6)), 1, rng.randint(1, 9)))
    meta = body["Metadata"]
    for _ in range(rng.randint(1, 3)):
        target = meta if rng.random() < 0.7 else body
        key = rng.choice(list(target))
        target[key] = rng.choice([*WRONG, rng.choice(UNICODE), _random_json(rng)])
    return body


def _cases(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(what, body, content type) for every hostile class, several of each."""
    cases: list[tuple[str, bytes, str]] = []
    good = json.dumps(scrobble(legacy_episode("thetvdb", "73244", 2, 3)))
    body, ctype = multipart(good, thumb=FAKE_JPEG)
    for _ in range(25):
        cut = rng.randrange(len(body))
        cases.append(("truncated multipart", body[:cut], ctype))
    for _ in range(15):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        cases.append(("random bytes as multipart", noise, ctype))
        cases.append(
            (
                "random bytes, random type",
                noise,
                rng.choice(
                    [
                        "application/json",
                        "text/plain",
                        "application/x-www-form-urlencoded",
                        "multipart/form-data",
                        "multipart/form-data; boundary=",
                        "image/jpeg",
                    ]
                ),
            )
        )
    for _ in range(30):
        cases.append(("random JSON", *multipart(json.dumps(_random_json(rng)))))
    for _ in range(40):
        cases.append(("wrong types", *multipart(json.dumps(_mutated_payload(rng)))))
    for title in UNICODE:
        meta = legacy_episode("thetvdb", "73244", 2, 3, show=title, title=title)
        cases.append(("unicode title", *multipart(json.dumps(scrobble(meta)))))
    nul = good.replace('"Office Olympics"', '"Office\\u0000Olympics"')
    cases.append(("NUL escaped", *multipart(nul)))
    cases.append(("NUL raw", *multipart(good.encode().replace(b"Office", b"Off\x00ce"))))
    surrogate = good.replace('"Office Olympics"', '"\\ud83d lonely"')
    cases.append(("lone surrogate", *multipart(surrogate)))
    cases.append(("invalid UTF-8", *multipart(good.encode().replace(b"Office", b"Off\xff\xfe"))))
    huge = scrobble(legacy_episode("thetvdb", "73244", 2, 3, title="t" * 2_000_000))
    cases.append(("2 MB title", *multipart(json.dumps(huge))))
    many = scrobble(legacy_episode("thetvdb", "73244", 2, 3))
    many["Metadata"]["Role"] = [{"tag": f"Actor {i}", "id": i} for i in range(50_000)]
    cases.append(("50,000 roles", *multipart(json.dumps(many))))
    cases.append(("deep nesting", *multipart("[" * 200_000 + "]" * 200_000)))
    cases.append(
        ("deep object", *multipart('{"event":"x","a":' + "[" * 100_000 + "]" * 100_000 + "}"))
    )
    cases.append(("JSON body", json.dumps(scrobble()).encode(), "application/json"))
    cases.append(
        ("form body", b"payload=%7B%22event%22%3A1%7D", "application/x-www-form-urlencoded")
    )
    cases.append(("form, bad utf-8", b"payload=%FF%FE", "application/x-www-form-urlencoded"))
    cases.append(("empty", b"", ctype))
    cases.append(("no content type", good.encode(), ""))
    boundary = "b" * 70
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="p{i}"\r\n\r\nx\r\n'.encode()
        for i in range(2000)
    )
    cases.append(
        (
            "2,000 parts, no payload",
            parts + f"--{boundary}--\r\n".encode(),
            f"multipart/form-data; boundary={boundary}",
        )
    )
    nested = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n'
        f"Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\nx\r\n--inner--\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    cases.append(("nested multipart", nested, f"multipart/form-data; boundary={boundary}"))
    cases.append(("event only", *multipart(json.dumps(event("media.pause", None)))))
    return cases


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_fuzzed_bodies_get_a_4xx_or_a_logged_200_never_a_500(daemon: Daemon) -> None:
    user_id, secret = await daemon.connect()
    rng = random.Random(SEED)
    cases = _cases(rng)
    before = _rss_mb()
    answered: list[tuple[str, int, int | None]] = []
    for what, body, ctype in cases:
        headers = {"Content-Type": ctype} if ctype else {}
        resp = await daemon.http.post(
            daemon.base_url + "/api/plex/webhook",
            params={"secret": secret},
            content=body,
            headers=headers,
        )
        assert resp.status_code < 500, (what, resp.status_code, resp.text[:300])
        assert resp.status_code == 200 or 400 <= resp.status_code < 500, what
        data = resp.json()  # always a JSON answer, never a stack trace
        assert "Traceback" not in resp.text
        log_id = data.get("id")
        if resp.status_code == 200:
            assert isinstance(log_id, int), (what, data)
        answered.append((what, resp.status_code, log_id))
    # Each answer that named a row has that row, with a reason when it failed.
    ids = [log_id for _w, _s, log_id in answered if log_id is not None]
    rows = {
        r["id"]: r
        for r in await daemon.fetch(
            "SELECT id, status, error_message FROM plex_webhook_logs WHERE user_id = $1", user_id
        )
    }
    assert set(ids) <= set(rows), "an answered id has no log row"
    for what, status, log_id in answered:
        if log_id is not None and status == 400:
            assert rows[log_id]["status"] == "failed" and rows[log_id]["error_message"], what
    # Every log row belongs to an answer (nothing half-written by a failed request).
    assert len(rows) == len(ids)
    # Classes that must be refused, not stored.
    by_what = {w: s for w, s, _ in answered}
    for what in ("NUL escaped", "NUL raw", "lone surrogate", "invalid UTF-8", "deep nesting"):
        assert by_what[what] == 400, what
    assert by_what["unicode title"] == 200
    # The daemon is still healthy, its queue drains, and memory stayed bounded (this test
    # process hosts the daemon: 2 MB and 3 MB bodies must not pin tens of MB each).
    assert (await daemon.http.get(daemon.base_url + "/healthz")).status_code == 200
    for log_id in ids:
        await daemon.settled(log_id)
    assert _rss_mb() - before < 200, f"max RSS grew by {_rss_mb() - before:.0f} MB"


async def test_a_stream_of_oversized_bodies_keeps_memory_bounded(daemon: Daemon) -> None:
    _user_id, secret = await daemon.connect()
    limit = daemon.services.settings.max_body_bytes
    thumb = secrets.token_bytes(limit + 1024)
    body, ctype = multipart(scrobble(), thumb=thumb)
    before = _rss_mb()

    async def chunks() -> Any:
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]

    for _ in range(10):
        # Streamed with no Content-Length, so only the handler's own counting can stop it.
        try:
            resp = await daemon.http.post(
                daemon.base_url + "/api/plex/webhook",
                params={"secret": secret},
                content=chunks(),
                headers={"Content-Type": ctype},
            )
        except httpx.HTTPError:
            continue  # the server may hang up once it has said 413
        assert resp.status_code == 413
    grown = _rss_mb() - before
    assert grown < 3 * limit / 2**20, f"max RSS grew by {grown:.0f} MB"
    assert (await daemon.http.get(daemon.base_url + "/healthz")).status_code == 200


async def test_out_of_range_numbers_are_a_400_not_a_500(daemon: Daemon) -> None:
    _user_id, secret = await daemon.connect()
    for field in ("index", "parentIndex", "year", "lastViewedAt", "duration"):
        meta = legacy_episode("thetvdb", "73244", 2, 3)
        meta[field] = 2**70
        resp = await daemon.post(scrobble(meta), secret)
        assert resp.status_code in (200, 400), (field, resp.status_code)
        if resp.status_code == 200:
            await daemon.settled(resp.json()["id"])
