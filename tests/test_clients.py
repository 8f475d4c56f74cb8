"""The real outbound clients against the local fakes, over loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import httpx
import pytest
import pytest_asyncio

from core.clients import (
    NotFound,
    PlexServerClient,
    PlexTvClient,
    RateLimited,
    TmdbClient,
    Unauthorized,
    UpstreamError,
)
from core.clients._cache import TtlCache
from core.clients.logsafe import RedactSecretsFilter, redact
from core.metrics import Metrics
from tests.fakes import FakePlexServer, FakePlexTv, FakeTmdb, closed_port_url

# --- fixtures ---------------------------------------------------------------------------


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest_asyncio.fixture
async def tmdb_fake() -> AsyncIterator[FakeTmdb]:
    async with FakeTmdb() as fake:
        fake.add_show(
            2316,
            "The Office",
            first_air_date="2005-03-24",
            tvdb_id=73244,
            imdb_id="tt0386676",
            original_name="The Office",
            status="Ended",
            popularity=120.0,
            seasons={
                1: [
                    {"name": "Pilot", "air_date": "2005-03-24", "runtime": 23},
                    {"name": "Diversity Day", "air_date": "2005-03-29", "runtime": 22},
                ],
                2: 3,
            },
        )
        fake.add_show(2996, "The Office", year=2001, tvdb_id=78107, popularity=40.0)
        yield fake


@pytest_asyncio.fixture
async def plex_fake() -> AsyncIterator[FakePlexServer]:
    async with FakePlexServer() as fake:
        fake.add_show(
            "1234",
            "The Office (US)",
            2005,
            guids=["imdb://tt0386676", "tmdb://2316", "tvdb://73244"],
            guid="plex://show/5d9c086c46115600200aa2fe",
        )
        yield fake


@pytest_asyncio.fixture
async def plextv_fake() -> AsyncIterator[FakePlexTv]:
    async with FakePlexTv() as fake:
        yield fake


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


class SleepRecorder:
    """Stands in for asyncio.sleep: records the waits, does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


TmdbFactory = Callable[..., TmdbClient]


@pytest.fixture
def make_tmdb(
    http: httpx.AsyncClient, tmdb_fake: FakeTmdb, metrics: Metrics, sleeps: SleepRecorder
) -> TmdbFactory:
    def make(**overrides: Any) -> TmdbClient:
        kwargs: dict[str, Any] = {
            "http": http,
            "base_url": tmdb_fake.base_url,
            "api_key": tmdb_fake.api_key,
            "metrics": metrics,
            "max_retries": 3,
            "backoff_base": 0.01,
            "sleep": sleeps,
        }
        kwargs.update(overrides)
        return TmdbClient(**kwargs)

    return make


def outcome(metrics: Metrics, service: str, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "plex_tracker_outbound_calls_total", {"service": service, "outcome": result}
    )
    return value or 0.0


def assert_secret_free(exc: BaseException, *secrets: str) -> None:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for secret in secrets:
        for text in texts:
            assert secret not in text


# --- TMDB -------------------------------------------------------------------------------


async def test_tmdb_tv_details_with_v3_key(make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb) -> None:
    show = await make_tmdb().tv(2316)

    assert show.id == 2316
    assert show.name == "The Office"
    assert show.first_air_date == date(2005, 3, 24)
    assert show.year == 2005
    assert show.status == "Ended"
    assert show.in_production is False
    assert show.tvdb_id == 73244
    assert show.imdb_id == "tt0386676"
    assert show.number_of_seasons == 2
    assert [(s.season_number, s.episode_count) for s in show.seasons] == [(1, 2), (2, 3)]
    assert show.episode_run_time == (30,)
    (request,) = tmdb_fake.requests_to("/tv/2316")
    assert request.query["api_key"] == tmdb_fake.api_key
    assert request.query["append_to_response"] == "external_ids"
    assert request.header("Authorization") is None


async def test_tmdb_v4_token_goes_in_bearer_header(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb
) -> None:
    client = make_tmdb(api_key=tmdb_fake.read_access_token)

    show = await client.tv(2316)

    assert show.id == 2316
    (request,) = tmdb_fake.requests
    assert request.header("Authorization") == f"Bearer {tmdb_fake.read_access_token}"
    assert "api_key" not in request.query
    assert tmdb_fake.read_access_token not in repr(client)


