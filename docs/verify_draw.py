#!/usr/bin/env python3
"""Check a club draw from its published record, with nothing but Python's standard library.

    python3 verify_draw.py https://club.example.com/community/draws/42/draw.json
    python3 verify_draw.py draw.json

It checks that SHA-256 of the revealed seed is the commitment published before entries opened,
that the entry list matches its digest, and recomputes the draw order and the winners from the
entry list and the seed. The algorithm (docs/community.md, "Draws"):

    for round r = 0, 1, 2, ... while entries remain:
        W = sum of the weights of the remaining entries
        x = int(HMAC-SHA256(key=seed bytes, msg="round:<r>"), big-endian) mod W
        walk the remaining entries in published order adding up weights;
        the first entry whose running sum exceeds x is drawn next and leaves the draw.

The first ``units`` entries drawn win; the others form the waiting list in draw order.
Exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import urllib.request


def draw_order(seed_hex: str, entries: list[tuple[str, int]]) -> list[str]:
    key = bytes.fromhex(seed_hex)
    remaining = list(entries)
    order = []
    round_index = 0
    while remaining:
        total = sum(weight for _entry, weight in remaining)
        digest = hmac.new(key, f"round:{round_index}".encode("ascii"), hashlib.sha256).digest()
        x = int.from_bytes(digest, "big") % total
        running = 0
        for index, (entry, weight) in enumerate(remaining):
            running += weight
            if x < running:
                order.append(entry)
                del remaining[index]
                break
        round_index += 1
    return order


def verify(record: dict) -> list[str]:
    """The problems found in a published draw record (empty when it checks out)."""
    problems = []
    seed = record.get("seed")
    if not seed:
        return ["the seed has not been revealed yet (the draw has not run)"]
    if hashlib.sha256(bytes.fromhex(seed)).hexdigest() != record["commitment"]:
        problems.append("SHA-256 of the seed is not the published commitment")
    entries = [(item["entry"], int(item["weight"])) for item in record["entries"]]
    listed = json.dumps([[entry, weight] for entry, weight in entries], separators=(",", ":"))
    if hashlib.sha256(listed.encode("ascii")).hexdigest() != record["entries_digest"]:
        problems.append("the entry list does not match its published digest")
    order = draw_order(seed, entries)
    if order != record["order"]:
        problems.append("the published draw order differs from the recomputed one")
    if order[: record["units"]] != record["winners"]:
        problems.append("the published winners differ from the recomputed ones")
    return problems


def load(source: str) -> dict:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310
            return json.load(response)
    with open(source, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    record = load(argv[1])
    problems = verify(record)
    for problem in problems:
        print("FAIL:", problem)
    if not problems:
        winners = ", ".join(record["winners"]) or "(none)"
        print(f"OK: {len(record['entries'])} entries, {record['units']} won: {winners}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
