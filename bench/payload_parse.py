"""What reading a webhook payload costs at intake, per payload shape of the test corpus.

    python -m bench.payload_parse [--rounds 2000]

For each file in tests/corpus/ (Plex's own payloads, relays, non-finite numbers, …):
CPU time per `parse_payload_for_storage` (JSON parse, jsonb check, liberal validation) and
per `scrobble_keys` (the normalised columns a queued scrobble carries). CPU time, not wall
time, so that other work on the machine moves the figures less.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import timeit
from pathlib import Path

from core.errors import InvalidInputError
from core.payload import parse_payload_for_storage, scrobble_keys

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus"


def _per_call(stmt: object, rounds: int) -> float:
    best = min(timeit.repeat(stmt, timer=time.process_time, number=rounds, repeat=5))  # type: ignore[arg-type]
    return best / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'payload':<52} {'bytes':>7} {'parse µs':>9} {'keys µs':>8}  outcome")
    for path in sorted(CORPUS.glob("*.json")):
        if path.name == "cases.json":
            continue
        body = path.read_bytes()
        try:
            hook = parse_payload_for_storage(body).hook
        except InvalidInputError as exc:
            outcome = f"400: {str(exc)[:40]}"
            hook = None
        parse = _per_call(lambda body=body: _try(body), args.rounds)
        keys = _per_call(lambda hook=hook: scrobble_keys(hook), args.rounds) if hook else 0.0
        if hook is not None:
            found = scrobble_keys(hook)
            outcome = f"keys: show {found.show_key}" if found else "no scrobble keys"
        print(f"{path.name:<52} {len(body):>7} {parse:>9.1f} {keys:>8.1f}  {outcome}")


def _try(body: bytes) -> None:
    with contextlib.suppress(InvalidInputError):
        parse_payload_for_storage(body)


if __name__ == "__main__":
    main()
