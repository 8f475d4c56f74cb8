"""Issue 11 walked through as the README tells a new self-hoster, and what tripped them on the
way: each a subprocess test through the real `plex-tracker` console script."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import subprocess
import tempfile
import termios
import time
from pathlib import Path

import httpx
import pytest

from tests.cli import entry_point, run_cli, table_rows
from tests.fakes.plex_server import FakePlexServer
from tests.fakes.plextv import FakePlexTv
from tests.harness import Daemon
from tests.plex_payloads import episode, event, multipart, scrobble
from tests.processes import RunningService, free_port
from tests.test_api import _user_with_token
from tests.test_conflicts import current_agent, raise_conflict, show


def one_or_two_lines(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert 1 <= len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_import_refuses_numbers_the_database_cannot_hold(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli("connect", "--user", "ida", "--plex-token", "t", "--no-verify", env=cli_env)
    path = tmp_path / "shows.json"
    for entry, expected in [
        ({"title": "A", "tmdb_id": 10**20}, "entry 2 ('A'): tmdb_id: Input should be less than"),
        ({"title": "A", "tvdb_id": 2**31}, "entry 2 ('A'): tvdb_id: Input should be less than"),
        (
            {"title": "A", "seasons": [{"season_number": 2**40}]},
            "entry 2 ('A'): seasons.0.season_number: Input should be less than",
        ),
        (
            {"title": "A", "seasons": [{"season_number": 1, "episodes": [
                {"episode_number": 1, "runtime": 2**31 - 1}]}]},
            "entry 2 ('A'): seasons.0.episodes.0.runtime: Input should be less than",
        ),
    ]:  # fmt: skip
        path.write_text(json.dumps([{"title": "Fine", "year": 2001}, entry]))
        bad = run_cli("shows", "import", str(path), "--user", "ida", env=cli_env)
        assert bad.returncode == 1 and expected in bad.stderr, bad.stderr
        one_or_two_lines(bad)
    # All or nothing: the good first entry was not imported either.
    listed = run_cli("shows", "list", "--user", "ida", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    assert not any("Fine" in cell for row in table_rows(listed.stdout) for cell in row)


def test_a_url_setting_with_a_bad_port_is_a_settings_error(cli_env: dict[str, str]) -> None:
    for name, value in [
        ("DATABASE_URL", "postgresql://postgres:pw-SECRET@127.0.0.1:99999/test"),
        ("DATABASE_URL", "postgresql://postgres:pw-SECRET@[::1/test"),
        ("PUBLIC_WEBHOOK_URL", "http://my-host:80a80"),
    ]:
        done = run_cli("logs", env={**cli_env, name: value})
        assert done.returncode == 2, done.stderr
        assert f"{name} is not a valid URL: check its host and port" in done.stderr
        assert "pw-SECRET" not in done.stderr
        one_or_two_lines(done)


BAD_SERVER_URLS = [
    "http://[::1",
    "http://plex.lan:99999",
    "http://plex.lan:32400x",
    "http://:32400",
]


def test_connect_refuses_a_server_url_it_could_not_use(cli_env: dict[str, str]) -> None:
    good = run_cli(
        "connect", "--user", "sam", "--plex-token", "t", "--no-verify", "--no-sync",
        "--server-url", "http://192.168.1.10:32400/", env=cli_env,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    for url in BAD_SERVER_URLS:
        bad = run_cli(
            "connect", "--user", "sam", "--plex-token", "t", "--no-verify", "--server-url", url,
            env=cli_env,
        )  # fmt: skip
        assert bad.returncode == 1, bad.stderr
        assert "must look like http://192.168.1.10:32400" in bad.stderr, bad.stderr
        one_or_two_lines(bad)
    # What was stored before is still there, and every command can use it.
    doctor = run_cli("doctor", "--user", "sam", env=cli_env)
    assert "Traceback" not in doctor.stderr, doctor.stderr
    assert "http://192.168.1.10:32400 (--server-url)" in doctor.stdout, doctor.stdout


async def test_the_api_refuses_a_server_url_it_could_not_use(daemon: Daemon) -> None:
    user_id, _, api = await _user_with_token(daemon, "alice")
    before = await daemon.services.accounts.config(user_id)
    for url in BAD_SERVER_URLS:
        answer = await api("POST", "/api/plex/config", json={"server_url": url})
        assert answer.status_code == 400, answer.text
        assert "server_url" in answer.json()["error"], answer.text  # the field is named
    after = await daemon.services.accounts.config(user_id)
    assert before is not None and after is not None
    assert after.server_url == before.server_url == daemon.plex_server.base_url


async def test_logs_say_a_scrobble_that_raised_a_conflict_waits_behind_it(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Star Trek: Deep Space Nine", 1993, episodes=2)])
    payloads = [current_agent(daemon, "6001", "Star Trek: Deep Space 9", 1993, n) for n in (1, 2)]
    _, log_ids = await raise_conflict(daemon, secret, payloads, "low_confidence")

    done = await asyncio.to_thread(run_cli, "logs", env=cli_env)
    assert done.returncode == 0, done.stderr
    outcomes = {r[0]: r[5] for r in table_rows(done.stdout)[1:]}
    for log_id in log_ids:  # the first raised the conflict, the second queued behind it
        assert outcomes[str(log_id)].startswith("waiting behind a conflict"), outcomes


def test_plex_tv_out_of_reach_is_said_once_with_what_to_do(cli_env: dict[str, str]) -> None:
    """Offline (or a DNS problem): connect stores the token with one warning line saying
    what that means, and the history sync says how to do without plex.tv. No retry chatter
    or log lines with times and module names around them."""
    env = {
        **cli_env,
        "PLEX_TV_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "PUBLIC_WEBHOOK_URL": "http://192.168.1.20:8080",  # no loopback warning
    }
    connected = run_cli(
        "connect", "--user", "otto", "--plex-token", "-", "--no-sync", env=env,
        input_text="tok-otto\n",
    )  # fmt: skip
    assert connected.returncode == 0, connected.stderr
    (warning,) = connected.stderr.strip().splitlines()
    assert warning.startswith("warning: could not check the token with plex.tv ("), warning
    assert "failed: connection refused" in warning
    assert "every Plex account's watches count" in warning

    synced = run_cli("sync", "--user", "otto", env=env)
    assert synced.returncode == 1
    (error,) = synced.stderr.strip().splitlines()
    assert error.startswith("error: cannot look the Plex server up on plex.tv ("), error
    assert "connection refused" in error and "set --server-url" in error

    # The server named, and not answering: one line too, with what to do.
    run_cli(
        "connect", "--user", "otto", "--plex-token", "tok-otto", "--no-verify", "--no-sync",
        "--server-url", f"http://127.0.0.1:{free_port()}", env=env,
    )  # fmt: skip
    again = run_cli("sync", "--user", "otto", env=env)
    assert again.returncode == 1
    (error,) = again.stderr.strip().splitlines()
    assert "did not answer" in error and "connection refused" in error, error
    doctor = run_cli("doctor", "--user", "otto", env=env)
    assert ": connection refused" in doctor.stdout and "ConnectError" not in doctor.stdout


# ------------------------------------------------------- the README's five minutes, as printed

README = Path(__file__).resolve().parent.parent / "README.md"
URL = re.compile(r"http://\S+?/api/plex/webhook(\?secret=\S+)?")


def _readme_console_blocks() -> list[list[str]]:
    """The ```console blocks of "First webhook in five minutes", their lines stripped."""
    text = README.read_text().split("## First webhook in five minutes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [[line.strip() for line in block.strip().splitlines()] for block in blocks]


def _same_shape(line: str) -> str:
    """What differs between the README's machine and this one: addresses, times, ids."""
    line = URL.sub("<URL>", line)
    line = re.sub(r"ready in [0-9.]+s", "ready in <t>s", line)
    line = re.sub(r"listening on http://\S+", "listening on <address>", line)
    return re.sub(r"run \d+ queued", "run <n> queued", line)


async def test_the_readme_walk_through_prints_what_the_readme_shows(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Steps 1, 2 and 4, as a person reads them: what the README shows is what is printed
    (the token piped here; the hidden prompt has its own test)."""
    connect_block, reached_block = _readme_console_blocks()
    command, prompt, *printed = connect_block
    assert command.startswith("$ plex-tracker connect --user alice --server-url ")
    assert command.endswith(" --wait") and prompt == "Plex token (input hidden):"

    env = {k: v for k, v in cli_env.items() if k != "PUBLIC_WEBHOOK_URL"}
    service = RunningService(env, tmp_path / "run.log")
    async with FakePlexTv() as plextv, FakePlexServer(token="tok-alice") as server:
        plextv.add_account("tok-alice", username="alice")
        env["PLEX_TV_BASE_URL"] = plextv.base_url
        try:
            await asyncio.to_thread(service.start)
            ready = [
                line for line in service.log_path.read_text().splitlines() if "ready in" in line
            ]
            said = re.search(r"plex-tracker listening on .*", ready[-1])
            assert said is not None
            assert _same_shape(said.group()) == (
                "plex-tracker listening on <address> (ready in <t>s); Plex is given <URL>"
            )
            proc = await asyncio.create_subprocess_exec(
                *entry_point(), "connect", "--user", "alice", "--server-url", server.base_url,
                "--plex-token", "-", "--wait",
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdin and proc.stdout and proc.stderr
            proc.stdin.write(b"tok-alice\n")
            proc.stdin.close()
            out: list[str] = []
            while not out or "secret=" not in out[-1]:
                out.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip())
            waiting = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode().strip()
            assert [_same_shape(x) for x in printed] == [_same_shape(x) for x in [*out, waiting]]

            # Plex plays something: the webhook it sends when playback starts.
            url = URL.search(out[-1])
            assert url is not None
            plex_url = re.sub(r"//[^/]+/", f"//127.0.0.1:{service.port}/", url.group())
            body, ctype = multipart(
                event("media.play", episode(), Player={"title": "Living Room TV", "local": True})
            )
            async with httpx.AsyncClient() as http:
                answer = await http.post(plex_url, content=body, headers={"Content-Type": ctype})
            assert answer.status_code == 200, answer.text
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err
            assert err.decode().strip().splitlines() == reached_block
        finally:
            service.kill()


# ------------------------------------------------------------------------ Ctrl-C at the prompt


def _interrupt_at_the_prompt(args: list[str], env: dict[str, str]) -> tuple[int | None, str]:
    """Run on a pseudo-terminal, press Ctrl-C at the token prompt; (status or None if it
    is still running 10 s later, what the terminal showed)."""
    master, slave = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*entry_point(), *args], env=env, stdin=slave, stdout=slave, stderr=slave,
        preexec_fn=own_terminal,
    )  # fmt: skip
    os.close(slave)
    shown, pressed, deadline = b"", None, time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if pressed is not None and time.monotonic() > pressed + 10:
                return None, shown.decode(errors="replace")
            if select.select([master], [], [], 0.2)[0]:
                try:
                    shown += os.read(master, 4096)
                except OSError:
                    break
            if pressed is None and b"Plex token" in shown:
                time.sleep(0.3)  # getpass has turned echo off and is reading
                os.write(master, b"\x03")  # the terminal turns it into SIGINT
                pressed = time.monotonic()
        return proc.wait(10), shown.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_ctrl_c_at_the_token_prompt_stops_connect(cli_env: dict[str, str]) -> None:
    status, shown = _interrupt_at_the_prompt(["connect", "--user", "cy", "--no-verify"], cli_env)
    assert status == 130, f"one Ctrl-C did not stop it: {shown!r}"
    assert "Traceback" not in shown, shown
    assert run_cli("logs", "--user", "cy", env=cli_env).returncode == 1  # no user was made


# ------------------------------------------------------------------------ a DATA_DIR it can't use


def test_a_data_dir_it_cannot_use_is_named_with_what_to_do(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    embedded = {k: v for k, v in cli_env.items() if k not in ("DATABASE_URL", "ENCRYPTION_KEY")}
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for data_dir, expected in [
        (a_file, f"DATA_DIR: {a_file} is a file, not a folder"),
        (a_file / "sub", f"{a_file} is a file, not a folder, so {a_file / 'sub'} cannot be one"),
    ]:
        for command in ("run", "logs"):
            done = run_cli(command, env={**embedded, "DATA_DIR": str(data_dir)})
            assert done.returncode == 2 and expected in done.stderr, done.stderr
            one_or_two_lines(done)
    # A folder it may not create (sysfs refuses even root): the folder is named, not PostgreSQL.
    denied = run_cli("logs", env={**embedded, "DATA_DIR": "/sys/plex-tracker-test"})
    assert denied.returncode == 1
    assert "cannot use DATA_DIR /sys/plex-tracker-test (" in denied.stderr
    assert "DATABASE_URL" not in denied.stderr
    one_or_two_lines(denied)


# ------------------------------------------- PUBLIC_WEBHOOK_URL set only where `run` started


@pytest.mark.slow
def test_connect_from_another_folder_prints_the_daemons_public_url(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """PUBLIC_WEBHOOK_URL in the `.env` of the folder `run` was started from: `connect` in
    another folder (the per-user DATA_DIR finds the same database) prints that URL too,
    not the LAN address Plex may not be able to reach."""
    env = {
        k: v
        for k, v in cli_env.items()
        if k not in ("DATABASE_URL", "ENCRYPTION_KEY", "PUBLIC_WEBHOOK_URL", "DATA_DIR")
    }
    with tempfile.TemporaryDirectory(prefix="plex-tracker-public-") as holder:
        os.chmod(holder, 0o755)  # as root, initdb runs as an unprivileged user
        home = Path(holder)
        env.update(HOME=str(home), XDG_DATA_HOME=str(home / "xdg"))
        started_in, elsewhere = home / "clone", home / "elsewhere"
        started_in.mkdir()
        elsewhere.mkdir()
        (started_in / ".env").write_text("PUBLIC_WEBHOOK_URL=https://plex-tracker.example.org\n")
        service = RunningService(env, tmp_path / "run.log")
        try:
            with (tmp_path / "run.log").open("ab") as log:
                service.proc = subprocess.Popen(
                    [*entry_point(), "run"], env=service.env, cwd=started_in,
                    stdout=log, stderr=log,
                )  # fmt: skip
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert service.proc.poll() is None, (tmp_path / "run.log").read_text()
                try:
                    if httpx.get(service.base_url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            connected = subprocess.run(
                [*entry_point(), "connect", "--user", "una", "--plex-token", "t", "--no-verify",
                 "--no-sync"],
                env=env, cwd=elsewhere, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert connected.returncode == 0, connected.stderr
            url = connected.stdout.strip().splitlines()[-1]
            assert url.startswith("https://plex-tracker.example.org/api/plex/webhook?secret="), url
            # This command's own setting still wins.
            own = subprocess.run(
                [*entry_point(), "connect", "--user", "una", "--rotate-secret"],
                env={**env, "PUBLIC_WEBHOOK_URL": "http://10.0.0.5:8080"}, cwd=elsewhere,
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert own.stdout.strip().splitlines()[-1].startswith("http://10.0.0.5:8080/api/")
        finally:
            if service.proc is not None and service.proc.poll() is None:
                assert service.stop() == 0  # SIGTERM: the embedded server stops with it


# ------------------------------------------------------------ status: a retry is not queueing


async def test_status_counts_a_retry_apart_from_waiting_in_the_queue(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    """A scrobble that failed (episode not in the tracker yet) and was retried hours later
    waited hours since it arrived, but not in the queue: `status` says so apart."""
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("The Office", 2005, episodes=2, tmdb_id=2316)])
    daemon.plex_server.add_show("1936543", "The Office", 2005, guids=["tmdb://2316"])
    failed = await daemon.post(scrobble(episode(season=1, number=3)), secret)
    assert (await daemon.settled(failed.json()["id"]))["status"] == "failed"
    marked = await daemon.post(scrobble(episode(season=1, number=1)), secret)
    assert (await daemon.settled(marked.json()["id"]))["status"] == "success"
    # Three hours later the tracker knows the episode, and the retry marks it.
    await daemon.fetch(
        "UPDATE plex_webhook_logs SET created_at = created_at - interval '3 hours' WHERE id = $1",
        failed.json()["id"],
    )
    await daemon.import_shows(user_id, [show("The Office", 2005, episodes=3, tmdb_id=2316)])
    replayed = await asyncio.to_thread(run_cli, "replay", "--user", "alice", env=cli_env)
    assert "1 marked watched" in replayed.stdout, replayed.stdout + replayed.stderr

    done = await asyncio.to_thread(run_cli, "status", "--user", "alice", env=cli_env)
    assert done.returncode == 0, done.stderr
    queued = re.search(r"waiting in the queue\s+mean (\d+) ms", done.stdout)
    assert queued and int(queued[1]) < 10_000, done.stdout
    assert re.search(r"retried after a failure\s+1 scrobbles, mean 3 h", done.stdout), done.stdout


def test_a_window_or_limit_out_of_range_is_a_usage_error(cli_env: dict[str, str]) -> None:
    # A user, so that `status` reads the window (a traceback from PostgreSQL, before).
    assert run_cli("connect", "--user", "wim", "--plex-token", "t", "--no-verify", env=cli_env)
    for args, expected in [
        (["status", "--days", "99999999"], "argument --days: 99999999 is not from 1 to 3650"),
        (["status", "--days", "0"], "argument --days: 0 is not from 1 to 3650"),
        (["logs", "--limit", "0"], "argument --limit: 0 is not from 1 to 10000"),
        (["logs", "--limit", "many"], "argument --limit: 'many' is not a whole number"),
    ]:
        done = run_cli(*args, env=cli_env)
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


async def test_resolve_with_a_tmdb_id_out_of_range_says_so(
    daemon: Daemon, cli_env: dict[str, str]
) -> None:
    user_id, secret = await daemon.connect()
    await daemon.import_shows(user_id, [show("Star Trek: Deep Space Nine", 1993, episodes=2)])
    payloads = [current_agent(daemon, "6001", "Star Trek: Deep Space 9", 1993, 1)]
    conflict_id, _ = await raise_conflict(daemon, secret, payloads, "low_confidence")
    for tmdb in ("99999999999999999", "-5"):
        done = await asyncio.to_thread(
            run_cli, "resolve", str(conflict_id), "--tmdb", tmdb, env=cli_env
        )
        assert done.returncode == 1, done.stderr
        assert f"error: {tmdb} is not a TMDB id" in done.stderr
        one_or_two_lines(done)
    still = await daemon.fetch("SELECT resolved FROM plex_conflicts WHERE id = $1", conflict_id)
    assert still[0]["resolved"] is False
