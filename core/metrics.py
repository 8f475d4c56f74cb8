"""Prometheus metrics, one registry per process, built by the composition root and passed down."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Label values must come from a fixed set: each distinct value is a time series kept for
# the life of the process and printed on every scrape. `event` comes from the payload, so
# anything not listed here is counted as "other" (a 2 MB made-up event name included).
PLEX_EVENTS = frozenset(
    {
        "media.play",
        "media.pause",
        "media.resume",
        "media.stop",
        "media.scrobble",
        "media.rate",
        "library.new",
        "library.on.deck",
        "admin.database.backup",
        "admin.database.corrupted",
        "device.new",
        "playback.started",
        "invalid",  # the body could not be read at all
        "?",  # no event in the payload
    }
)
WEBHOOK_STATUSES = frozenset({"pending", "success", "failed", "ignored", "duplicate"})
OTHER = "other"


class BoundedCounter:
    """A labelled Counter whose listed labels take only known values (else "other")."""

    def __init__(self, counter: Counter, allowed: Mapping[str, frozenset[str]]) -> None:
        self._counter = counter
        self._allowed = allowed

    def labels(self, **values: object) -> Counter:
        bounded = {
            name: text if name not in self._allowed or text in self._allowed[name] else OTHER
            for name, text in ((n, str(v)) for n, v in values.items())
        }
        return self._counter.labels(**bounded)


class Metrics:
    """All counters in one place so every edge and service records into the same registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.webhooks = BoundedCounter(
            Counter(
                "plex_tracker_webhooks_total",
                "Webhooks processed, by final status and Plex event (unknown events: other)",
                ["status", "event"],
                registry=r,
            ),
            {"status": WEBHOOK_STATUSES, "event": PLEX_EVENTS},
        )
        self.webhooks_rejected = Counter(
            "plex_tracker_webhooks_rejected_total",
            "Webhooks refused at the edge, by reason (Plex does not retry these)",
            ["reason"],
            registry=r,
        )
        self.processing_seconds = Histogram(
            "plex_tracker_webhook_processing_seconds",
            "Time from a webhook's arrival to its final status",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.matches = Counter(
            "plex_tracker_matches_total", "Show matches, by method", ["method"], registry=r
        )
        self.outbound_calls = Counter(
            "plex_tracker_outbound_calls_total",
            "Calls to TMDB, the Plex server and plex.tv, by outcome",
            ["service", "outcome"],
            registry=r,
        )
        self.job_runs = Counter(
            "plex_tracker_job_runs_total",
            "Scheduled job runs, by outcome",
            ["job", "outcome"],
            registry=r,
        )
        self.held_requeued = Counter(
            "plex_tracker_held_requeued_total",
            "Scrobbles and history episodes the retry job found held behind an already "
            "resolved conflict and applied (a safety net; stays 0 unless TMDB was down when "
            "a conflict was resolved)",
            registry=r,
        )
        self.queue_depth = Gauge(
            "plex_tracker_queue_depth", "Webhook rows still pending", registry=r
        )
        self.conflicts_open = Gauge(
            "plex_tracker_conflicts_open", "Open conflicts awaiting a decision", registry=r
        )
