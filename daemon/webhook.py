"""POST /api/plex/webhook: secret, rate limits, size and time limits, read the payload,
persist, answer."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs

from aiohttp import web

from core.crypto import sha256_hex
from core.errors import InvalidInputError
from core.services.container import Services
from core.services.intake import Accepted
from daemon.clientaddr import bucket_key, client_address
from daemon.keys import LIMITS, SERVICES
from daemon.multipart import BodyTooLarge, boundary_of, read_form_field
from daemon.ratelimit import retry_after_header

log = logging.getLogger(__name__)

CHUNK = 64 * 1024


class UnsupportedType(Exception):
    pass


async def _read_body(request: web.Request, limit: int) -> bytes:
    data = bytearray()
    while chunk := await request.content.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise BodyTooLarge
    return bytes(data)


async def read_payload(request: web.Request, limit: int) -> bytes:
    """The payload JSON text from any body Plex or a relay sends. The `thumb` JPEG is read
    through and dropped, never kept. InvalidInputError explains a body we can't use."""
    ctype = request.content_type
    if ctype == "multipart/form-data":
        boundary = boundary_of(request.headers.get("Content-Type", ""))
        payload = await read_form_field(
            lambda: request.content.read(CHUNK), boundary, "payload", limit=limit
        )
        if payload is None:
            raise InvalidInputError("multipart body has no 'payload' part")
        return payload
    if ctype == "application/json":
        return await _read_body(request, limit)
    if ctype == "application/x-www-form-urlencoded":
        body = await _read_body(request, limit)
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=100)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInputError(f"malformed form body: {exc}") from None
        if "payload" not in fields:
            raise InvalidInputError("form body has no 'payload' field")
        return fields["payload"][0].encode("utf-8")
    raise UnsupportedType(ctype or "none")


def _refuse(
    services: Services, reason: str, status: int, error: str, **headers: str
) -> web.Response:
    services.metrics.webhooks_rejected.labels(reason=reason).inc()
    return web.json_response({"error": error}, status=status, headers=headers or None)


def _failed_row(result: Accepted) -> web.Response:
    """A body stored as a failed log row: why, and the row's id."""
    return web.json_response(
        {"error": result.message, "id": result.log_id}, status=result.http_status
    )


async def plex_webhook(request: web.Request) -> web.Response:
    services: Services = request.app[SERVICES]
    settings = services.settings
    if services.pool.is_closing():
        # The last moments of a shutdown: nowhere to persist to. Until then (draining
        # included) webhooks are stored as usual; the next start processes them.
        return _refuse(services, "shutting_down", 503, "shutting down")
    limits = request.app[LIMITS]
    address = bucket_key(
        client_address(
            request.remote,
            request.headers.getall("X-Forwarded-For", ()),
            settings.trusted_networks,
        )
    )
    secret = request.query.get("secret", "")
    secret_hash = sha256_hex(secret)
    # A secret known to be valid (in memory) always gets further; any other spends the
    # address's failure budget, and past it is refused without asking the database.
    known = await limits.known_secrets.contains(secret_hash)
    if not known:
        if limits.failing(address):
            wait = retry_after_header(limits.failure_wait(address))
            return _refuse(
                services,
                "too_many_failures",
                429,
                "too many failed attempts",
                **{"Retry-After": wait},
            )
        # Spent before the lookup awaits: guesses sent together must not all pass one check.
        limits.failed(address)
    # Missing and wrong secrets take the same path (a hash lookup), so they answer alike.
    owner = await services.accounts.owner_of_secret(secret)
    if owner is None:
        if known:  # rotated away since the list of valid secrets was read
            limits.failed(address)
        return _refuse(services, "unauthorized", 401, "unauthorized")
    wait_for = limits.senders.check(secret_hash)
    if wait_for is not None:
        return _refuse(
            services,
            "rate_limited",
            429,
            "rate limited",
            **{"Retry-After": retry_after_header(wait_for)},
        )
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _refuse(services, "too_large", 413, f"body over {limit} bytes")
    intake = services.intake
    try:
        async with asyncio.timeout(settings.http_body_timeout):
            payload = await read_payload(request, limit)
    except BodyTooLarge:
        return _refuse(services, "too_large", 413, f"body over {limit} bytes")
    except TimeoutError:
        # A body trickled in too slowly: nothing usable arrived, so there's nothing to keep.
        log.info(
            "webhook user=%d: body not received within %ss",
            owner.user_id,
            settings.http_body_timeout,
        )
        answer = _refuse(
            services,
            "read_timeout",
            408,
            f"body not received within {settings.http_body_timeout:g} s",
        )
        answer.force_close()
        return answer
    except UnsupportedType as exc:
        result = await intake.reject(
            owner.user_id,
            f"unsupported content type {exc}: send multipart/form-data",
            http_status=415,
        )
        return _failed_row(result)
    except InvalidInputError as exc:
        return _failed_row(await intake.reject(owner.user_id, str(exc)))
    result = await intake.accept(owner.user_id, owner.config, payload)
    if result.http_status != 200:
        return _failed_row(result)
    return web.json_response(
        {"status": result.status, "id": result.log_id, "detail": result.message}
    )
