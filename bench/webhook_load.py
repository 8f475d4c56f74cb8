"""Webhook load benchmark: the real daemon under Plex-shaped load, against this machine's floor.

Run it (from the repository root, with the project's virtualenv):

    .venv/bin/python bench/webhook_load.py [--count N] [--concurrency C[,C...]] [--scale S[,S...]]

    defaults: --count 5000 --concurrency 1,50 --scale 1

What it does, per scale S (1, 10 or 100):
  1. a fresh database: the embedded PostgreSQL (started once under a temporary directory) or,
     when DATABASE_URL is set, a new database `plex_tracker_bench_*` on that server (dropped
     after); `plex-tracker connect --no-verify` makes a user, `plex-tracker shows import` loads
     200*S shows with 50 episodes each (10,000*S episodes), and 1,000*S old log rows and
     seen-scrobble rows are pre-seeded (S=100: 100,000 log rows);
  2. `plex-tracker run` as a subprocess (TMDB_API_KEY unset, Discord off, INFO logging to a
     file, PLEX_RATE_LIMIT lifted), then one scrobble per show for the first 200 shows maps
     them (legacy thetvdb GUIDs whose ids are in the tracker: no Plex server, no TMDB);
  3. for each concurrency C, COUNT real multipart webhooks from a separate sender process
     (bench/_sender.py, aiohttp client, C connections): 70% scrobbles of distinct episodes,
     10% duplicates of them, 15% media.play/media.pause with a thumb part, 5% bad secrets;
     then waits until the queue is empty and reads processed_at from plex_webhook_logs.
The floor is measured once per concurrency with the same requests and the same sender
against bench/_floor.py: a bare aiohttp handler that reads the multipart body and answers 200.

Printed per run: answered/s and accepted (2xx)/s, answer latency p50/p99, request -> episode
marked p50/p99 (the sender's send time to the row's processed_at), processed/s (queued rows
over first send -> last processed), the daemon's peak RSS (VmHWM), ratios to the floor,
and a check that every scrobble marked its episode (nothing lost). With several scales, a
cost-growth table closes the report.

Targets (2 cores, sender on the same machine): answered/s and answer p99 within 3x of the
floor at 50 senders; answer p99 < 10 ms with one sender; >= 500 scrobbles/s processed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import random
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from tests.cli import entry_point  # noqa: E402
from tests.plex_payloads import FAKE_JPEG, event, legacy_episode, multipart, scrobble  # noqa: E402
from tests.processes import RunningService, free_port  # noqa: E402

BENCH = Path(__file__).resolve().parent
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
SHOWS_PER_SCALE = 200
SEASONS, EPISODES = 5, 10  # 50 episodes a show
MAPPED_SHOWS = 200  # the working set the load scrobbles, the same at every scale
LOGS_PER_SCALE = 1000


# -- statistics ----------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@dataclass
class Sent:
    """What the sender measured for one batch of requests."""

    results: list[tuple[float, float, int, int | None]]
    wall: float

    @property
    def answered_per_s(self) -> float:
        return len(self.results) / self.wall

    @property
    def accepted_per_s(self) -> float:
        return sum(1 for r in self.results if r[2] == 200) / self.wall

    def latency(self, q: float) -> float:
        return pct([r[1] for r in self.results], q)

    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.results:
            out[r[2]] = out.get(r[2], 0) + 1
        return dict(sorted(out.items()))


@dataclass
class RunResult:
    scale: int
    concurrency: int
    sent: Sent
    floor: Sent
    e2e: list[float] = field(default_factory=list)
    processed: int = 0
    processed_per_s: float = 0.0
    marked_expected: int = 0
    marked_actual: int = 0
    statuses_by_kind: dict[str, dict[int, int]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


# -- processes -----------------------------------------------------------------------------
def send(requests: list[tuple[str, bytes, str]], url: str, concurrency: int, tmp: Path) -> Sent:
    """Run the sender as its own process and read back what it measured."""
    req_path, out_path = tmp / "requests.pickle", tmp / "results.pickle"
    with req_path.open("wb") as f:
        pickle.dump(requests, f)
    subprocess.run(
        [
            sys.executable,
            str(BENCH / "_sender.py"),
            str(req_path),
            str(out_path),
            url,
            str(concurrency),
        ],
        check=True,
    )
    with out_path.open("rb") as f:
        data = pickle.load(f)
    return Sent(data["results"], data["wall"])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


def vm_hwm_mb(pid: int) -> float | None:
    """VmHWM: the resident-set high-water mark of the program the process runs now (reset
    by exec, unlike ru_maxrss); None where /proc can't tell (gone, not Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb(pid: int) -> float:
    """The process's resident-set high-water mark over its whole life."""
    hwm = vm_hwm_mb(pid)
    if hwm is not None:
        return hwm
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*entry_point(), *args], env=env, capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"plex-tracker {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


