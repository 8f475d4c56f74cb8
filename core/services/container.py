"""The services every edge (CLI, HTTP, Discord, jobs) calls, gathered in one place."""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto import Cipher
from core.db.pool import Pool
from core.metrics import Metrics
from core.services.accounts import AccountService
from core.services.library import LibraryService
from core.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    pool: Pool
    metrics: Metrics
    cipher: Cipher
    accounts: AccountService
    library: LibraryService
