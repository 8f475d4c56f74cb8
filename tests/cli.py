"""Runs the real `plex-tracker` console script in a subprocess, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("plex-tracker")
    if script.exists():
        return [str(script)]
    found = shutil.which("plex-tracker")
    return [found] if found else [sys.executable, "-m", "app.cli"]


def run_cli(
    *args: str, env: dict[str, str], input_text: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*entry_point(), *args],
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=env.get("DATA_DIR", os.getcwd())
        if Path(env.get("DATA_DIR", "/nonexistent")).is_dir()
        else None,
    )


def table_rows(text: str) -> list[list[str]]:
    """The rows of a table the CLI printed (rich, header rule of '─'), header first; cells are
    split on runs of two or more spaces."""
    import re

    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or set(stripped) <= {"─", " "}:
            continue
        rows.append(re.split(r"\s{2,}", stripped))
    return rows
