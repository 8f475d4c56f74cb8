"""Settings from the environment or `.env`, built once by the composition root and passed down."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.webhook_address import default_webhook_base, with_webhook_path

_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(value: str) -> tuple[IpNetwork, ...]:
    """TRUSTED_PROXIES: comma-separated addresses and CIDR networks (`10.0.0.1, 172.16.0.0/12`)."""
    networks: list[IpNetwork] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{entry[:60]!r} is not an IP address or a network "
                "(give addresses and CIDRs separated by commas, e.g. 172.18.0.0/16,10.0.0.1)"
            ) from None
    return tuple(networks)


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it and says what is expected."""


def _check_key(value: SecretStr | None, name: str) -> SecretStr | None:
    if value is None or value.get_secret_value() == "":
        return None
    raw = value.get_secret_value().strip()
    if not _HEX_KEY.match(raw):
        # Never echo the value: it is a secret, even when it is a wrong one.
        raise ValueError(
            f"{name} must be 64 hex characters (32 bytes); got {len(raw)} characters. "
            "Generate one with `plex-tracker gen-key`."
        )
    return SecretStr(raw.lower())


def _check_url(value: str | None, name: str, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  a port out of range or not a number: said here, not later
    except ValueError:
        # Not echoed: DATABASE_URL carries a password.
        raise ValueError(f"{name} is not a valid URL: check its host and port (1-65535)") from None
    if parts.scheme not in schemes or not (parts.netloc or parts.query):
        raise ValueError(f"{name} must be a URL starting with {' or '.join(schemes)}://")
    return value.rstrip("/")


def user_data_dir() -> Path:
    """Per user, so every command finds the same database from any folder (XDG base dirs)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "plex-tracker"


def legacy_data_dir() -> Path | None:
    """`./data`, the default of earlier versions, when it holds a database or a key."""
    here = Path.cwd() / "data"
    if (here / "pgdata").is_dir() or (here / "encryption.key").is_file():
        return here
    return None


def _default_data_dir() -> Path:
    return legacy_data_dir() or user_data_dir()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=_default_data_dir, alias="DATA_DIR")
    encryption_key: SecretStr | None = Field(default=None, alias="ENCRYPTION_KEY")
    encryption_key_previous: SecretStr | None = Field(default=None, alias="ENCRYPTION_KEY_PREVIOUS")
    host: str = Field(default="0.0.0.0", alias="HOST")
    port: int = Field(default=8080, ge=0, le=65535, alias="PORT")
    # Unset: this machine's LAN address and PORT (core/webhook_address.py).
    public_webhook_url: str | None = Field(default=None, alias="PUBLIC_WEBHOOK_URL")
    plex_rate_limit: int = Field(default=100, ge=1, alias="PLEX_RATE_LIMIT")
    log_retention_days: int = Field(default=90, ge=1, alias="LOG_RETENTION_DAYS")
    tmdb_api_key: SecretStr | None = Field(default=None, alias="TMDB_API_KEY")
    tmdb_base_url: str = Field(default="https://api.themoviedb.org/3", alias="TMDB_BASE_URL")
    plex_tv_base_url: str = Field(default="https://plex.tv", alias="PLEX_TV_BASE_URL")
    discord_token: SecretStr | None = Field(default=None, alias="DISCORD_TOKEN")
    discord_guild_id: int | None = Field(default=None, alias="DISCORD_GUILD_ID")
    discord_api_base: str | None = Field(default=None, alias="DISCORD_API_BASE")
    discord_gateway_url: str | None = Field(default=None, alias="DISCORD_GATEWAY_URL")
    bot_enabled: bool = Field(default=True, alias="BOT_ENABLED")
    # Scheduled jobs (app/scheduler.py): every process fires the same wall-clock ticks.
    retry_max_attempts: int = Field(default=10, ge=1, le=100, alias="RETRY_MAX_ATTEMPTS")
    job_prune_seconds: int = Field(default=86400, ge=1, alias="JOB_PRUNE_SECONDS")
    job_retry_seconds: int = Field(default=60, ge=1, alias="JOB_RETRY_SECONDS")
    job_refresh_seconds: int = Field(default=21600, ge=1, alias="JOB_REFRESH_SECONDS")
    job_metrics_seconds: int = Field(default=15, ge=1, alias="JOB_METRICS_SECONDS")
    # Plex watch history reconcile (core/history): 0 turns the scheduled run off.
    job_sync_seconds: int = Field(default=3600, ge=0, alias="JOB_SYNC_SECONDS")
    match_auto_threshold: float = Field(default=0.90, ge=0.5, le=1.0, alias="MATCH_AUTO_THRESHOLD")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, alias="MAX_BODY_BYTES")
    duplicate_window_seconds: int = Field(default=600, ge=0, alias="DUPLICATE_WINDOW_SECONDS")
    worker_concurrency: int = Field(default=4, ge=1, le=64, alias="WORKER_CONCURRENCY")
    db_pool_size: int = Field(default=10, ge=2, le=100, alias="DB_POOL_SIZE")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    # The HTTP edge (daemon/): whose X-Forwarded-For is believed, and how long a client may
    # take to send a request's headers (or sit idle between requests) and its body.
    trusted_proxies: str = Field(default="", alias="TRUSTED_PROXIES")
    http_header_timeout: float = Field(default=15, gt=0, le=3600, alias="HTTP_HEADER_TIMEOUT")
    http_body_timeout: float = Field(default=60, gt=0, le=3600, alias="HTTP_BODY_TIMEOUT")

    @field_validator("encryption_key", mode="after")
    @classmethod
    def _key(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_key(v, "ENCRYPTION_KEY")

    @field_validator("encryption_key_previous", mode="after")
    @classmethod
    def _previous_key(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_key(v, "ENCRYPTION_KEY_PREVIOUS")

    @field_validator("database_url", mode="after")
    @classmethod
    def _database_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or v.get_secret_value() == "":
            return None
        _check_url(v.get_secret_value(), "DATABASE_URL", ("postgres", "postgresql"))
        return v

    @field_validator("public_webhook_url", mode="after")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        checked = _check_url(v, "PUBLIC_WEBHOOK_URL", ("http", "https"))
        return with_webhook_path(checked) if checked else None

    @field_validator("tmdb_base_url", "plex_tv_base_url", mode="after")
    @classmethod
    def _http_url(cls, v: str, info: object) -> str:
        name = str(getattr(info, "field_name", "URL")).upper()
        checked = _check_url(v, name, ("http", "https"))
        if checked is None:
            raise ValueError(f"{name} must not be empty")
        return checked

    @field_validator("discord_api_base", mode="after")
    @classmethod
    def _discord_api(cls, v: str | None) -> str | None:
        return _check_url(v, "DISCORD_API_BASE", ("http", "https"))

    @field_validator("discord_gateway_url", mode="after")
    @classmethod
    def _discord_gateway(cls, v: str | None) -> str | None:
        checked = _check_url(v, "DISCORD_GATEWAY_URL", ("ws", "wss"))
        return None if checked is None else checked + "/"

    @field_validator("log_level", mode="after")
    @classmethod
    def _log_level(cls, v: str) -> str:
        level = v.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def data_dir_note(self) -> str | None:
        """Said once per command when an earlier version's ./data is still in use."""
        if "data_dir" in self.model_fields_set or self.data_dir != legacy_data_dir():
            return None
        return (
            f"using {self.data_dir} (the default of earlier versions); the default is now "
            f"{user_data_dir()}: move the folder there, or set DATA_DIR to keep this one"
        )

    def webhook_base(self) -> str:
        """The webhook URL without its secret."""
        return self.public_webhook_url or default_webhook_base(self.host, self.port)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _data_dir(cls, v: Path) -> Path:
        # A file where the folder should be (or on its path) would surface later as a
        # database error; say it by name now.
        for path in (v, *v.parents):
            if path.exists():
                if not path.is_dir():
                    where = "" if path == v else f", so {v} cannot be one"
                    raise ValueError(f"{path} is a file, not a folder{where}")
                break
        return v

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _trusted_proxies(cls, v: str) -> str:
        proxy_networks(v)  # raises naming the entry that is not an address or a network
        return v

    @property
    def trusted_networks(self) -> tuple[IpNetwork, ...]:
        return proxy_networks(self.trusted_proxies)

    def webhook_url(self, secret: str) -> str:
        base = self.webhook_base()
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}secret={secret}"


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one readable error naming each setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err.get("loc") or ("?",)
            field = str(loc[0])
            name = Settings.model_fields[field].alias if field in Settings.model_fields else field
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{(name or field).upper()}: {msg}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