# -- data ----------------------------------------------------------------------------------
def show_entry(i: int) -> dict[str, Any]:
    return {
        "title": f"Bench Show {i:05d}",
        "year": 2000 + i % 20,
        "tvdb_id": 100_000 + i,
        "seasons": [
            {
                "season_number": s,
                "episodes": [
                    {"episode_number": e, "title": f"Episode {e}", "runtime": 30}
                    for e in range(1, EPISODES + 1)
                ],
            }
            for s in range(1, SEASONS + 1)
        ],
    }


def episode_payload(show: int, season: int, number: int) -> dict[str, Any]:
    meta = legacy_episode(
        "thetvdb",
        str(100_000 + show),
        season,
        number,
        show=f"Bench Show {show:05d}",
        show_key=str(500_000 + show),
        title=f"Episode {number}",
    )
    return meta


def build_load(
    count: int, secret: str, episodes: list[tuple[int, int, int]], rng: random.Random
) -> tuple[list[tuple[str, bytes, str]], list[str], list[tuple[int, int, int] | None]]:
    """COUNT requests in a fixed mix; returns (requests, kind per request, episode per request)."""
    requests: list[tuple[str, bytes, str]] = []
    kinds: list[str] = []
    eps: list[tuple[int, int, int] | None] = []
    recent: list[int] = []  # indexes of scrobbles a duplicate may repeat
    for i in range(count):
        slot = i % 20
        if slot < 14 or (slot < 16 and not recent):
            ep = episodes.pop() if episodes else (0, 1, 1)
            body, ctype = multipart(scrobble(episode_payload(*ep)))
            requests.append((secret, body, ctype))
            kinds.append("scrobble")
            eps.append(ep)
            recent.append(i)
        elif slot < 16:
            j = recent[-rng.randint(1, min(len(recent), 10))]
            requests.append(requests[j])
            kinds.append("duplicate")
            eps.append(eps[j])
        elif slot < 19:
            ep = (rng.randrange(MAPPED_SHOWS), rng.randint(1, SEASONS), rng.randint(1, EPISODES))
            name = "media.play" if slot < 18 else "media.pause"
            body, ctype = multipart(event(name, episode_payload(*ep)), thumb=FAKE_JPEG)
            requests.append((secret, body, ctype))
            kinds.append("event")
            eps.append(None)
        else:
            body, ctype = multipart(scrobble(episode_payload(0, 1, 1)))
            requests.append((secrets.token_hex(32), body, ctype))
            kinds.append("bad_secret")
            eps.append(None)
    return requests, kinds, eps


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def create_database(server_dsn: str, name: str) -> str:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def seed_history(dsn: str, user_name: str, rows: int) -> None:
    """Old, finished log rows and seen-scrobble rows: the volume a long-running install has."""
    old = json.dumps(scrobble(episode_payload(0, 1, 1)))
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval("SELECT id FROM users WHERE name = $1", user_name)
        await conn.execute(
            """INSERT INTO plex_webhook_logs (user_id, event_type, status, action_taken, payload,
                   plex_account_id, plex_rating_key, plex_item_key, plex_title, plex_season,
                   plex_episode, processing_duration_ms, attempts, created_at, processed_at)
               SELECT $1, 'media.scrobble',
                      (ARRAY['success','ignored','duplicate','failed'])[1 + g % 4],
                      'marked_watched', $2::jsonb, '1', 'old' || (g % 500), 'olditem' || g,
                      'Old Show', 1, 1 + g % 10, 12, 1,
                      now() - make_interval(mins => g), now() - make_interval(mins => g)
               FROM generate_series(1, $3) g""",
            user_id,
            old,
            rows,
        )
        await conn.execute(
            """INSERT INTO plex_scrobbles_seen (user_id, account_id, item_key, seen_at, log_id)
               SELECT $1, '1', 'olditem' || g, now() - make_interval(mins => g), g
               FROM generate_series(1, $2) g""",
            user_id,
            rows,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def wait_processed(dsn: str, limit_s: float = 600) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            pending = await conn.fetchval(
                "SELECT count(*) FROM plex_webhook_logs "
                "WHERE status = 'pending' AND held_by_conflict_id IS NULL"
            )
            if pending == 0:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the queue did not empty")
    finally:
        await conn.close()


async def watched_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval("SELECT count(*) FROM tvshow_episodes WHERE watched")
        return n
    finally:
        await conn.close()


async def processed_times(dsn: str, ids: list[int]) -> dict[int, tuple[str, float]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, status, extract(epoch FROM processed_at) AS t "
            "FROM plex_webhook_logs WHERE id = ANY($1::bigint[])",
            ids,
        )
        return {r["id"]: (r["status"], float(r["t"])) for r in rows if r["t"] is not None}
    finally:
        await conn.close()


# -- one scale -----------------------------------------------------------------------------
def daemon_env(dsn: str, data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "TMDB_", "PLEX_", "DATABASE_URL", "ENCRYPTION_KEY"))
    }
    env.update(
        DATABASE_URL=dsn,
        ENCRYPTION_KEY=KEY,
        DATA_DIR=str(data_dir),
        PLEX_RATE_LIMIT="100000000",
        LOG_LEVEL="INFO",
    )
    return env


