"""Keep credentials out of log lines, whoever writes them.

httpx logs every request at INFO as ``HTTP Request: GET <full URL> "HTTP/1.1 200 OK"``;
with a TMDB v3 key that URL holds ``api_key=…``. aiohttp logs a request it can't parse at
ERROR with the raw bytes in the exception text: a webhook URL (``secret=…``), an
``Authorization`` or ``X-Plex-Token`` header. The composition root attaches this filter to
the handler(s); it rewrites the message, the arguments, the exception text and the stack:

    handler.addFilter(RedactSecretsFilter())
"""

from __future__ import annotations

import logging
import re
import traceback

# A value ends at whitespace, a quote, '&', '#' or a backslash (a repr()'d "\r\n").
_VALUE = r"""[^&\s"'#\\,;]+"""
_SECRET_PARAMS = re.compile(
    r"(?i)\b(api_key|x-plex-token|access_token|token|secret|webhook_secret|plex_token|password)="
    + _VALUE
)
# "Authorization: Bearer abc", "authorization': 'Basic abc" (a repr'd dict), "X-Plex-Token: abc"
_SECRET_HEADERS = re.compile(
    r"""(?i)\b(authorization|x-plex-token|proxy-authorization|x-api-key)(['"]?\s*:\s*['"]?)"""
    r"""(?:(bearer|basic|token)\s+)?[^\s"'\\,;]+"""
)
# A cookie header's whole value (a session cookie in front of a proxy is a credential).
_COOKIES = re.compile(r"""(?i)\b((?:set-)?cookie['"]?\s*:\s*['"]?)[^\r\n"'\\]+""")
# Our own API tokens are recognisable wherever they appear (the prefix is there for this).
_API_TOKEN = re.compile(r"\bptk_[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
# JSON and dict reprs: "plex_token": "abc", 'secret': 'abc'
_SECRET_KEYS = re.compile(
    r"""(?i)(["'](?:plex_token|token|secret|webhook_secret|api_key|password)["']\s*:\s*)"""
    r"""(["'])(?:(?!\2).)*\2"""
)


def redact(text: str) -> str:
    """``text`` with secret-looking query values, headers, JSON fields and bearer tokens
    replaced by ``***``."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)
    text = _SECRET_HEADERS.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) + ' ' if m.group(3) else ''}***", text
    )
    text = _BEARER.sub(r"\1 ***", text)
    text = _COOKIES.sub(lambda m: f"{m.group(1)}***", text)
    text = _API_TOKEN.sub("ptk_***", text)
    return _SECRET_KEYS.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(2)}", text)


class RedactSecretsFilter(logging.Filter):
    """Redacts each record's message (with its arguments), exception text and stack; never
    drops a record. The exception is rendered here once, redacted, and the traceback object
    dropped, so no formatter downstream can print the raw one."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: show it as given, still redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