async def test_tmdb_find_by_tvdb_and_imdb(make_tmdb: TmdbFactory) -> None:
    client = make_tmdb()

    by_tvdb = await client.find_by_external_id("73244", "tvdb_id")
    by_imdb = await client.find_by_external_id("tt0386676", "imdb_id")
    nothing = await client.find_by_external_id("1", "tvdb_id")

    assert [s.id for s in by_tvdb] == [2316]
    assert by_tvdb == by_imdb
    assert by_tvdb[0].year == 2005
    assert by_tvdb[0].poster_path == "/poster2316.jpg"
    assert nothing == []


async def test_tmdb_season_episodes(make_tmdb: TmdbFactory) -> None:
    season = await make_tmdb().season(2316, 1)

    assert season.show_id == 2316
    assert season.season_number == 1
    assert [(e.episode_number, e.name, e.runtime) for e in season.episodes] == [
        (1, "Pilot", 23),
        (2, "Diversity Day", 22),
    ]
    assert season.episodes[0].air_date == date(2005, 3, 24)


async def test_tmdb_search_with_and_without_year(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb
) -> None:
    client = make_tmdb()

    both = await client.search_tv("office")
    uk = await client.search_tv("the office", year=2001)

    assert [s.id for s in both] == [2316, 2996]
    assert [s.id for s in uk] == [2996]
    assert uk[0].popularity == 40.0
    assert tmdb_fake.requests[-1].query["first_air_date_year"] == "2001"


async def test_tmdb_bad_key_is_unauthorized_and_secret_free(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb, metrics: Metrics
) -> None:
    bad_key = "not-the-right-key-f00dfeed"
    with pytest.raises(Unauthorized) as caught:
        await make_tmdb(api_key=bad_key).tv(2316)

    assert caught.value.retryable is False
    assert caught.value.service == "tmdb"
    assert caught.value.status == 401
    assert len(tmdb_fake.requests) == 1  # not retried
    assert_secret_free(caught.value, bad_key)
    assert outcome(metrics, "tmdb", "unauthorized") == 1


async def test_tmdb_unknown_show_is_not_found(make_tmdb: TmdbFactory, metrics: Metrics) -> None:
    with pytest.raises(NotFound) as caught:
        await make_tmdb().tv(999999)
    with pytest.raises(NotFound):
        await make_tmdb().season(2316, 7)

    assert caught.value.retryable is False
    assert outcome(metrics, "tmdb", "not_found") == 2


async def test_tmdb_missing_key_fails_without_calling(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb
) -> None:
    client = make_tmdb(api_key=None)

    with pytest.raises(UpstreamError, match="TMDB_API_KEY is not set") as caught:
        await client.search_tv("office")

    assert caught.value.retryable is False
    assert client.configured is False
    assert tmdb_fake.requests == []