def run_scale(
    scale: int,
    server_dsn: str,
    args: argparse.Namespace,
    floor_url: str,
    loads: dict[int, tuple[list[tuple[str, bytes, str]], list[str], list[Any]]],
    tmp: Path,
) -> list[RunResult]:
    name = f"plex_tracker_bench_{scale}_{os.getpid()}"
    dsn = asyncio.run(create_database(server_dsn, name))
    work = tmp / f"scale{scale}"
    work.mkdir()
    env = daemon_env(dsn, work / "data")
    port = free_port()
    env["PUBLIC_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/api/plex/webhook"
    try:
        t0 = time.monotonic()
        url = cli(env, "connect", "--user", "bench", "--plex-token", "bench-token", "--no-verify")
        webhook_url = url.strip().splitlines()[-1]
        secret = webhook_url.rsplit("=", 1)[1]
        shows = SHOWS_PER_SCALE * scale
        chunk = 2000  # one import per 2,000 shows keeps the importer's memory bounded
        for start in range(0, shows, chunk):
            path = work / f"library-{start}.json"
            batch = [show_entry(i) for i in range(start, min(shows, start + chunk))]
            path.write_text(json.dumps(batch))
            cli(env, "shows", "import", str(path), "--user", "bench")
            path.unlink()
        asyncio.run(seed_history(dsn, "bench", LOGS_PER_SCALE * scale))
        print(
            f"\n== scale {scale}: {shows} shows, {shows * SEASONS * EPISODES} episodes, "
            f"{LOGS_PER_SCALE * scale} old log rows (set up in {time.monotonic() - t0:.0f}s)",
            flush=True,
        )
        service = RunningService(env, work / "daemon.log", port=port)
        service.start(timeout=120)
        assert service.proc is not None
        try:
            # Map the working set: one scrobble per show, the way a user's first watches do.
            warm = [
                (secret, *multipart(scrobble(episode_payload(s, 1, 1))))
                for s in range(MAPPED_SHOWS)
            ]
            t = time.monotonic()
            send(warm, service.base_url + "/api/plex/webhook", 50, work)
            asyncio.run(wait_processed(dsn))
            print(f"   mapped {MAPPED_SHOWS} shows in {time.monotonic() - t:.2f}s", flush=True)
            results = []
            for concurrency in args.concurrency:
                base_requests, kinds, eps = loads[concurrency]
                # Same bodies at every scale, but each run's secret is this database's.
                requests = [
                    (secret if k != "bad_secret" else s, b, c)
                    for (s, b, c), k in zip(base_requests, kinds, strict=True)
                ]
                # The floor right before the daemon, so both see the machine in the same mood.
                floor = send(requests, floor_url, concurrency, work)
                before = asyncio.run(watched_count(dsn))
                sent = send(requests, service.base_url + "/api/plex/webhook", concurrency, work)
                asyncio.run(wait_processed(dsn))
                after = asyncio.run(watched_count(dsn))
                result = RunResult(scale, concurrency, sent, floor)
                result.marked_expected = len(
                    {e for e, k in zip(eps, kinds, strict=True) if k == "scrobble"}
                )
                result.marked_actual = after - before
                for (_sw, _lat, status, _id), kind in zip(sent.results, kinds, strict=True):
                    by = result.statuses_by_kind.setdefault(kind, {})
                    by[status] = by.get(status, 0) + 1
                queued = [
                    (r[0], r[3], k)
                    for r, k in zip(sent.results, kinds, strict=True)
                    if k in ("scrobble", "duplicate") and r[3] is not None
                ]
                done = asyncio.run(processed_times(dsn, [q[1] for q in queued if q[1]]))
                result.e2e = [
                    done[log_id][1] - sent_at
                    for sent_at, log_id, kind in queued
                    if kind == "scrobble" and log_id in done and done[log_id][0] == "success"
                ]
                result.processed = len(done)
                if done:
                    span = max(t for _s, t in done.values()) - min(r[0] for r in sent.results)
                    result.processed_per_s = len(done) / span if span > 0 else float("nan")
                result.peak_rss_mb = peak_rss_mb(service.proc.pid)
                report(result)
                results.append(result)
            if args.profile and scale == args.scale[0]:
                profile(service.proc.pid, secret, service.base_url, args, work)
        finally:
            service.stop()
            service.kill()
        return results
    finally:
        if not args.keep:
            asyncio.run(drop_database(server_dsn, name))


def profile(pid: int, secret: str, base_url: str, args: argparse.Namespace, work: Path) -> None:
    """py-spy (if installed) on the daemon while one more load runs per concurrency; prints
    where the daemon's samples went (inclusive and self), and keeps the folded stacks."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("   --profile: py-spy is not installed (pip install py-spy)")
        return
    rng = random.Random(7)
    episodes = [
        (s, se, e)
        for s in range(MAPPED_SHOWS)
        for se in range(1, SEASONS + 1)
        for e in range(1, EPISODES + 1)
    ]
    rng.shuffle(episodes)
    for concurrency in args.concurrency:
        requests, _k, _e = build_load(args.count, secret, episodes, rng)
        raw = Path(f"{args.profile}-c{concurrency}.txt")
        rec = subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(pid),
                "-o",
                str(raw),
                "-f",
                "raw",
                "-r",
                "250",
                "--idle",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)
        send(requests, base_url + "/api/plex/webhook", concurrency, work)
        time.sleep(1)
        rec.send_signal(2)
        rec.wait(60)
        print(f"\n   profile at {concurrency} senders (py-spy folded stacks: {raw})")
        summarise(raw)


def summarise(raw: Path, top: int = 22) -> None:
    inclusive: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
            for f in stack.split(";")[1:]
        ]
        total += count
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + count
        if frames:
            leaf[frames[-1]] = leaf.get(frames[-1], 0) + count
    print(f"   {total} samples; inclusive share (self share) of the top functions:")
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"   {100 * n / total:5.1f}% ({100 * leaf.get(name, 0) / total:4.1f}%)  {name}")


# -- report --------------------------------------------------------------------------------
def report(r: RunResult) -> None:
    s, f = r.sent, r.floor
    rate_ratio = f.answered_per_s / s.answered_per_s
    p99_ratio = s.latency(99) / f.latency(99)
    lost = r.marked_expected - r.marked_actual
    print(f"-- {r.concurrency} concurrent sender(s), {len(s.results)} webhooks")
    print(f"   answers by kind: {r.statuses_by_kind}")
    print(
        f"   daemon : {s.answered_per_s:7.0f} answered/s ({s.accepted_per_s:.0f} accepted/s), "
        f"answer p50 {ms(s.latency(50))}, p99 {ms(s.latency(99))}"
    )
    print(
        f"   floor  : {f.answered_per_s:7.0f} answered/s, "
        f"answer p50 {ms(f.latency(50))}, p99 {ms(f.latency(99))}"
    )
    print(
        f"   ratio  : floor/daemon answered/s {rate_ratio:.2f}x, daemon/floor p99 {p99_ratio:.2f}x"
    )
    print(
        f"   request -> episode marked: p50 {ms(pct(r.e2e, 50))}, p99 {ms(pct(r.e2e, 99))}; "
        f"{r.processed} queued rows processed at {r.processed_per_s:.0f}/s"
    )
    print(
        f"   episodes marked {r.marked_actual} of {r.marked_expected} distinct scrobbled "
        f"({'nothing lost' if lost == 0 else f'{lost} MISSING'}); daemon peak RSS "
        f"{r.peak_rss_mb:.0f} MB",
        flush=True,
    )


def growth_table(results: list[RunResult]) -> None:
    print("\n== cost growth (latency should stay flat as library and log volume grow)")
    print(
        f"{'scale':>5} {'senders':>7} {'answered/s':>10} {'p50':>8} {'p99':>8} "
        f"{'e2e p50':>9} {'e2e p99':>9} {'proc/s':>7} {'RSS MB':>7}"
    )
    for r in results:
        print(
            f"{r.scale:>5} {r.concurrency:>7} {r.sent.answered_per_s:>10.0f} "
            f"{r.sent.latency(50) * 1000:>6.1f}ms {r.sent.latency(99) * 1000:>6.1f}ms "
            f"{pct(r.e2e, 50) * 1000:>7.1f}ms {pct(r.e2e, 99) * 1000:>7.1f}ms "
            f"{r.processed_per_s:>7.0f} {r.peak_rss_mb:>7.0f}"
        )


def targets(results: list[RunResult]) -> None:
    print("\n== targets")
    for r in results:
        if r.concurrency >= 50:
            ok_rate = r.floor.answered_per_s / r.sent.answered_per_s <= 3
            ok_p99 = r.sent.latency(99) / r.floor.latency(99) <= 3
            print(
                f"   scale {r.scale}, {r.concurrency} senders: answered/s within 3x of floor: "
                f"{'yes' if ok_rate else 'NO'}; p99 within 3x: {'yes' if ok_p99 else 'NO'}; "
                f">= 500 processed/s: {'yes' if r.processed_per_s >= 500 else 'NO'}"
            )
        if r.concurrency == 1:
            print(
                f"   scale {r.scale}, 1 sender: answer p99 < 10 ms: "
                f"{'yes' if r.sent.latency(99) < 0.010 else 'NO'} ({ms(r.sent.latency(99))})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="webhooks per run")
    parser.add_argument("--concurrency", default="1,50", help="senders, comma-separated")
    parser.add_argument("--scale", default="1", help="library/log volume: 1, 10, 100 (comma list)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and temp files")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the daemon on a further run")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.scale = [int(s) for s in args.scale.split(",")]
    cpus = os.cpu_count()
    print(
        f"plex-tracker webhook benchmark: {cpus} CPUs, Python {sys.version.split()[0]}, "
        f"count {args.count}, concurrency {args.concurrency}, scale {args.scale}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    tmp = Path(tempfile.mkdtemp(prefix="plex-tracker-bench-"))
    rng = random.Random(42)
    # Distinct episodes for every scrobble of every run (the first of each show maps it).
    episodes = [
        (s, se, e)
        for s in range(MAPPED_SHOWS)
        for se in range(1, SEASONS + 1)
        for e in range(1, EPISODES + 1)
        if (se, e) != (1, 1)
    ]
    rng.shuffle(episodes)
    placeholder = "0" * 64
    loads = {c: build_load(args.count, placeholder, episodes, rng) for c in args.concurrency}

    # The floor: kept up for the whole run and measured right before each daemon run.
    port = free_port()
    floor = subprocess.Popen([sys.executable, str(BENCH / "_floor.py"), str(port)])
    floor_url = f"http://127.0.0.1:{port}/api/plex/webhook"
    wait_healthy(f"http://127.0.0.1:{port}/healthz", floor)

    results: list[RunResult] = []
    server_dsn = os.environ.get("DATABASE_URL")
    embedded = None
    try:
        if not server_dsn:
            from core.db.pool import EmbeddedPostgres

            embedded = EmbeddedPostgres(tmp / "pg")
            server_dsn = with_database(asyncio.run(embedded.start()), "postgres")
        for scale in args.scale:
            results += run_scale(scale, server_dsn, args, floor_url, loads, tmp)
    finally:
        floor.terminate()
        floor.wait(10)
        if embedded is not None:
            asyncio.run(embedded.stop())
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    growth_table(results)
    targets(results)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (the machine is shared if > ~1)")


if __name__ == "__main__":
    main()
