"""aiohttp's report of a request it could not parse, as one short line.

aiohttp logs every malformed request (a bad header byte, a line over 8 KB, a broken
chunked body) at ERROR with a traceback and the offending bytes quoted twice: about 16 KB
per request, which anyone can send as fast as they like, and which reads like a crash of
ours. It is the client's mistake, already answered 400: one INFO line saying who and
what, with at most a short excerpt of what was sent (the redaction filter still runs on
it, so no secret is quoted either).
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

EXCERPT_CHARS = 120


class MalformedRequestLine(logging.Filter):
    """On the `aiohttp.server` logger: rewrites its "Error handling request" records whose
    exception is an HTTP parsing error; leaves every other record as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        what = " ".join(str(exc.message).split())  # no line breaks from the request
        if len(what) > EXCERPT_CHARS:
            what = what[:EXCERPT_CHARS] + "…"
        record.msg = "malformed HTTP request from %s answered %s: %s"
        record.args = (peer, exc.code, what)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def shorten_malformed_request_logs() -> None:
    """Install the filter once (idempotent: the composition root may run more than once in
    one process, as the tests do)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestLine) for f in logger.filters):
        logger.addFilter(MalformedRequestLine())