async def test_tmdb_429_honours_retry_after_then_succeeds(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    tmdb_fake.rate_limit_next(2, retry_after=1)

    show = await make_tmdb().tv(2316)

    assert show.id == 2316
    assert sleeps.waits == [1.0, 1.0]
    assert len(tmdb_fake.requests) == 3
    assert outcome(metrics, "tmdb", "rate_limited") == 2
    assert outcome(metrics, "tmdb", "ok") == 1


async def test_tmdb_429_real_wait_is_honoured(
    http: httpx.AsyncClient, tmdb_fake: FakeTmdb, metrics: Metrics
) -> None:
    # With the real asyncio.sleep: a short Retry-After is actually waited out.
    tmdb_fake.rate_limit_next(1, retry_after=0.2)
    client = TmdbClient(
        http=http, base_url=tmdb_fake.base_url, api_key=tmdb_fake.api_key, metrics=metrics
    )
    loop = asyncio.get_running_loop()
    started = loop.time()

    await client.tv(2316)

    assert loop.time() - started >= 0.19


async def test_tmdb_429_beyond_cap_raises_rate_limited_at_once(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb, sleeps: SleepRecorder
) -> None:
    tmdb_fake.rate_limit_next(1, retry_after=120)

    with pytest.raises(RateLimited) as caught:
        await make_tmdb(max_retry_after=10).tv(2316)

    assert caught.value.retryable is True
    assert caught.value.retry_after == 120
    assert sleeps.waits == []
    assert len(tmdb_fake.requests) == 1


async def test_tmdb_429_exhausted_raises_rate_limited(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb
) -> None:
    tmdb_fake.rate_limit_next(10, retry_after=1)

    with pytest.raises(RateLimited):
        await make_tmdb(max_retries=2).tv(2316)

    assert len(tmdb_fake.requests) == 3


async def test_tmdb_5xx_retried_then_succeeds(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    tmdb_fake.fail_next(2, status=503)

    results = await make_tmdb().search_tv("office")

    assert len(results) == 2
    assert len(tmdb_fake.requests) == 3
    assert len(sleeps.waits) == 2
    # exponential with jitter: attempt n waits within [base*2^n/2, base*2^n]
    assert 0.005 <= sleeps.waits[0] <= 0.01
    assert 0.01 <= sleeps.waits[1] <= 0.02
    assert outcome(metrics, "tmdb", "error") == 2
    assert outcome(metrics, "tmdb", "ok") == 1


async def test_tmdb_5xx_exhausted_is_retryable(make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb) -> None:
    tmdb_fake.fail_next(10, status=502)

    with pytest.raises(UpstreamError) as caught:
        await make_tmdb(max_retries=3).tv(2316)

    assert caught.value.retryable is True
    assert caught.value.status == 502
    assert len(tmdb_fake.requests) == 4
    assert_secret_free(caught.value, tmdb_fake.api_key)


async def test_tmdb_unreachable_is_retryable_and_secret_free(
    http: httpx.AsyncClient, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    key = "v3-key-that-must-not-leak-1234"
    client = TmdbClient(
        http=http,
        base_url=closed_port_url() + "/3",
        api_key=key,
        metrics=metrics,
        max_retries=2,
        sleep=sleeps,
    )

    with pytest.raises(UpstreamError) as caught:
        await client.find_by_external_id("73244", "tvdb_id")

    assert caught.value.retryable is True
    assert caught.value.__cause__ is None
    assert len(sleeps.waits) == 2
    assert_secret_free(caught.value, key)
    assert outcome(metrics, "tmdb", "error") == 3


async def test_tmdb_timeout_is_retryable(make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb) -> None:
    tmdb_fake.delay = 0.5

    with pytest.raises(UpstreamError, match="timed out") as caught:
        await make_tmdb(timeout=0.05, max_retries=1).tv(2316)

    assert caught.value.retryable is True
    assert len(tmdb_fake.requests) == 2


async def test_tmdb_caches_successful_gets(make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb) -> None:
    client = make_tmdb()

    first = await client.tv(2316)
    second = await client.tv(2316)
    await client.season(2316, 1)
    await client.season(2316, 1)
    await client.search_tv("office", year=2005)
    await client.search_tv("office", year=2001)

    assert first == second
    assert len(tmdb_fake.requests_to("/tv/2316")) == 1
    assert len(tmdb_fake.requests_to("/tv/2316/season/1")) == 1
    assert len(tmdb_fake.requests_to("/search/tv")) == 2  # different parameters


async def test_tmdb_errors_are_not_cached(make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb) -> None:
    client = make_tmdb(max_retries=0)
    tmdb_fake.fail_next(1, status=500)

    with pytest.raises(UpstreamError):
        await client.tv(2316)
    assert (await client.tv(2316)).id == 2316
    assert len(tmdb_fake.requests) == 2


async def test_tmdb_cache_can_be_disabled(make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb) -> None:
    client = make_tmdb(cache_ttl=0)

    await client.tv(2316)
    await client.tv(2316)

    assert len(tmdb_fake.requests) == 2


async def test_tmdb_concurrent_identical_calls_make_one_request(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb
) -> None:
    client = make_tmdb()
    tmdb_fake.delay = 0.05

    shows = await asyncio.gather(*(client.tv(2316) for _ in range(5)))

    assert {s.id for s in shows} == {2316}
    assert len(tmdb_fake.requests) == 1


async def test_tmdb_key_never_logged(
    make_tmdb: TmdbFactory, tmdb_fake: FakeTmdb, caplog: pytest.LogCaptureFixture
) -> None:
    tmdb_fake.fail_next(1, status=503)
    caplog.set_level(logging.DEBUG, logger="core")

    await make_tmdb().tv(2316)

    assert "retrying" in caplog.text
    assert tmdb_fake.api_key not in caplog.text


def test_redact_filter_hides_keys_in_httpx_style_lines() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s %d %s"',
        ("GET", "https://api.themoviedb.org/3/tv/1?api_key=s3cr3t&x=1", "HTTP/1.1", 200, "OK"),
        None,
    )

    assert RedactSecretsFilter().filter(record) is True
    assert "s3cr3t" not in record.getMessage()
    assert "api_key=***&x=1" in record.getMessage()
    assert redact("Authorization: Bearer eyJabc.def.ghi") == "Authorization: Bearer ***"
    assert redact("/library?X-Plex-Token=abc") == "/library?X-Plex-Token=***"


def test_ttl_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    cache: TtlCache[str, int] = TtlCache(ttl=10, max_entries=2, clock=lambda: now[0])
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.set("c", 3)  # evicts "b"
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    now[0] = 10.0
    assert cache.get("a") is None
    assert len(cache) == 1


# --- Plex Media Server ------------------------------------------------------------------


def make_plex(
    http: httpx.AsyncClient, metrics: Metrics, sleeps: SleepRecorder, **kw: Any
) -> PlexServerClient:
    return PlexServerClient(http=http, metrics=metrics, sleep=sleeps, backoff_base=0.01, **kw)


async def test_plex_show_metadata_reads_show_guids(
    http: httpx.AsyncClient, plex_fake: FakePlexServer, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    client = make_plex(http, metrics, sleeps)

    meta = await client.show_metadata(
        user_id=1, server_url=plex_fake.base_url, token=plex_fake.token, rating_key="1234"
    )
    guids = await client.show_guids(
        user_id=1, server_url=plex_fake.base_url, token=plex_fake.token, rating_key="1234"
    )

    assert meta.rating_key == "1234"
    assert meta.guid == "plex://show/5d9c086c46115600200aa2fe"
    assert meta.title == "The Office (US)"
    assert meta.year == 2005
    assert meta.type == "show"
    assert meta.guids == ("imdb://tt0386676", "tmdb://2316", "tvdb://73244")
    assert guids == list(meta.guids)
    (request,) = plex_fake.requests  # second call came from the cache
    assert request.path == "/library/metadata/1234"
    assert request.header("X-Plex-Token") == plex_fake.token
    assert request.header("Accept") == "application/json"
    assert "X-Plex-Token" not in request.query
    assert outcome(metrics, "plex_server", "ok") == 1


async def test_plex_cache_is_per_user(
    http: httpx.AsyncClient, plex_fake: FakePlexServer, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    client = make_plex(http, metrics, sleeps)
    args = {"server_url": plex_fake.base_url, "token": plex_fake.token, "rating_key": "1234"}

    await client.show_metadata(user_id=1, **args)
    await client.show_metadata(user_id=1, **args)
    await client.show_metadata(user_id=2, **args)
    client.forget_user(1)
    await client.show_metadata(user_id=1, **args)

    assert len(plex_fake.requests) == 3


async def test_plex_bad_token_is_unauthorized_and_secret_free(
    http: httpx.AsyncClient, plex_fake: FakePlexServer, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    token = "wrong-plex-token-zzz"
    with pytest.raises(Unauthorized) as caught:
        await make_plex(http, metrics, sleeps).show_metadata(
            user_id=1, server_url=plex_fake.base_url, token=token, rating_key="1234"
        )

    assert caught.value.retryable is False
    assert caught.value.service == "plex_server"
    assert_secret_free(caught.value, token)


async def test_plex_unknown_item_is_not_found(
    http: httpx.AsyncClient, plex_fake: FakePlexServer, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    with pytest.raises(NotFound):
        await make_plex(http, metrics, sleeps).show_metadata(
            user_id=1, server_url=plex_fake.base_url, token=plex_fake.token, rating_key="999"
        )
    assert outcome(metrics, "plex_server", "not_found") == 1


async def test_plex_unreachable_server_is_retryable_and_secret_free(
    http: httpx.AsyncClient, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    token = "plex-token-that-must-not-leak"
    # A pasted URL carrying the token must not leak it either.
    url = closed_port_url() + f"/?X-Plex-Token={token}"

    with pytest.raises(UpstreamError) as caught:
        await make_plex(http, metrics, sleeps).show_metadata(
            user_id=1, server_url=url, token=token, rating_key="1234"
        )

    assert caught.value.retryable is True
    assert_secret_free(caught.value, token)


async def test_plex_server_down_503_is_retryable_then_recovers(
    http: httpx.AsyncClient, plex_fake: FakePlexServer, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    client = make_plex(http, metrics, sleeps, max_retries=1)
    args = {"server_url": plex_fake.base_url, "token": plex_fake.token, "rating_key": "1234"}
    plex_fake.down = True

    with pytest.raises(UpstreamError) as caught:
        await client.show_metadata(user_id=1, **args)
    assert caught.value.retryable is True
    assert caught.value.status == 503
    assert len(plex_fake.requests) == 2

    plex_fake.down = False
    assert (await client.show_metadata(user_id=1, **args)).title == "The Office (US)"


async def test_plex_closed_fake_is_unreachable(
    http: httpx.AsyncClient, metrics: Metrics, sleeps: SleepRecorder
) -> None:
    fake = FakePlexServer()
    await fake.start()
    url = fake.base_url
    await fake.close()

    with pytest.raises(UpstreamError) as caught:
        await make_plex(http, metrics, sleeps, max_retries=0).show_metadata(
            user_id=1, server_url=url, token=fake.token, rating_key="1"
        )
    assert caught.value.retryable is True


async def test_fake_plex_answers_xml_without_json_accept(
    http: httpx.AsyncClient, plex_fake: FakePlexServer
) -> None:
    response = await http.get(
        f"{plex_fake.base_url}/library/metadata/1234",
        headers={"X-Plex-Token": plex_fake.token},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert '<Directory ratingKey="1234"' in response.text
    assert '<Guid id="tmdb://2316" />' in response.text


async def test_plex_server_identity_probe_sends_no_token_and_gives_up_fast(
    http: httpx.AsyncClient, plex_fake: FakePlexServer, metrics: Metrics
) -> None:
    client = PlexServerClient(http=http, metrics=metrics, probe_timeout=0.3)
    assert await client.identity(plex_fake.base_url + "/?X-Plex-Token=pasted") == (
        plex_fake.machine_identifier
    )
    [probe] = plex_fake.requests_to("/identity")
    assert probe.header("X-Plex-Token") is None and probe.query == {}
    with pytest.raises(UpstreamError) as caught:
        await client.identity(closed_port_url())
    assert caught.value.retryable and caught.value.status is None  # no answer at all
    plex_fake.delay = 1.0  # answers, but later than a probe waits (an unroutable address)
    started = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamError, match="timed out"):
        await client.identity(plex_fake.base_url)
    assert asyncio.get_running_loop().time() - started < 0.9, "one short try, no retry"


# --- plex.tv ----------------------------------------------------------------------------


async def test_plextv_account_and_resources(
    http: httpx.AsyncClient, plextv_fake: FakePlexTv, metrics: Metrics
) -> None:
    plextv_fake.add_account("owner-token", id=42, username="alice", email="alice@example.com")
    plextv_fake.add_server(
        "owner-token",
        name="Living Room",
        client_identifier="abc123server",
        connections=[
            {
                "protocol": "https",
                "address": "relay",
                "port": 8443,
                "uri": "https://relay.plex.direct:8443",
                "local": False,
                "relay": True,
            },
            {
                "protocol": "https",
                "address": "203.0.113.7",
                "port": 32400,
                "uri": "https://203-0-113-7.abc.plex.direct:32400",
                "local": False,
                "relay": False,
            },
            {
                "protocol": "http",
                "address": "192.168.1.10",
                "port": 32400,
                "uri": "http://192.168.1.10:32400",
                "local": True,
                "relay": False,
            },
        ],
    )
    plextv_fake.add_server(
        "owner-token", name="Phone", client_identifier="phone1", provides="client,player"
    )
    client = PlexTvClient(http=http, base_url=plextv_fake.base_url, metrics=metrics)

    account = await client.account("owner-token")
    resources = await client.resources("owner-token")
    server = await client.find_server("owner-token", "abc123server")
    missing = await client.find_server("owner-token", "phone1")  # not a server

    assert (account.id, account.username, account.title) == (42, "alice", "alice")
    assert account.email == "alice@example.com"
    assert [r.client_identifier for r in resources] == ["abc123server", "phone1"]
    assert server is not None and missing is None
    assert server.owned is True
    assert server.provides == ("server",)
    assert server.access_token == "owner-token"
    assert "owner-token" not in repr(server)
    assert server.preferred_uris() == (
        "http://192.168.1.10:32400",
        "https://203-0-113-7.abc.plex.direct:32400",
        "https://relay.plex.direct:8443",
    )
    user_request = plextv_fake.requests_to("/api/v2/user")[0]
    assert user_request.header("X-Plex-Token") == "owner-token"
    assert user_request.header("X-Plex-Product") == "plex-tracker"
    assert user_request.header("X-Plex-Client-Identifier")
    resources_request = plextv_fake.requests_to("/api/v2/resources")[0]
    assert resources_request.query == {"includeHttps": "1", "includeRelay": "1"}


async def test_plextv_bad_token_is_unauthorized(
    http: httpx.AsyncClient, plextv_fake: FakePlexTv, metrics: Metrics
) -> None:
    client = PlexTvClient(http=http, base_url=plextv_fake.base_url, metrics=metrics)

    token = "bogus-token-xyz"

    with pytest.raises(Unauthorized) as caught:
        await client.account(token)

    assert caught.value.service == "plextv"
    assert_secret_free(caught.value, token)
    assert outcome(metrics, "plextv", "unauthorized") == 1


async def test_fake_plextv_requires_client_identifier(
    http: httpx.AsyncClient, plextv_fake: FakePlexTv
) -> None:
    plextv_fake.add_account("t")
    response = await http.get(
        f"{plextv_fake.base_url}/api/v2/user",
        headers={"X-Plex-Token": "t", "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 1000
