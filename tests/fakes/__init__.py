"""Local fakes of the outside services, speaking their real HTTP protocol on 127.0.0.1.

Point the production clients' base URLs at ``fake.base_url``. Each fake has
``async start()``/``close()`` (or ``async with``), a request log (``requests``,
``requests_to(path)``), ``fail_next(n, status)``, ``rate_limit_next(n, retry_after)`` and
``delay``. Pytest fixtures live in ``tests.fakes.fixtures``.
"""

from tests.fakes._base import FakeServer, RecordedRequest, closed_port_url
from tests.fakes.plex_server import FakePlexItem, FakePlexServer
from tests.fakes.plextv import FakePlexAccount, FakePlexTv
from tests.fakes.tmdb import FakeShow, FakeTmdb

__all__ = [
    "FakePlexAccount",
    "FakePlexItem",
    "FakePlexServer",
    "FakePlexTv",
    "FakeServer",
    "FakeShow",
    "FakeTmdb",
    "RecordedRequest",
    "closed_port_url",
]
