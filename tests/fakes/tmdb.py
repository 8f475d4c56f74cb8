"""A local TMDB v3 API: /find, /tv/{id}, /tv/{id}/season/{n}, /search/tv and /configuration,
in TMDB's JSON shapes.

``base_url`` ends with ``/3`` like ``https://api.themoviedb.org/3``. Requests must carry
the v3 key (``?api_key=``) or the v4 read access token (``Authorization: Bearer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes._base import FakeServer

DEFAULT_API_KEY = "fake-tmdb-v3-key-0123456789abcdef"
# A syntactically JWT-looking token (header.payload.signature); TMDB's v4 tokens are JWTs.
DEFAULT_READ_TOKEN = (
    "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJmYWtlLXRtZGIiLCJzY29wZXMiOlsiYXBpX3JlYWQiXX0.ZmFrZQ"
)

_STATUS_BODIES: dict[int, tuple[int, str]] = {
    401: (7, "Invalid API key: You must be granted a valid key."),
    404: (34, "The resource you requested could not be found."),
    429: (25, "Your request count (41) is over the allowed limit of (40)."),
    500: (11, "Internal error: Something went wrong, contact TMDB."),
    503: (9, "Service offline - This service is temporarily offline, try again later."),
    504: (24, "Your request to the backend server timed out. Try again."),
}


def tmdb_error(status: int) -> web.Response:
    code, message = _STATUS_BODIES.get(
        status, (5, "Invalid parameters: Your request parameters are incorrect.")
    )
    return web.json_response(
        {"success": False, "status_code": code, "status_message": message}, status=status
    )


EpisodeSpec = Mapping[str, Any] | str


@dataclass
class FakeShow:
    tmdb_id: int
    name: str
    original_name: str
    first_air_date: str  # "" when unknown, like TMDB
    status: str
    in_production: bool
    tvdb_id: int | None
    imdb_id: str | None
    poster_path: str | None
    popularity: float
    episode_run_time: list[int]
    # season number -> list of episode dicts (TMDB's episode shape)
    seasons: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A show as it appears in /find's tv_results and /search/tv's results."""
        return {
            "adult": False,
            "backdrop_path": None,
            "genre_ids": [],
            "id": self.tmdb_id,
            "origin_country": ["US"],
            "original_language": "en",
            "original_name": self.original_name,
            "overview": "",
            "popularity": self.popularity,
            "poster_path": self.poster_path,
            "first_air_date": self.first_air_date,
            "name": self.name,
            "vote_average": 0.0,
            "vote_count": 0,
            "media_type": "tv",
        }

    def details(self, external_ids: bool) -> dict[str, Any]:
        season_list = [
            {
                "air_date": (eps[0].get("air_date") if eps else None),
                "episode_count": len(eps),
                "id": self.tmdb_id * 1000 + number,
                "name": "Specials" if number == 0 else f"Season {number}",
                "overview": "",
                "poster_path": None,
                "season_number": number,
                "vote_average": 0.0,
            }
            for number, eps in sorted(self.seasons.items())
        ]
        body: dict[str, Any] = {
            "adult": False,
            "backdrop_path": None,
            "created_by": [],
            "episode_run_time": self.episode_run_time,
            "first_air_date": self.first_air_date,
            "genres": [],
            "homepage": "",
            "id": self.tmdb_id,
            "in_production": self.in_production,
            "languages": ["en"],
            "last_air_date": None,
            "name": self.name,
            "networks": [],
            "number_of_episodes": sum(len(e) for n, e in self.seasons.items() if n > 0),
            "number_of_seasons": sum(1 for n in self.seasons if n > 0),
            "origin_country": ["US"],
            "original_language": "en",
            "original_name": self.original_name,
            "overview": "",
            "popularity": self.popularity,
            "poster_path": self.poster_path,
            "seasons": season_list,
            "status": self.status,
            "tagline": "",
            "type": "Scripted",
            "vote_average": 0.0,
            "vote_count": 0,
        }
        if external_ids:
            body["external_ids"] = {
                "imdb_id": self.imdb_id,
                "freebase_mid": None,
                "freebase_id": None,
                "tvdb_id": self.tvdb_id,
                "tvrage_id": None,
                "wikidata_id": None,
                "facebook_id": None,
                "instagram_id": None,
                "twitter_id": None,
            }
        return body


