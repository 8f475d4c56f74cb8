"""The load generator, run as its own process: `python bench/_sender.py REQUESTS OUT URL C`.

REQUESTS is a pickle of [(query_secret, body, content_type), ...] built beforehand, so no
payload is encoded while the clock runs. C workers share one index and send each request
once; OUT gets a pickle with, per request, its send time (wall clock, comparable with the
database's timestamps on this machine), answer latency, HTTP status and the log id answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import sys
import time

import aiohttp


async def send_all(
    requests: list[tuple[str, bytes, str]], url: str, concurrency: int
) -> tuple[list[tuple[float, float, int, int | None]], float]:
    results: list[tuple[float, float, int, int | None]] = [(0.0, 0.0, 0, None)] * len(requests)
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(requests):
                i = next_index
                next_index += 1
                secret, body, ctype = requests[i]
                sent_wall = time.time()
                started = time.perf_counter()
                try:
                    async with session.post(
                        url, params={"secret": secret}, data=body, headers={"Content-Type": ctype}
                    ) as resp:
                        text = await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    results[i] = (sent_wall, time.perf_counter() - started, 0, None)
                    continue
                latency = time.perf_counter() - started
                log_id = None
                if status == 200:
                    with contextlib.suppress(ValueError):
                        log_id = json.loads(text).get("id")
                results[i] = (sent_wall, latency, status, log_id)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return results, time.perf_counter() - started


def main() -> None:
    requests_path, out_path, url, concurrency = sys.argv[1:5]
    with open(requests_path, "rb") as f:
        requests = pickle.load(f)
    results, wall = asyncio.run(send_all(requests, url, int(concurrency)))
    with open(out_path, "wb") as f:
        pickle.dump({"results": results, "wall": wall}, f)


if __name__ == "__main__":
    main()
