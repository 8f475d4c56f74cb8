"""Outbound HTTP clients: TMDB, the users' Plex servers, plex.tv.

Each client takes an ``httpx.AsyncClient`` owned by the composition root (which closes
it) and keyword-only settings; base URLs are parameters so tests point them at fakes.
"""

from core.clients.errors import NotFound, RateLimited, Unauthorized, UpstreamError
from core.clients.plex_server import PlexServerClient, PlexShowMetadata
from core.clients.plextv import PlexAccount, PlexConnection, PlexResource, PlexTvClient
from core.clients.tmdb import (
    TmdbClient,
    TmdbEpisode,
    TmdbSeason,
    TmdbSeasonSummary,
    TmdbShow,
    TmdbShowSummary,
)

__all__ = [
    "NotFound",
    "PlexAccount",
    "PlexConnection",
    "PlexResource",
    "PlexServerClient",
    "PlexShowMetadata",
    "PlexTvClient",
    "RateLimited",
    "TmdbClient",
    "TmdbEpisode",
    "TmdbSeason",
    "TmdbSeasonSummary",
    "TmdbShow",
    "TmdbShowSummary",
    "Unauthorized",
    "UpstreamError",
]
