"""POST /api/plex/webhook: rate limit, secret, size limit, read the payload, persist, answer."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from aiohttp import BodyPartReader, web

from core.errors import InvalidInputError
from core.services.container import Services
from daemon.keys import HEALTH, LIMITER, SERVICES
from daemon.ratelimit import retry_after_header

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_UNAUTHORIZED = {"error": "unauthorized"}


class TooLarge(Exception):
    pass


def _client_ip(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return str(peer[0]) if peer else "unknown"


async def _read_body(request: web.Request, limit: int) -> bytes:
    data = bytearray()
    while chunk := await request.content.read(CHUNK):
        data += chunk
        if len(data) > limit:
            raise TooLarge
    return bytes(data)


async def _read_part(
    part: BodyPartReader, limit: int, used: int, *, keep: bool
) -> tuple[bytes, int]:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        used += len(chunk)
        if used > limit:
            raise TooLarge
        if keep:
            data += chunk
    return bytes(data), used


async def read_payload(request: web.Request, limit: int) -> bytes:
    """The payload JSON text from any body Plex or a relay sends. The `thumb` JPEG is read
    through and dropped, never kept. InvalidInputError explains a body we can't use."""
    ctype = request.content_type
    if ctype == "multipart/form-data":
        payload: bytes | None = None
        used = 0
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise InvalidInputError("nested multipart bodies are not supported")
                wanted = part.name == "payload" and payload is None
                data, used = await _read_part(part, limit, used, keep=wanted)
                if wanted:
                    payload = data
        except (ValueError, AssertionError, RuntimeError, UnicodeDecodeError) as exc:
            # aiohttp's multipart reader reports a malformed or truncated body this way.
            raise InvalidInputError(f"malformed multipart body: {exc}") from None
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


class UnsupportedType(Exception):
    pass


async def plex_webhook(request: web.Request) -> web.Response:
    services: Services = request.app[SERVICES]
    metrics = services.metrics
    if request.app[HEALTH].draining:
        metrics.webhooks_rejected.labels(reason="shutting_down").inc()
        return web.json_response({"error": "shutting down"}, status=503)
    wait = request.app[LIMITER].check(_client_ip(request))
    if wait is not None:
        metrics.webhooks_rejected.labels(reason="rate_limited").inc()
        return web.json_response(
            {"error": "rate limited"}, status=429, headers={"Retry-After": retry_after_header(wait)}
        )
    # Missing and wrong secrets take the same path (a hash lookup), so they answer alike.
    owner = await services.accounts.owner_of_secret(request.query.get("secret", ""))
    if owner is None:
        metrics.webhooks_rejected.labels(reason="unauthorized").inc()
        return web.json_response(_UNAUTHORIZED, status=401)
    limit = services.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        metrics.webhooks_rejected.labels(reason="too_large").inc()
        return web.json_response({"error": f"body over {limit} bytes"}, status=413)
    intake = services.intake
    try:
        payload = await read_payload(request, limit)
    except TooLarge:
        metrics.webhooks_rejected.labels(reason="too_large").inc()
        return web.json_response({"error": f"body over {limit} bytes"}, status=413)
    except UnsupportedType as exc:
        result = await intake.reject(
            owner.user_id,
            f"unsupported content type {exc}: send multipart/form-data",
            http_status=415,
        )
        return web.json_response({"error": result.message, "id": result.log_id}, status=415)
    except InvalidInputError as exc:
        result = await intake.reject(owner.user_id, str(exc))
        return web.json_response({"error": result.message, "id": result.log_id}, status=400)
    result = await intake.accept(owner.user_id, owner.config, payload)
    if result.http_status != 200:
        return web.json_response(
            {"error": result.message, "id": result.log_id}, status=result.http_status
        )
    return web.json_response(
        {"status": result.status, "id": result.log_id, "detail": result.message}
    )