class FakeTmdb(FakeServer):
    prefix = "/3"

    def __init__(
        self, *, api_key: str = DEFAULT_API_KEY, read_access_token: str = DEFAULT_READ_TOKEN
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.read_access_token = read_access_token
        self.shows: dict[int, FakeShow] = {}
        # What GET /configuration says about images (TMDB's own values).
        self.image_base_url = "https://image.tmdb.org/t/p/"

    def add_show(
        self,
        tmdb_id: int,
        name: str,
        *,
        year: int | None = None,
        first_air_date: str | None = None,
        seasons: Mapping[int, Sequence[EpisodeSpec] | int] | None = None,
        tvdb_id: int | None = None,
        imdb_id: str | None = None,
        original_name: str | None = None,
        status: str = "Ended",
        in_production: bool | None = None,
        poster_path: str | None = None,
        popularity: float = 10.0,
        episode_run_time: Sequence[int] = (30,),
    ) -> FakeShow:
        """Register a show. ``seasons`` maps a season number to its episodes: a count, or
        a list of names or of dicts with any of episode_number, name, air_date, runtime."""
        if first_air_date is None:
            first_air_date = f"{year:04d}-01-01" if year is not None else ""
        show = FakeShow(
            tmdb_id=tmdb_id,
            name=name,
            original_name=original_name or name,
            first_air_date=first_air_date,
            status=status,
            in_production=(
                in_production if in_production is not None else status == "Returning Series"
            ),
            tvdb_id=tvdb_id,
            imdb_id=imdb_id,
            poster_path=poster_path if poster_path is not None else f"/poster{tmdb_id}.jpg",
            popularity=popularity,
            episode_run_time=list(episode_run_time),
        )
        for number, spec in (seasons or {}).items():
            show.seasons[number] = self._episodes(show, number, spec)
        self.shows[tmdb_id] = show
        return show

    @staticmethod
    def _episodes(
        show: FakeShow, season_number: int, spec: Sequence[EpisodeSpec] | int
    ) -> list[dict[str, Any]]:
        items: Sequence[EpisodeSpec] = (
            [f"Episode {i}" for i in range(1, spec + 1)] if isinstance(spec, int) else spec
        )
        episodes = []
        for index, item in enumerate(items, start=1):
            given: Mapping[str, Any] = {"name": item} if isinstance(item, str) else item
            number = int(given.get("episode_number", index))
            episodes.append(
                {
                    "air_date": given.get("air_date"),
                    "episode_number": number,
                    "episode_type": "standard",
                    "id": show.tmdb_id * 100000 + season_number * 1000 + number,
                    "name": given.get("name", f"Episode {number}"),
                    "overview": "",
                    "production_code": "",
                    "runtime": given.get(
                        "runtime", show.episode_run_time[0] if show.episode_run_time else None
                    ),
                    "season_number": season_number,
                    "show_id": show.tmdb_id,
                    "still_path": None,
                    "vote_average": 0.0,
                    "vote_count": 0,
                    "crew": [],
                    "guest_stars": [],
                }
            )
        return episodes

    # -- HTTP -------------------------------------------------------------------------
    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/3/find/{external_id}", self._find)
        app.router.add_get("/3/tv/{tmdb_id:\\d+}", self._tv)
        app.router.add_get("/3/tv/{tmdb_id:\\d+}/season/{season:\\d+}", self._season)
        app.router.add_get("/3/search/tv", self._search)
        app.router.add_get("/3/configuration", self._configuration)

    def _error_response(self, status: int) -> web.Response:
        return tmdb_error(status)

    def _authorised(self, request: web.Request) -> bool:
        if request.query.get("api_key") == self.api_key:
            return True
        auth = request.headers.get("Authorization", "")
        return auth == f"Bearer {self.read_access_token}"

    async def _find(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return tmdb_error(401)
        external_id = request.match_info["external_id"]
        source = request.query.get("external_source")
        if source not in (
            "imdb_id",
            "tvdb_id",
            "freebase_mid",
            "freebase_id",
            "tvrage_id",
            "facebook_id",
            "instagram_id",
            "twitter_id",
            "wikidata_id",
        ):
            return tmdb_error(400)
        if source == "tvdb_id":
            hits = [s for s in self.shows.values() if str(s.tvdb_id) == external_id]
        elif source == "imdb_id":
            hits = [s for s in self.shows.values() if s.imdb_id == external_id]
        else:
            hits = []
        return web.json_response(
            {
                "movie_results": [],
                "person_results": [],
                "tv_results": [s.summary() for s in hits],
                "tv_episode_results": [],
                "tv_season_results": [],
            }
        )

    async def _tv(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return tmdb_error(401)
        show = self.shows.get(int(request.match_info["tmdb_id"]))
        if show is None:
            return tmdb_error(404)
        appended = request.query.get("append_to_response", "").split(",")
        return web.json_response(show.details(external_ids="external_ids" in appended))

    async def _season(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return tmdb_error(401)
        show = self.shows.get(int(request.match_info["tmdb_id"]))
        number = int(request.match_info["season"])
        if show is None or number not in show.seasons:
            return tmdb_error(404)
        episodes = show.seasons[number]
        return web.json_response(
            {
                "_id": f"{show.tmdb_id:024x}",
                "air_date": episodes[0].get("air_date") if episodes else None,
                "episodes": episodes,
                "name": "Specials" if number == 0 else f"Season {number}",
                "overview": "",
                "id": show.tmdb_id * 1000 + number,
                "poster_path": None,
                "season_number": number,
                "vote_average": 0.0,
            }
        )

    async def _configuration(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return tmdb_error(401)
        return web.json_response(
            {
                "change_keys": ["air_date", "episode", "images", "name", "season"],
                "images": {
                    "base_url": self.image_base_url.replace("https://", "http://"),
                    "secure_base_url": self.image_base_url,
                    "backdrop_sizes": ["w300", "w780", "w1280", "original"],
                    "logo_sizes": ["w45", "w92", "w154", "w185", "w300", "w500", "original"],
                    "poster_sizes": ["w92", "w154", "w185", "w342", "w500", "w780", "original"],
                    "profile_sizes": ["w45", "w185", "h632", "original"],
                    "still_sizes": ["w92", "w185", "w300", "original"],
                },
            }
        )

    async def _search(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return tmdb_error(401)
        query = request.query.get("query", "").strip().lower()
        year = request.query.get("first_air_date_year") or request.query.get("year")
        hits = []
        if query:
            for show in self.shows.values():
                if query not in show.name.lower() and query not in show.original_name.lower():
                    continue
                if year and not show.first_air_date.startswith(f"{int(year):04d}"):
                    continue
                hits.append(show)
        hits.sort(key=lambda s: s.popularity, reverse=True)
        return web.json_response(
            {
                "page": 1,
                "results": [s.summary() for s in hits[:20]],
                "total_pages": 1,
                "total_results": len(hits),
            }
        )
