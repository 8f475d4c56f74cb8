"""The floor: a bare aiohttp server whose one handler reads a multipart body and answers 200.

Run by bench/webhook_load.py as a separate process (`python bench/_floor.py PORT`), so the
daemon's figures can be read as ratios to what this machine does with no work at all.
"""

from __future__ import annotations

import sys

from aiohttp import BodyPartReader, web


async def handler(request: web.Request) -> web.Response:
    # Read every part to the end, as the daemon does (payload kept, thumb read and dropped).
    reader = await request.multipart()
    size = 0
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
    return web.json_response({"status": "ok", "bytes": size})


def main() -> None:
    port = int(sys.argv[1])
    app = web.Application()
    app.router.add_post("/api/plex/webhook", handler)
    app.router.add_get("/healthz", lambda _r: web.json_response({"status": "ok"}))  # type: ignore[arg-type,return-value]
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
