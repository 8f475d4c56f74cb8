"""Who the webhook turns away, over real HTTP (issue 10, items 8 and 18): a flood of wrong
secrets never locks out a real Plex server at the same address, valid senders are limited
per secret, X-Forwarded-For counts only from TRUSTED_PROXIES, and a draining process keeps
storing webhooks until its pool closes."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from core.db import plex_config
from core.settings import proxy_networks
from daemon.clientaddr import bucket_key, client_address
from daemon.ratelimit import FAILURES_PER_MINUTE, KnownSecrets, RateLimiter
from tests.cli import run_cli
from tests.fakes.tmdb import DEFAULT_API_KEY, FakeTmdb
from tests.harness import Daemon, running_daemon
from tests.plex_payloads import episode, event, legacy_episode, multipart, scrobble
from tests.processes import RunningService


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Counts calls of a query function while still calling it (a spy, not a stub)."""
    calls: list[int] = []
    real = getattr(module, name)

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


async def _post(
    daemon: Daemon, secret: str, *, forwarded_for: str | None = None, name: str = "media.play"
) -> httpx.Response:
    body, ctype = multipart(event(name, episode()))
    headers = {"Content-Type": ctype}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return await daemon.http.post(
        daemon.base_url + "/api/plex/webhook",
        params={"secret": secret},
        content=body,
        headers=headers,
    )


