"""A streaming multipart/form-data reader that keeps one named part and drops the rest.

Written for the webhook rather than using aiohttp's reader: every way a body can be wrong
(a bad header line, a body cut short, too many parts or header bytes) must become one
error we can answer 400 with, and a hostile body must cost bounded time. aiohttp's reader
raises half a dozen exception types from its internals, reads a part's headers line by
line before anyone can count them, and walks a preamble line by line. Here the boundary
is found with `bytes.find` over chunks, every byte is counted against the body limit, and
the number of parts and of header bytes are capped (Plex sends two parts, `payload` and
`thumb`, with a few hundred bytes of headers).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message

from core.errors import InvalidInputError

MAX_PARTS = 32
MAX_HEADER_BYTES = 16 * 1024  # all parts' header blocks together
MAX_PREAMBLE_BYTES = 1024

# RFC 7230 token characters for a header name; a value is visible ASCII, Latin-1 bytes
# (RFC 7578 filenames), spaces and tabs: no other control character, no bare CR.
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_NAME_PARAM = re.compile(r'(?:^|;)\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.I)


class BodyTooLarge(Exception):
    """The body passed the size limit (answer 413)."""


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type, checked (RFC 2046)."""
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
        raise InvalidInputError("multipart body without a valid boundary parameter")
    return boundary


def _part_name(content_disposition: str) -> str | None:
    found = _NAME_PARAM.search(content_disposition)
    if found is None:
        return None
    quoted, bare = found.groups()
    return re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare


@dataclass
class _Headers:
    name: str | None = None
    nested: bool = False


def _parse_headers(block: bytes) -> _Headers:
    """One part's header block (without the blank line that ends it)."""
    headers = _Headers()
    for raw in block.split(b"\n") if block else ():
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line[:1] in (b" ", b"\t"):
            raise InvalidInputError("malformed multipart body: folded part header line")
        name, colon, value = line.partition(b":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise InvalidInputError(
                "malformed multipart body: part header line is not 'Name: value'"
            )
        if not _HEADER_VALUE.fullmatch(value):
            raise InvalidInputError("malformed multipart body: control character in a part header")
        text = value.decode("latin-1").strip()
        lowered = name.lower()
        if lowered == b"content-disposition":
            headers.name = _part_name(text)
        elif lowered == b"content-type" and text.lower().startswith("multipart/"):
            headers.nested = True
    return headers


class _Stream:
    """The body as a buffer refilled from `read`, every byte counted against `limit`."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], limit: int) -> None:
        self._read = read
        self._limit = limit
        self.used = 0
        self.buf = b""
        self.eof = False

    async def more(self) -> bool:
        if self.eof:
            return False
        chunk = await self._read()
        if not chunk:
            self.eof = True
            return False
        self.used += len(chunk)
        if self.used > self._limit:
            raise BodyTooLarge
        self.buf += chunk
        return True

    async def fill(self, size: int) -> bool:
        """At least `size` bytes buffered, or False at the end of the body."""
        while len(self.buf) < size:
            if not await self.more():
                return False
        return True


_CUT = "malformed multipart body: it ends before its closing boundary"


async def read_form_field(
    read: Callable[[], Awaitable[bytes]],
    boundary: str,
    name: str,
    *,
    limit: int,
    max_parts: int = MAX_PARTS,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> bytes | None:
    """The first part called `name` (None when there is none); every other part is read
    through and dropped. `read()` returns the next chunk of the body, b"" at its end.
    Raises InvalidInputError for a malformed body, BodyTooLarge past `limit` bytes."""
    stream = _Stream(read, limit)
    dash = b"--" + boundary.encode("ascii")
    delimiter = b"\r\n" + dash
    # Preamble: the body should open with the first boundary; tolerate a short preamble.
    while True:
        at = (b"\r\n" + stream.buf).find(delimiter)
        if at >= 0:
            stream.buf = stream.buf[at + len(dash) :]
            break
        if len(stream.buf) > MAX_PREAMBLE_BYTES:
            raise InvalidInputError("malformed multipart body: no opening boundary")
        if not await stream.more():
            raise InvalidInputError("malformed multipart body: no opening boundary")
    found: bytes | None = None
    parts = 0
    header_bytes = 0
    while True:
        # After a boundary: "--" closes the body; else optional padding, then CRLF.
        if not await stream.fill(2):
            raise InvalidInputError(_CUT)
        if stream.buf.startswith(b"--"):
            return found
        while True:
            end = stream.buf.find(b"\n")
            if end >= 0:
                break
            if len(stream.buf) > 256 or not await stream.more():
                raise InvalidInputError("malformed multipart body: bad boundary line")
        if stream.buf[:end].rstrip(b"\r").strip(b" \t"):
            raise InvalidInputError("malformed multipart body: bad boundary line")
        stream.buf = stream.buf[end + 1 :]
        parts += 1
        if parts > max_parts:
            raise InvalidInputError(f"multipart body has more than {max_parts} parts")
        # Headers: up to a blank line, within what is left of the header budget.
        budget = max_header_bytes - header_bytes
        while True:
            match = re.search(rb"(?:^|\n)\r?\n", stream.buf[: budget + 2])
            if match is not None:
                break
            if len(stream.buf) > budget:
                raise InvalidInputError(
                    f"multipart part headers over {max_header_bytes} bytes in one body"
                )
            if not await stream.more():
                raise InvalidInputError(_CUT)
        block = stream.buf[: match.start()]
        header_bytes += match.end()
        stream.buf = stream.buf[match.end() :]
        headers = _parse_headers(block)
        if headers.nested:
            raise InvalidInputError("nested multipart bodies are not supported")
        keep = found is None and headers.name == name
        kept = bytearray()
        # Data: up to the next CRLF--boundary; keep only the wanted part.
        while True:
            at = stream.buf.find(delimiter)
            if at >= 0:
                if keep:
                    kept += stream.buf[:at]
                stream.buf = stream.buf[at + len(delimiter) :]
                break
            safe = max(0, len(stream.buf) - len(delimiter) + 1)
            if keep:
                kept += stream.buf[:safe]
            stream.buf = stream.buf[safe:]
            if not await stream.more():
                raise InvalidInputError(_CUT)
        if keep:
            found = bytes(kept)
