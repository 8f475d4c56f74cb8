"""schemathesis, a third-party client, against the running daemon and its own OpenAPI
document (issue 10, item 28): every check, 0 failures. Slow: it sends a few thousand
requests generated from the document, valid and invalid."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.harness import running_daemon
from tests.plex_payloads import episode, scrobble
from tests.test_api import OFFICE

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.slow
async def test_schemathesis_finds_no_disagreement(clean_db: str, tmp_path: Path) -> None:
    async with running_daemon(clean_db, tmp_path) as daemon:
        user_id, secret = await daemon.connect("alice")
        token = (await daemon.services.api_tokens.create(user_id)).token
        await daemon.import_shows(user_id, [OFFICE])
        # Something to list and resolve: a conflict and a mapping.
        meta = episode(show="Zzyzx Unknown", show_key="777", grandparent_guid="local://1")
        await daemon.settled((await daemon.post(scrobble(meta), secret)).json()["id"])
        cli = Path(sys.executable).with_name("schemathesis")
        proc = await asyncio.create_subprocess_exec(
            str(cli),
            "--config-file",
            str(CONFIG),
            "run",
            f"{daemon.base_url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            os.environ.get("SCHEMATHESIS_EXAMPLES", "40"),
            "--seed",
            "20240707",
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--request-timeout",
            "20",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
            cwd=tmp_path,
        )
        out, _ = await proc.communicate()
    report = out.decode(errors="replace")
    print(report[-3000:])
    assert proc.returncode == 0, report[-20000:]
    assert "No issues found" in report or " 0 failures" in report or "passed" in report
