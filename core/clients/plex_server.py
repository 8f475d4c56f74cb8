"""Client for a user's Plex Media Server: the show-level metadata behind a webhook.

The current Plex agent gives shows ``plex://show/…`` guids; the TMDB/TVDB/IMDb ids of the
*show* are only in the ``Guid`` list of ``/library/metadata/{ratingKey}`` on the server.
The token travels in the ``X-Plex-Token`` header, never in the URL, so it cannot leak
through httpx's request logging or exception text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from core.clients._cache import TtlCache
from core.clients._http import JsonRequester, RetryPolicy, Sleep
from core.clients.errors import NotFound, UpstreamError
from core.metrics import Metrics

log = logging.getLogger(__name__)

SERVICE = "plex_server"


@dataclass(frozen=True, slots=True)
class PlexShowMetadata:
    """One library item as the server describes it (for a show: the show itself)."""

    rating_key: str
    guid: str | None  # "plex://show/5d9c086c46115600200aa2fe" or a legacy agent guid
    title: str
    year: int | None
    guids: tuple[str, ...]  # ("imdb://tt0386676", "tmdb://2316", "tvdb://73244")
    thumb: str | None
    type: str | None = None  # "show", "season", "episode", "movie"


def normalise_server_url(server_url: str) -> str:
    """Scheme, host, port and path of a Plex server URL; drops credentials, query and
    fragment. ValueError says why a URL can't be used (no host, a port out of range, a
    broken IPv6 literal).

    Users sometimes paste a URL with ``?X-Plex-Token=…``; that must not be stored in the
    clear, echoed into request URLs (which httpx logs) nor into error messages.
    """
    try:
        parts = urlsplit(server_url.strip())
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:  # its text may quote what was pasted: say what, not that
        raise ValueError("has a port or an IPv6 address that can't be read") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if port == 0:
        raise ValueError("port 0 is not a port a server listens on")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def _base(server_url: str) -> str:
    try:
        return normalise_server_url(server_url)
    except ValueError as exc:
        # Like an address that does not answer: look for the server elsewhere, retry later.
        raise UpstreamError(f"the Plex server URL {exc}", service=SERVICE, retryable=True) from None


def _metadata(rating_key: str, payload: Any) -> PlexShowMetadata:
    container = payload["MediaContainer"]
    items = container.get("Metadata") or []
    if not items:
        raise NotFound(f"plex server has no metadata for rating key {rating_key}", service=SERVICE)
    item: Mapping[str, Any] = items[0]
    guids = tuple(
        str(g["id"]) for g in item.get("Guid") or () if isinstance(g, Mapping) and g.get("id")
    )
    year = item.get("year")
    return PlexShowMetadata(
        rating_key=str(item.get("ratingKey") or rating_key),
        guid=str(item["guid"]) if item.get("guid") else None,
        title=str(item.get("title") or ""),
        year=int(year) if isinstance(year, int | str) and str(year).isdigit() else None,
        guids=guids,
        thumb=str(item["thumb"]) if item.get("thumb") else None,
        type=str(item["type"]) if item.get("type") else None,
    )


class PlexHttp:
    """What every call to a Plex Media Server shares: its headers (the token in
    ``X-Plex-Token``, never the URL), a retried request, and a probe of an address (one
    short try: a LAN address seen from elsewhere just hangs)."""

    TIMEOUT = 10.0  # seconds for a request, unless `timeout` says otherwise

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        metrics: Metrics,
        timeout: float | None = None,
        probe_timeout: float = 5.0,
        max_retries: int = 1,
        backoff_base: float = 0.5,
        client_identifier: str = "plex-tracker",
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client_identifier = client_identifier
        self._requester = JsonRequester(
            http=http,
            service=SERVICE,
            metrics=metrics,
            timeout=self.TIMEOUT if timeout is None else timeout,
            policy=RetryPolicy(max_retries=max_retries, backoff_base=backoff_base),
            sleep=sleep,
        )
        self._prober = JsonRequester(
            http=http,
            service=SERVICE,
            metrics=metrics,
            timeout=probe_timeout,
            policy=RetryPolicy(max_retries=0),
            sleep=sleep,
        )

    def _headers(self, token: str | None, paging: tuple[int, int] | None = None) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "X-Plex-Client-Identifier": self._client_identifier,
            "X-Plex-Product": "plex-tracker",
        }
        if token is not None:
            headers["X-Plex-Token"] = token
        if paging is not None:
            headers["X-Plex-Container-Start"] = str(paging[0])
            headers["X-Plex-Container-Size"] = str(paging[1])
        return headers

    async def _get(
        self,
        server_url: str,
        path: str,
        token: str | None,
        *,
        params: Mapping[str, str | int] | None = None,
        paging: tuple[int, int] | None = None,
        probe: bool = False,
    ) -> Any:
        requester = self._prober if probe else self._requester
        return await requester.get_json(
            _base(server_url) + path, params=params, headers=self._headers(token, paging)
        )


class PlexServerClient(PlexHttp):
    """Reads library metadata from users' Plex servers; caches per (user, server, item)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        metrics: Metrics,
        cache_ttl: float = 3600,
        cache_size: int = 4096,
        timeout: float | None = None,
        max_retries: int = 1,
        backoff_base: float = 0.5,
        client_identifier: str = "plex-tracker",
        probe_timeout: float = 5.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(
            http=http,
            metrics=metrics,
            timeout=timeout,
            probe_timeout=probe_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            client_identifier=client_identifier,
            sleep=sleep,
        )
        self._cache: TtlCache[tuple[int, str, str], PlexShowMetadata] = TtlCache(
            ttl=cache_ttl, max_entries=cache_size
        )

    async def show_metadata(
        self, *, user_id: int, server_url: str, token: str, rating_key: str
    ) -> PlexShowMetadata:
        """``GET {server_url}/library/metadata/{rating_key}`` as JSON.

        Raises Unauthorized (bad token), NotFound (unknown key) or a retryable
        UpstreamError (server unreachable, timeout, 5xx).
        """
        base = _base(server_url)
        key = str(rating_key).strip()
        cache_key = (user_id, base, key)

        async def fetch() -> PlexShowMetadata:
            payload = await self._get(
                base,
                f"/library/metadata/{quote(key, safe='')}",
                token,
                # The single-item endpoint includes Guid tags already; asking is harmless
                # and keeps working on servers where it would not.
                params={"includeGuids": 1},
            )
            try:
                metadata = _metadata(key, payload)
            except UpstreamError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                log.warning(
                    "plex server metadata for user %s item %s: unexpected shape (%s)",
                    user_id,
                    key,
                    type(exc).__name__,
                )
                raise UpstreamError(
                    "plex server returned unexpected metadata", service=SERVICE
                ) from None
            return metadata

        return await self._cache.get_or_fetch(cache_key, fetch)

    async def identity(self, server_url: str) -> str | None:
        """The machineIdentifier of the Plex server answering at `server_url`
        (``GET /identity``, which needs no token: none is sent to an address not known to
        be the user's server). Raises UpstreamError when nothing answers there."""
        payload = await self._get(server_url, "/identity", None, probe=True)
        try:
            found = payload["MediaContainer"]["machineIdentifier"]
        except (KeyError, TypeError):
            return None
        return str(found) if found else None

    async def show_guids(
        self, *, user_id: int, server_url: str, token: str, rating_key: str
    ) -> list[str]:
        """The item's external guids (``tmdb://…``, ``tvdb://…``, ``imdb://…``)."""
        metadata = await self.show_metadata(
            user_id=user_id, server_url=server_url, token=token, rating_key=rating_key
        )
        return list(metadata.guids)

    def forget_user(self, user_id: int) -> None:
        """Drop a user's cached items (their token or server changed)."""
        self._cache.discard_where(lambda k: k[0] == user_id)
