from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from core.webhook_address import lan_address, loopback_warning

KEY = "ab" * 32


def _load(**values: object):  # type: ignore[no-untyped-def]
    return load_settings(_env_file=None, **values)


def test_defaults_match_the_design() -> None:
    s = _load()
    assert s.database_url is None
    assert s.plex_rate_limit == 100
    assert s.log_retention_days == 90
    assert s.match_auto_threshold == 0.90
    assert s.discord_token is None


def test_a_63_character_key_is_refused_by_name_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as err:
        _load(ENCRYPTION_KEY="a" * 63)
    text = str(err.value)
    assert "ENCRYPTION_KEY" in text and "64 hex" in text and "got 63" in text
    assert "a" * 63 not in text


def test_non_hex_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="ENCRYPTION_KEY"):
        _load(ENCRYPTION_KEY="z" * 64)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://localhost/x"),
        ("DATABASE_URL", "not a url"),
        ("PUBLIC_WEBHOOK_URL", "ftp://example.com/hook"),
        ("TMDB_BASE_URL", "api.themoviedb.org"),
        ("DISCORD_GATEWAY_URL", "http://127.0.0.1:1/"),
        ("PORT", "99999"),
        ("MATCH_AUTO_THRESHOLD", "1.5"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        _load(**{name: value})
    assert name in str(err.value)


def test_database_url_is_secret_and_urls_are_normalised() -> None:
    s = _load(
        DATABASE_URL="postgresql://u:hunter2@db/x",
        ENCRYPTION_KEY=KEY.upper(),
        PUBLIC_WEBHOOK_URL="https://tracker.example.com/api/plex/webhook/",
    )
    assert "hunter2" not in repr(s)
    assert s.encryption_key is not None and s.encryption_key.get_secret_value() == KEY
    assert s.webhook_url("abc") == "https://tracker.example.com/api/plex/webhook?secret=abc"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEX_RATE_LIMIT", "7")
    monkeypatch.setenv("LOG_RETENTION_DAYS", "30")
    s = _load()
    assert (s.plex_rate_limit, s.log_retention_days) == (7, 30)


def test_data_dir_default_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert _load().data_dir == tmp_path / "xdg" / "plex-tracker"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = _load()
    assert s.data_dir == tmp_path / "home" / ".local" / "share" / "plex-tracker"
    assert s.data_dir_note is None
    # An earlier version's ./data (with a database or a key) is still used, with a note.
    (tmp_path / "data" / "pgdata").mkdir(parents=True)
    old = _load()
    assert old.data_dir == tmp_path / "data"
    assert old.data_dir_note is not None and "the default of earlier versions" in old.data_dir_note
    assert _load(DATA_DIR=str(tmp_path / "data")).data_dir_note is None, "chosen: no note"


def test_webhook_url_without_public_url_uses_lan_address_and_port() -> None:
    s = _load(PORT=9000)
    assert s.webhook_url("abc") == f"http://{lan_address()}:9000/api/plex/webhook?secret=abc"
    assert _load(HOST="10.1.2.3", PORT=81).webhook_base() == "http://10.1.2.3:81/api/plex/webhook"
    assert _load(PUBLIC_WEBHOOK_URL="https://t.example.com:8123/").webhook_base() == (
        "https://t.example.com:8123/api/plex/webhook"
    )
    assert _load(PUBLIC_WEBHOOK_URL="https://t.example.com/hooks/plex").webhook_base() == (
        "https://t.example.com/hooks/plex"
    )


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:8080/api/plex/webhook", True),
        ("http://127.0.0.1:8080/x", True),
        ("http://[::1]:8080/x", True),
        ("http://192.168.1.20:8080/x", False),
        ("https://tracker.example.com/x", False),
    ],
)
def test_loopback_urls_get_a_warning(url: str, loopback: bool) -> None:
    assert (loopback_warning(url) is not None) is loopback
