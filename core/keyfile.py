"""The encryption key: ENCRYPTION_KEY, or one generated once into DATA_DIR (embedded setup)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core.crypto import generate_key
from core.settings import Settings, SettingsError

log = logging.getLogger(__name__)

KEY_FILE = "encryption.key"


def resolve_key(settings: Settings) -> str:
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value()
    if settings.database_url is not None:
        # Several processes may share that database: a key made up here would differ per host.
        raise SettingsError(
            "ENCRYPTION_KEY: required when DATABASE_URL is set (generate one with "
            "`plex-tracker gen-key`)"
        )
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if len(key) != 64:
            raise SettingsError(f"ENCRYPTION_KEY: {path} does not hold a 64-hex-character key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    log.warning(
        "ENCRYPTION_KEY is not set: generated one into %s (mode 0600). Back it up: without it "
        "the stored Plex tokens cannot be read.",
        path,
    )
    return key
