"""Keep credentials out of third-party log lines.

httpx logs every request at INFO as ``HTTP Request: GET <full URL> "HTTP/1.1 200 OK"``;
with a TMDB v3 key that URL holds ``api_key=…``. The composition root should either set
the ``httpx`` logger to WARNING or attach this filter to the handler(s):

    handler.addFilter(RedactSecretsFilter())
"""

from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(r"(?i)\b(api_key|x-plex-token|access_token|token)=([^&\s\"'#]+)")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")


def redact(text: str) -> str:
    """``text`` with secret-looking query values and bearer tokens replaced by ``***``."""
    text = _SECRET_PARAMS.sub(r"\1=***", text)
    return _BEARER.sub(r"\1 ***", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message with :func:`redact`; never drops records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