async def test_a_flood_of_wrong_secrets_never_locks_out_the_real_server(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default-sized limit: before the fix, ~100 wrong secrets a minute from the
    # server's address (the same host, NAT, a proxy) locked it out with 429s.
    async with running_daemon(clean_db, tmp_path, PLEX_RATE_LIMIT=60) as daemon:
        _, secret = await daemon.connect()
        lookups = _count_calls(monkeypatch, plex_config, "by_secret_hash")
        snapshots = _count_calls(monkeypatch, plex_config, "secret_hashes")
        flood = [f"{i:064x}" for i in range(400)]
        real: list[httpx.Response] = []
        wrong: list[httpx.Response] = []
        budget_spent = asyncio.Event()

        async def attacker() -> None:
            for chunk in range(0, len(flood), 20):
                answers = await asyncio.gather(
                    *(_post(daemon, s) for s in flood[chunk : chunk + 20])
                )
                wrong.extend(answers)
                if len(wrong) >= 3 * FAILURES_PER_MINUTE:
                    budget_spent.set()

        async def plex_server() -> None:
            # It starts sending only once the flood has used up the address's budget.
            await budget_spent.wait()
            for _ in range(20):
                real.append(await _post(daemon, secret))

        started = time.monotonic()
        await asyncio.gather(attacker(), plex_server())
        elapsed = time.monotonic() - started
    assert [r.status_code for r in real] == [200] * 20, [
        r.text for r in real if r.status_code != 200
    ]
    codes = [r.status_code for r in wrong]
    assert set(codes) == {401, 429}
    # The budget, plus what it refilled while the flood ran (slow on a loaded machine).
    allowed = FAILURES_PER_MINUTE + FAILURES_PER_MINUTE * elapsed / 60 + 1
    assert codes.count(401) <= allowed, (codes.count(401), elapsed)
    refused = next(r for r in wrong if r.status_code == 429)
    assert refused.json() == {"error": "too many failed attempts"}
    assert int(refused.headers["Retry-After"]) >= 1
    # The database was asked about a wrong secret only within the budget; past it, at most
    # one read of the valid secrets a second.
    wrong_lookups = len(lookups) - len(real)
    assert wrong_lookups <= allowed, (wrong_lookups, elapsed)
    assert len(snapshots) <= elapsed + 2, (len(snapshots), elapsed)


async def test_wrong_secrets_sent_all_at_once_get_no_more_than_the_budget(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three times the budget of wrong secrets on parallel connections: the budget used to
    be checked before the database lookup and spent after it, so every request of a burst
    passed the check (60 lookups and 60 401s here; a guesser's budget was its concurrency)."""
    lookups = _count_calls(monkeypatch, plex_config, "by_secret_hash")
    burst = [f"{i:064x}" for i in range(3 * FAILURES_PER_MINUTE)]
    started = time.monotonic()
    answers = await asyncio.gather(*(_post(daemon, s) for s in burst))
    elapsed = time.monotonic() - started
    codes = [a.status_code for a in answers]
    allowed = FAILURES_PER_MINUTE + FAILURES_PER_MINUTE * elapsed / 60 + 1
    assert codes.count(401) <= allowed, (codes.count(401), elapsed)
    assert codes.count(401) + codes.count(429) == len(burst)
    assert len(lookups) <= allowed, (len(lookups), elapsed)


async def test_a_new_valid_secret_passes_an_address_over_its_failure_budget(
    daemon: Daemon,
) -> None:
    """The in-memory list of valid secrets is re-read when it doesn't know one: a secret
    connected (or rotated) during a flood works at once."""
    await asyncio.gather(*(_post(daemon, f"{i:064x}") for i in range(FAILURES_PER_MINUTE + 5)))
    assert (await _post(daemon, "f" * 64)).status_code == 429
    _, secret = await daemon.connect("carol")
    await asyncio.sleep(1.1)  # the list was read for the last wrong secret: let it age
    assert (await _post(daemon, secret)).status_code == 200


async def test_valid_senders_are_limited_per_secret(clean_db: str, tmp_path: Path) -> None:
    async with running_daemon(clean_db, tmp_path, PLEX_RATE_LIMIT=3) as daemon:
        _, alice = await daemon.connect("alice")
        _, bob = await daemon.connect("bob")
        alices = [await _post(daemon, alice) for _ in range(4)]
        bobs = [await _post(daemon, bob) for _ in range(3)]
        text = (await daemon.http.get(daemon.base_url + "/metrics")).text
    assert [a.status_code for a in alices] == [200, 200, 200, 429]
    assert alices[3].json() == {"error": "rate limited"}
    assert 1 <= int(alices[3].headers["Retry-After"]) <= 20
    # Same address, another user's server: its own bucket.
    assert [b.status_code for b in bobs] == [200, 200, 200]
    assert 'plex_tracker_webhooks_rejected_total{reason="rate_limited"} 1.0' in text


async def test_forwarded_for_counts_only_from_trusted_proxies(
    clean_db: str, tmp_path: Path
) -> None:
    async def run(trusted: str) -> tuple[list[int], int]:
        async with running_daemon(clean_db, tmp_path, TRUSTED_PROXIES=trusted) as daemon:
            attacker = [
                (await _post(daemon, f"{i:064x}", forwarded_for="203.0.113.7")).status_code
                for i in range(FAILURES_PER_MINUTE + 1)
            ]
            # Someone else behind the same proxy, with a wrong secret too.
            other = await _post(daemon, "e" * 64, forwarded_for="198.51.100.9, 127.0.0.1")
            return attacker, other.status_code

    attacker, other = await run("127.0.0.0/8, ::1")
    assert attacker[-1] == 429 and other == 401  # each client its own failure budget
    attacker, other = await run("")
    # Not trusted: the header is the sender's own claim, so the peer address counts.
    assert attacker[-1] == 429 and other == 429


def test_client_address_takes_the_right_most_untrusted_hop() -> None:
    trusted = proxy_networks("10.0.0.0/8, 172.18.0.1, fd00::/8")
    ip = ipaddress.ip_address
    cases = [
        ("10.0.0.5", ["203.0.113.7"], ip("203.0.113.7")),
        # The client wrote its own header; the proxy appended what it saw.
        ("10.0.0.5", ["1.1.1.1, 203.0.113.7"], ip("203.0.113.7")),
        ("10.0.0.5", ["1.1.1.1, 203.0.113.7, 10.9.9.9"], ip("203.0.113.7")),
        ("10.0.0.5", ["1.1.1.1", "203.0.113.7, 172.18.0.1"], ip("203.0.113.7")),
        ("172.18.0.1", ["[2001:db8::1]:4711"], ip("2001:db8::1")),
        ("10.0.0.5", ["198.51.100.1:8080"], ip("198.51.100.1")),
        ("10.0.0.5", ["10.1.1.1, 10.2.2.2"], ip("10.1.1.1")),  # all trusted: left-most
        ("10.0.0.5", ["garbage, 10.2.2.2"], ip("10.2.2.2")),  # stop at the last trusted
        ("10.0.0.5", [], ip("10.0.0.5")),
        ("203.0.113.7", ["1.2.3.4"], ip("203.0.113.7")),  # untrusted peer: header ignored
        ("::ffff:10.0.0.5", ["203.0.113.8"], ip("203.0.113.8")),
        (None, ["1.2.3.4"], None),
    ]
    for peer, header, expected in cases:
        assert client_address(peer, header, trusted) == expected, (peer, header)
    assert client_address("10.0.0.5", ["1.2.3.4"], ()) == ip("10.0.0.5")
    a = bucket_key(ip("2001:db8:1:2::1"))
    assert a == bucket_key(ip("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert bucket_key(ip("192.0.2.1")) == "192.0.2.1"


def test_trusted_proxies_setting_is_checked(tmp_path: Path) -> None:
    from core.settings import SettingsError
    from tests.conftest import make_settings

    settings = make_settings(
        "postgresql://x/y", tmp_path, TRUSTED_PROXIES="10.0.0.1, 172.16.0.0/12"
    )
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.1/32", "172.16.0.0/12"]
    with pytest.raises(
        SettingsError, match=re.escape("TRUSTED_PROXIES: 'proxy.lan' is not an IP")
    ) as bad:
        make_settings("postgresql://x/y", tmp_path, TRUSTED_PROXIES="10.0.0.1,proxy.lan")
    assert "TRUSTED_PROXIES: TRUSTED_PROXIES" not in str(bad.value)  # named once


def test_rate_limiter_refills_and_stays_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0], max_keys=100)
    assert all(limiter.check("ip") is None for _ in range(60))
    wait = limiter.check("ip")
    assert wait is not None and 0.9 < wait <= 1.0
    assert limiter.check("other") is None
    now[0] += 1.0
    assert limiter.check("ip") is None
    # Many keys, none idle long enough to be full: memory still stays bounded.
    for i in range(1000):
        for _ in range(61):
            limiter.check(f"k{i}")
    assert len(limiter._buckets) <= 100


async def test_known_secrets_read_at_most_once_per_interval() -> None:
    now = [0.0]
    loads: list[float] = []
    current = {"a"}

    async def load() -> frozenset[str]:
        loads.append(now[0])
        await asyncio.sleep(0.01)
        return frozenset(current)

    known = KnownSecrets(load, refresh=1.0, clock=lambda: now[0])
    results = await asyncio.gather(*(known.contains(x) for x in ["a", "b", "c"] * 20))
    assert results == [True, False, False] * 20
    assert loads == [0.0]
    current.add("b")
    now[0] = 0.5
    assert await known.contains("b") is False  # too soon to ask again
    now[0] = 1.5
    assert await known.contains("b") is True
    assert await known.contains("a") is True
    assert loads == [0.0, 1.5]


async def test_webhooks_sent_while_draining_are_stored(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """SIGTERM while the worker is busy (TMDB answering slowly): until the process stops
    listening, webhooks are stored and answered 200, and /healthz says draining."""
    async with FakeTmdb() as tmdb:
        env = {
            **cli_env,
            "TMDB_BASE_URL": tmdb.base_url,
            "TMDB_API_KEY": DEFAULT_API_KEY,
            "PLEX_RATE_LIMIT": "100000",
        }
        done = await asyncio.to_thread(
            run_cli, "connect", "--user", "alice", "--plex-token", "t-1", "--no-verify", env=env
        )
        assert done.returncode == 0, done.stderr
        secret = done.stdout.strip().splitlines()[-1].rsplit("secret=", 1)[1]
        service = RunningService(env, tmp_path / "run.log")
        await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:

                async def send(number: int) -> httpx.Response:
                    meta = legacy_episode("thetvdb", "999001", 1, number, show="Nowhere Show")
                    body, ctype = multipart(scrobble(meta))
                    return await http.post(
                        "/api/plex/webhook",
                        params={"secret": secret},
                        content=body,
                        headers={"Content-Type": ctype},
                    )

                tmdb.delay = 3.0  # the worker's TMDB lookups now hold it for seconds
                first = await send(1)
                assert first.status_code == 200
                await asyncio.sleep(0.5)  # the worker has claimed it and waits on TMDB
                assert service.proc is not None
                service.proc.send_signal(15)
                await asyncio.sleep(0.5)
                health = await http.get("/healthz")
                during = [await send(n) for n in range(2, 6)]
            code = await asyncio.to_thread(service.proc.wait, 60)
        finally:
            service.kill()
    assert code == 0, service.log()
    assert health.status_code == 503 and health.json()["status"] == "draining"
    assert [r.status_code for r in during] == [200] * 4, [r.text for r in during]
    ids = {first.json()["id"], *(r.json()["id"] for r in during)}
    conn = await asyncpg.connect(cli_env["DATABASE_URL"])
    try:
        rows = await conn.fetch("SELECT id, status FROM plex_webhook_logs")
    finally:
        await conn.close()
    assert ids <= {r["id"] for r in rows}, "a webhook answered 200 while draining was lost"
