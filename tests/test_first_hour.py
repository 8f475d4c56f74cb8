"""Issue 11, the first hour: the console script as a new user meets it. Subprocess tests
through the real `plex-tracker`, real PostgreSQL, the in-process daemon where Plex must post."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import re
import select
import socket
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from app.cli import build_parser
from core.crypto import Cipher
from core.db.plex_config import token_slot
from core.webhook_address import lan_address
from tests.cli import entry_point, run_cli, table_rows
from tests.conftest import TEST_KEY, _with_database
from tests.harness import Daemon
from tests.plex_payloads import episode, event, multipart, scrobble
from tests.processes import RunningService, free_port
from tests.test_conflicts import current_agent, raise_conflict, show, show_id

REPO = Path(__file__).resolve().parent.parent


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


# ----------------------------------------------------------------------- install and start


def test_build_outputs_are_ignored_by_git() -> None:
    for path in ("build/lib/x.py", "dist/plex_tracker-0.1.0-py3-none-any.whl"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, capture_output=True)
        assert ignored.returncode == 0, f"{path} is not ignored by git"


def test_dockerfile_installs_the_package_normally() -> None:
    text = (REPO / "Dockerfile").read_text()
    installs = [line for line in text.splitlines() if "pip install" in line or "pip wheel" in line]
    assert installs and not any(" -e " in line for line in installs), installs
    assert "COPY sql ./sql" in text and "/wheels/*.whl" in text
    assert "DATA_DIR=/data" in text


def _doctor_first_line(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [*entry_point(), "doctor"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout.splitlines()[0]


def test_data_dir_is_per_user_from_any_folder_and_an_old_data_folder_is_kept(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "DATA_DIR"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["HOME"] = str(tmp_path / "home")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    expected = f"DATA_DIR {tmp_path / 'xdg' / 'plex-tracker'};"
    assert expected in _doctor_first_line(env, one)
    assert expected in _doctor_first_line(env, two)
    without_xdg = {k: v for k, v in env.items() if k != "XDG_DATA_HOME"}
    assert f"DATA_DIR {tmp_path / 'home' / '.local' / 'share' / 'plex-tracker'};" in (
        _doctor_first_line(without_xdg, one)
    )
    # A folder set up by an earlier version (./data with a key) is still used, with a note.
    (two / "data").mkdir()
    (two / "data" / "encryption.key").write_text(TEST_KEY + "\n")
    assert f"DATA_DIR {two / 'data'};" in _doctor_first_line(env, two)
    noted = subprocess.run(
        [*entry_point(), "logs"], env=env, cwd=two, capture_output=True, text=True, timeout=60
    )
    assert noted.returncode == 0, noted.stderr
    assert noted.stderr.startswith(f"note: using {two / 'data'} (the default of earlier versions)")


# ------------------------------------------------------------------------ the webhook URL


def _secret_url(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return last_line(done.stdout)


def test_webhook_url_uses_the_lan_address_and_the_real_port(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "PUBLIC_WEBHOOK_URL"}
    env["PORT"] = "9123"
    done = run_cli("connect", "--user", "ann", "--plex-token", "t", "--no-verify", env=env)
    url = _secret_url(done)
    assert re.fullmatch(
        rf"http://{re.escape(lan_address())}:9123/api/plex/webhook\?secret=[0-9a-f]{{64}}", url
    ), url
    assert "localhost" not in url
    # A bare server address gets the webhook path; loopback is warned about.
    bare = {**env, "PUBLIC_WEBHOOK_URL": "http://127.0.0.1:8123"}
    again = run_cli("connect", "--user", "ann", "--plex-token", "t", "--no-verify", env=bare)
    assert _secret_url(again).startswith("http://127.0.0.1:8123/api/plex/webhook?secret=")
    assert "a Plex server on another machine cannot reach it" in again.stderr
    assert "cannot reach" not in done.stderr


async def test_connect_wait_says_when_plex_reached_us(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    service = RunningService(cli_env, tmp_path / "run.log")
    try:
        await asyncio.to_thread(service.start)
        env = {**cli_env, "PUBLIC_WEBHOOK_URL": service.base_url}
        proc = await asyncio.create_subprocess_exec(
            *entry_point(),
            "connect", "--user", "wendy", "--plex-token", "t", "--no-verify",
            "--wait", "--timeout", "60",
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        url = ""
        while "secret=" not in url:
            url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        # The URL is out before the wait starts: Plex is given it now.
        body, ctype = multipart(
            event("media.play", episode(), Player={"title": "Living Room TV", "local": True})
        )
        async with httpx.AsyncClient() as http:
            answer = await http.post(url, content=body, headers={"Content-Type": ctype})
        assert answer.status_code == 200, answer.text
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        assert rest.decode().strip() == "", "nothing follows the URL on stdout"
        assert "✓ Plex reached plex-tracker: media.play from Living Room TV" in err.decode()
    finally:
        service.kill()


def test_connect_wait_gives_up_with_what_to_check(cli_env: dict[str, str]) -> None:
    done = run_cli(
        "connect", "--user", "vic", "--plex-token", "t", "--no-verify", "--wait",
        "--timeout", "1", env=cli_env,
    )  # fmt: skip
    assert done.returncode == 1
    assert re.search(r"secret=[0-9a-f]{64}$", done.stdout.strip())
    assert "nothing from Plex in 1s" in done.stderr and "doctor" in done.stderr


# -------------------------------------------------------------------------- the token


async def _stored_token(dsn: str, name: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT c.user_id, c.plex_token FROM plex_config c JOIN users u ON u.id = c.user_id "
            "WHERE u.name = $1",
            name,
        )
    finally:
        await conn.close()
    assert row is not None
    return Cipher(TEST_KEY).decrypt(row["plex_token"], token_slot(row["user_id"]))


def _run_on_terminal(args: list[str], env: dict[str, str], typed: str) -> tuple[int, str]:
    """Run with a pseudo-terminal as controlling terminal and stdin; type `typed` at the
    prompt. Returns (status, everything the terminal showed)."""
    master, slave = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*entry_point(), *args], env=env, stdin=slave, stdout=slave, stderr=slave,
        preexec_fn=own_terminal,
    )  # fmt: skip
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 60
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        if not sent and b"Plex token" in shown:
            os.write(master, typed.encode() + b"\n")
            sent = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    return proc.wait(10), shown.decode(errors="replace")


async def test_token_from_stdin_env_or_a_hidden_prompt(
    cli_env: dict[str, str], clean_db: str
) -> None:
    piped = run_cli(
        "connect", "--user", "pia", "--plex-token", "-", "--no-verify",
        env=cli_env, input_text="tok-FROM-STDIN\n",
    )  # fmt: skip
    url = _secret_url(piped)
    assert await _stored_token(clean_db, "pia") == "tok-FROM-STDIN"
    from_env = run_cli(
        "connect", "--user", "pia", "--no-verify", env={**cli_env, "PLEX_TOKEN": "tok-ENV"}
    )
    assert _secret_url(from_env) == url
    assert await _stored_token(clean_db, "pia") == "tok-ENV"
    # No token anywhere and no terminal: a clear error, not a hang.
    none = run_cli("connect", "--user", "pia", "--no-verify", env=cli_env, input_text="")
    assert none.returncode == 1 and "no Plex token" in none.stderr
    no_traceback(none)
    # --rotate-secret needs no token and keeps the stored one.
    rotated = run_cli("connect", "--user", "pia", "--rotate-secret", env=cli_env, input_text="")
    assert _secret_url(rotated) != url
    assert await _stored_token(clean_db, "pia") == "tok-ENV"

    status, shown = await asyncio.to_thread(
        _run_on_terminal, ["connect", "--user", "pia", "--no-verify"], cli_env, "tok-TYPED"
    )
    assert status == 0, shown
    assert "Plex token (input hidden):" in shown
    assert "tok-TYPED" not in shown, "the typed token is not echoed"
    assert await _stored_token(clean_db, "pia") == "tok-TYPED"


# ----------------------------------------------------------------- expected failures


def test_expected_failures_are_one_or_two_lines(cli_env: dict[str, str], tmp_path: Path) -> None:
    closed = free_port()
    down = run_cli(
        "logs", env={**cli_env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/x"}
    )
    assert down.returncode == 1
    assert f"cannot reach the database at 127.0.0.1:{closed}" in down.stderr
    no_traceback(down)

    elsewhere = _with_database(cli_env["DATABASE_URL"], "no_such_db_here")
    missing = run_cli("logs", env={**cli_env, "DATABASE_URL": elsewhere})
    assert missing.returncode == 1
    assert 'database "no_such_db_here" does not exist' in missing.stderr
    no_traceback(missing)

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        taken = run_cli("run", env={**cli_env, "HOST": "127.0.0.1", "PORT": str(port)})
    assert taken.returncode == 1
    assert f"port {port} is already in use" in taken.stderr
    assert time.monotonic() - started < 20
    no_traceback(taken)

    assert run_cli("connect", "--user", "eve", "--plex-token", "t", "--no-verify", env=cli_env)
    for content, expected in [
        (None, "is a folder, not a JSON file"),
        (b"\xff\xfe[{]", "is not UTF-8 text"),
        (json.dumps([{"title": "A", "tmdbid": 5}]).encode(), "entry 1 ('A'): unknown field "
         "'tmdbid' (did you mean 'tmdb_id'?)"),
        (json.dumps([{"title": "A"}, {"title": "B", "seasons": [
            {"season_number": 1, "episodes": [{"episode_number": 2}, {"episode_number": 2}]}
        ]}]).encode(), "entry 2 ('B'): season 1 episode 2 appears twice"),
        (json.dumps([{"title": "C", "seasons": [{"season_number": 1}, {"season_number": 1}]}])
         .encode(), "entry 1 ('C'): season 1 appears twice"),
    ]:  # fmt: skip
        path = tmp_path / "import-input"
        if path.is_dir():
            path.rmdir()
        elif path.exists():
            path.unlink()
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        bad = run_cli("shows", "import", str(path), "--user", "eve", env=cli_env)
        assert bad.returncode == 1 and expected in bad.stderr, bad.stderr
        no_traceback(bad)
    gone = run_cli("shows", "import", str(tmp_path / "nope.json"), "--user", "eve", env=cli_env)
    assert gone.returncode == 1 and "cannot read" in gone.stderr
    no_traceback(gone)


def test_a_closed_pipe_ends_quietly(cli_env: dict[str, str], tmp_path: Path) -> None:
    run_cli("connect", "--user", "pip", "--plex-token", "t", "--no-verify", env=cli_env)
    shows = [{"title": f"Show {n}", "year": 2000 + n % 20} for n in range(300)]
    path = tmp_path / "many.json"
    path.write_text(json.dumps(shows))
    assert run_cli("shows", "import", str(path), "--user", "pip", env=cli_env).returncode == 0
    proc = subprocess.Popen(
        [*entry_point(), "shows", "list", "--user", "pip"],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the listing is written (`| head -0`)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(60) == 141
    assert err == "", err


# ------------------------------------------------------------------- what happened


async def test_logs_show_outcome_and_reason_by_user_name(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Office", 2005, tmdb_id=2316)])
    daemon.plex_server.add_show("1936543", "The Office", 2005, guids=["tmdb://2316"])
    marked = await daemon.post(scrobble(episode(season=1, number=2)), secret)
    played = await daemon.post(event("media.play", episode()), secret)
    for answer in (marked, played):
        assert answer.status_code == 200
        await daemon.settled(answer.json()["id"])

    done = await asyncio.to_thread(run_cli, "logs", env=cli_env)
    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert rows[0] == ["id", "when (UTC)", "user", "event", "episode", "outcome", "ms"]
    by_event = {r[3]: r for r in rows[1:]}
    assert by_event["media.scrobble"][2] == "alice"
    assert by_event["media.scrobble"][4:6] == ["The Office S01E02", "marked watched"]
    assert by_event["media.play"][5] == "ignored: media.play is not a scrobble"

    only = await asyncio.to_thread(
        run_cli, "logs", "--user", "alice", "--status", "ignored", "--limit", "5", env=cli_env
    )
    assert [r[3] for r in table_rows(only.stdout)[1:]] == ["media.play"]
    bad = await asyncio.to_thread(run_cli, "logs", "--status", "weird", env=cli_env)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


async def test_replay_says_why_episodes_were_not_marked(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Office", 2005, episodes=3, tmdb_id=2316)])
    daemon.plex_server.add_show("1936543", "The Office", 2005, guids=["tmdb://2316"])
    daemon.tmdb.add_show(2316, "The Office", year=2005, seasons={1: 3})
    answer = await daemon.post(scrobble(episode(season=1, number=9)), secret)
    row = await daemon.settled(answer.json()["id"])
    assert row["status"] == "failed"

    done = await asyncio.to_thread(run_cli, "replay", "--user", "alice", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "requeued 1 failed scrobbles: 0 marked watched, 1 not marked" in done.stdout
    rows = table_rows(done.stdout)
    assert ["log", "episode", "why it was not marked"] in rows
    (why,) = [r for r in rows if r[0] == str(row["id"])]
    assert why[1] == "The Office S01E09"
    assert why[2].startswith("failed: ") and "S01E09" in why[2], why


async def test_resolve_says_why_held_episodes_were_not_marked(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Star Trek: Deep Space Nine", 1993, episodes=2)])
    ds9 = await show_id(daemon, user_id, "Star Trek: Deep Space Nine")
    payloads = [current_agent(daemon, "6001", "Star Trek: Deep Space 9", 1993, n) for n in (1, 7)]
    conflict_id, log_ids = await raise_conflict(daemon, secret, payloads, "low_confidence")
    done = await asyncio.to_thread(
        run_cli, "resolve", str(conflict_id), "--show", str(ds9), env=cli_env
    )
    assert done.returncode == 0, done.stderr
    assert "replayed 2 held scrobbles, 1 episodes marked watched" in done.stdout
    (why,) = [r for r in table_rows(done.stdout) if r[0] == str(log_ids[1])]
    assert why[1] == "Star Trek: Deep Space 9 S01E07" and why[2].startswith("failed: "), why


def test_every_option_has_help_text() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not choice.help:
                        missing.append(f"{path} {choice.dest}")
                for name, sub in action.choices.items():
                    missing += walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(build_parser(), "plex-tracker") == []


async def test_status_separates_waiting_from_processing(
    services: Any, cli_env: dict[str, str]
) -> None:
    alice = await services.accounts.connect(user_name="alice", plex_token="t", verify=False)
    async with services.pool.acquire() as conn:
        conflict = await conn.fetchval(
            """INSERT INTO plex_conflicts (user_id, plex_rating_key, plex_title, conflict_type)
               VALUES ($1, '9', 'Unsure', 'no_match') RETURNING id""",
            alice.user.id,
        )
        # Held two hours behind the conflict, then replayed; and one that queued 3 s.
        for held, age in ((conflict, "2 hours"), (None, "3 seconds")):
            log_id = await conn.fetchval(
                """INSERT INTO plex_webhook_logs (user_id, event_type, status, created_at,
                       held_by_conflict_id) VALUES ($1, 'media.scrobble', 'pending',
                       now() - $2::text::interval, $3) RETURNING id""",
                alice.user.id,
                age,
                held,
            )
            await conn.execute(
                """UPDATE plex_webhook_logs SET status = 'success', action_taken =
                       'marked_watched', held_by_conflict_id = NULL,
                       processing_duration_ms =
                           (EXTRACT(EPOCH FROM clock_timestamp() - created_at) * 1000)::int + 40
                   WHERE id = $1""",
                log_id,
            )
    done = await asyncio.to_thread(run_cli, "status", "--user", "alice", env=cli_env)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    processing = re.search(r"processing\s+mean (\d+) ms · p95 (\d+) ms", text)
    assert processing, text
    assert 30 <= int(processing[1]) < 1000, "hours behind a conflict are not processing time"
    assert re.search(r"waiting in the queue\s+mean 3\.\d s", text), text
    assert re.search(r"waiting behind conflicts\s+1 scrobbles, mean 2 h", text), text
