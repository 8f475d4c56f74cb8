"""Nothing a webhook says can grow the process without bound (issue 10, item 9): metric
labels take only known values, and caches keyed by payload text are bounded in bytes."""

from __future__ import annotations

import json
import resource

from prometheus_client import CollectorRegistry

from core.clients._cache import TtlCache, approx_size
from core.metrics import Metrics
from tests.harness import Daemon
from tests.plex_payloads import episode, event, multipart


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_40_made_up_2mb_event_names_grow_neither_metrics_nor_memory(
    daemon: Daemon,
) -> None:
    """Before: /metrics grew to 160 MB and RSS to 786 MB (one time series per name)."""
    _, secret = await daemon.connect()
    baseline = len((await daemon.http.get(daemon.base_url + "/metrics")).content)
    before = _rss_mb()
    for i in range(40):
        # Half are 2 MB (refused at the edge as invalid), half are made-up names short
        # enough to be accepted and logged as ignored: neither may become a label.
        name = f"media.{i}." + "x" * (2_000_000 if i % 2 else 80)
        body, ctype = multipart(json.dumps(event(name, episode())))
        answer = await daemon.http.post(
            daemon.base_url + "/api/plex/webhook",
            params={"secret": secret},
            content=body,
            headers={"Content-Type": ctype},
        )
        assert answer.status_code in (200, 400), answer.text[:200]
        del body
    scrape = await daemon.http.get(daemon.base_url + "/metrics")
    text = scrape.text
    assert len(scrape.content) - baseline < 10_000, len(scrape.content)
    assert "x" * 50 not in text

    def counted(label: str) -> float:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("plex_tracker_webhooks_total{") and f'event="{label}"' in line
        )

    assert counted("other") == 20
    assert counted("invalid") == 20
    grown = _rss_mb() - before
    assert grown < 150, f"max RSS grew by {grown:.0f} MB"


def test_labels_take_only_known_values() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.webhooks.labels(status="ignored", event="media.pause").inc()
    metrics.webhooks.labels(status="ignored", event="media.pause\u0000evil").inc()
    metrics.webhooks.labels(status="weird", event="media.scrobble").inc()
    value = metrics.registry.get_sample_value
    assert value("plex_tracker_webhooks_total", {"status": "ignored", "event": "media.pause"}) == 1
    assert value("plex_tracker_webhooks_total", {"status": "ignored", "event": "other"}) == 1
    assert value("plex_tracker_webhooks_total", {"status": "other", "event": "media.scrobble"}) == 1


def test_cache_is_bounded_in_bytes_and_skips_huge_entries() -> None:
    cache: TtlCache[str, str] = TtlCache(ttl=60, max_entries=10_000, max_bytes=1_000_000)
    cache.set("k" * 2_000_000, "v")  # one entry bigger than a sixty-fourth: not cached
    assert len(cache) == 0 and cache.size_bytes == 0
    for i in range(2000):
        cache.set(f"{i:05d}" + "t" * 10_000, "v")
    assert cache.size_bytes <= 1_000_000
    assert 50 < len(cache) < 2000
    cache.set("small", "v")
    assert cache.get("small") == "v"
    cache.discard_where(lambda _k: True)
    assert cache.size_bytes == 0
    assert approx_size({"a": ["é" * 10, b"xx"]}) > approx_size({"a": ["e" * 10]})
