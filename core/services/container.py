"""The services every edge (CLI, HTTP, Discord, jobs) calls, gathered in one place."""

from __future__ import annotations

from dataclasses import dataclass

from core.clients.plex_server import PlexServerClient
from core.clients.plextv import PlexTvClient
from core.clients.tmdb import TmdbClient
from core.crypto import Cipher
from core.db.pool import Pool
from core.history.follow_up import MultiEpisodeFollowUp
from core.history.service import HistorySync
from core.metrics import Metrics
from core.services.accounts import AccountService
from core.services.api_tokens import ApiTokenService
from core.services.conflicts import ConflictService
from core.services.intake import WebhookIntake
from core.services.jobs import JobService
from core.services.library import LibraryService
from core.services.mappings import MappingService
from core.services.matching import Matcher
from core.services.plex_servers import ServerLocator
from core.services.processor import WebhookProcessor
from core.services.shows import ShowCatalog
from core.services.worker import QueueWorker
from core.settings import Settings
from core.tracker.service import TrackerService


@dataclass(frozen=True)
class Services:
    settings: Settings
    pool: Pool
    metrics: Metrics
    cipher: Cipher
    tmdb: TmdbClient
    plex_server: PlexServerClient
    plextv: PlexTvClient
    servers: ServerLocator  # a user's Plex server: an address that answers, and its problem
    accounts: AccountService
    library: LibraryService
    catalog: ShowCatalog
    matcher: Matcher
    conflicts: ConflictService
    mappings: MappingService
    intake: WebhookIntake
    processor: WebhookProcessor
    worker: QueueWorker
    jobs: JobService
    api_tokens: ApiTokenService
    history: HistorySync
    multi_episode: MultiEpisodeFollowUp
    tracker: TrackerService
    migrations_applied: tuple[str, ...] = ()  # by this start (`migrate` reports them)
