from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings

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
