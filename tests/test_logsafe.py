"""No secret reaches a log line, whoever logs it (issue 10, item 27): aiohttp logs a request
it can't parse at ERROR with its raw bytes; the redaction filter covers the exception text,
the arguments and the stack, and knows `secret=`, Authorization and X-Plex-Token."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

from core.clients.logsafe import RedactSecretsFilter, redact
from tests.cli import run_cli
from tests.processes import RunningService

SECRET = "5f1e0c9d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f10"
BEARER = "ptk_QmFzZTY0LWlzaC10b2tlbi12YWx1ZQ"
PLEX = "xPlexTok3nAbCdEf"


def _formatted(record: logging.LogRecord) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.handle(record)
    return stream.getvalue()


def test_redact_knows_webhook_secrets_headers_and_json_fields() -> None:
    cases = {
        f"POST /api/plex/webhook?secret={SECRET} HTTP/1.1": "secret=***",
        f"b'POST /api/plex/webhook?secret={SECRET}\\r\\nHost: x'": "secret=***\\r\\n",
        f"Authorization: Bearer {BEARER}": "Authorization: Bearer ***",
        f"b'Authorization: Basic {BEARER}\\r\\n'": "Authorization: Basic ***\\r\\n",
        f"{{'Authorization': 'Bearer {BEARER}'}}": "'Authorization': 'Bearer ***'",
        f"X-Plex-Token: {PLEX}": "X-Plex-Token: ***",
        f"/library/metadata/1?X-Plex-Token={PLEX}&a=1": "X-Plex-Token=***&a=1",
        f'{{"plex_token": "{PLEX}", "verify": false}}': '"plex_token": "***"',
        f"'secret': '{SECRET}'": "'secret': '***'",
        f"https://api.example/3/tv/1?api_key={PLEX}": "api_key=***",
    }
    for raw, expected in cases.items():
        cleaned = redact(raw)
        assert expected in cleaned, (raw, cleaned)
        assert SECRET not in cleaned and BEARER not in cleaned and PLEX not in cleaned, cleaned
    untouched = "webhook 12 user=3 event=media.scrobble status=success (authorization ok)"
    assert redact(untouched) == untouched


def test_filter_redacts_exception_text_arguments_and_stack() -> None:
    try:
        raise ValueError(f"Invalid header value char: b'Authorization: Bearer {BEARER}\\x01'")
    except ValueError as exc:
        error = exc
    record = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s for %s",
        ("127.0.0.1", f"/api/plex/webhook?secret={SECRET}"),
        (type(error), error, error.__traceback__),
        sinfo=f"Stack (most recent call last):\n  plex_token={PLEX}",
    )
    text = _formatted(record)
    assert "Error handling request from 127.0.0.1" in text and "ValueError" in text
    assert "Traceback" in text and "Stack (most recent call last)" in text
    for value in (SECRET, BEARER, PLEX):
        assert value not in text, text
    # Already-rendered exception text (a formatter ran first) is redacted as well.
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    record.exc_text = f"Traceback ...\nBadStatusLine: b'GET /?secret={SECRET} HTTP/1.1'"
    assert SECRET not in _formatted(record)


async def test_malformed_requests_with_secrets_never_reach_the_process_log(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The real `plex-tracker run` with its own logging set-up, sent requests aiohttp can't
    parse (its ERROR line carries the raw bytes), each holding a secret."""
    done = await asyncio.to_thread(
        run_cli, "connect", "--user", "alice", "--plex-token", PLEX, "--no-verify", env=cli_env
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1].rsplit("secret=", 1)[1]
    service = RunningService({**cli_env, "LOG_LEVEL": "DEBUG"}, tmp_path / "run.log")
    await asyncio.to_thread(service.start)
    try:
        host, port = service.base_url.removeprefix("http://").split(":")
        for raw in (
            f"POST /api/plex/webhook?secret={secret} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {BEARER}\r\nX-Bad: a\x01b\r\n\r\n",
            f"POST /api/plex/webhook?secret={secret}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
            f"GET /healthz HTTP/1.1\r\nX-Plex-Token: {PLEX}\x7f\r\nHost: x\r\n\r\n",
            f"POST /api/plex/webhook?secret={secret} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(raw.encode("latin-1"))
            await writer.drain()
            answer = await reader.read(1024)
            assert answer.split(b"\r\n", 1)[0].endswith(b"400 Bad Request"), answer
            writer.close()
    finally:
        await asyncio.to_thread(service.stop)
        service.kill()
    log = service.log()
    assert "malformed HTTP request from 127.0.0.1 answered 400" in log, "aiohttp's reports"
    for name, value in (("webhook secret", secret), ("bearer token", BEARER), ("plex token", PLEX)):
        assert value not in log, f"the {name} reached the log"


def test_api_tokens_cookies_and_api_key_headers_are_redacted() -> None:
    """Our own `ptk_` tokens wherever they appear (a relay or proxy may put them in any
    header), and Cookie / X-Api-Key header values."""
    cases = {
        f"b'X-Forwarded-Auth: {BEARER}\\x01'": "ptk_***",
        f"b'Cookie: session={SECRET}; theme=dark\\x01'": "Cookie: ***",
        f"{{'cookie': 'sid={SECRET}'}}": "'cookie': '***'",
        f"X-Api-Key: {PLEX}": "X-Api-Key: ***",
    }
    for raw, expected in cases.items():
        cleaned = redact(raw)
        assert expected in cleaned, (raw, cleaned)
        assert SECRET not in cleaned and BEARER not in cleaned and PLEX not in cleaned, cleaned


async def test_a_malformed_request_is_one_short_log_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """aiohttp reported each request it can't parse at ERROR with a traceback and the bad
    line quoted twice (16 KB for an 8 KB header): a scanner could write megabytes of log a
    second, and it read like a crash. Now: one INFO line each, with a short excerpt."""
    service = RunningService(cli_env, tmp_path / "run.log")
    await asyncio.to_thread(service.start)
    try:
        host, port = service.base_url.removeprefix("http://").split(":")
        before = len(service.log())
        for raw in (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a" * 8000 + "\x01\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + "b" * 9000 + "\r\n\r\n",
            f"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: sid={SECRET}\x01\r\n\r\n",
        ) * 10:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(raw.encode("latin-1"))
            await writer.drain()
            answer = await reader.read(1024)
            assert answer.split(b"\r\n", 1)[0].endswith(b"400 Bad Request"), answer
            writer.close()
        await asyncio.sleep(0.5)  # the last lines reach the file
    finally:
        await asyncio.to_thread(service.stop)
        service.kill()
    lines = [line for line in service.log()[before:].splitlines() if "malformed HTTP" in line]
    assert len(lines) == 30, service.log()[before:][:3000]
    assert all(
        " INFO aiohttp.server: malformed HTTP request from 127.0.0.1 answered 400: " in line
        for line in lines
    ), lines[:3]
    assert max(len(line) for line in lines) < 300, max(lines, key=len)
    log = service.log()
    assert "Traceback" not in log and " ERROR " not in log
    assert SECRET not in log
