"""Typed keys for what the aiohttp application carries."""

from __future__ import annotations

from aiohttp import web

from core.health import HealthState
from core.services.container import Services
from daemon.ratelimit import WebhookLimits

SERVICES = web.AppKey("services", Services)
HEALTH = web.AppKey("health", HealthState)
LIMITS = web.AppKey("limits", WebhookLimits)
