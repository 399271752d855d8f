"""Check a draw as an outsider would: from its published record alone.

    manage.py verify_draw <item id>

Recomputes the draw order from the published entry list and the revealed seed (the record
``/community/draws/<item id>/draw.json`` serves) and checks it against the commitment, the
entry digest and the published winners. docs/verify_draw.py does the same without Django.
"""

from __future__ import annotations

import hashlib

from django.core.management.base import BaseCommand, CommandError
from wagtail.models import Page

from community.participation import selectors, services


class Command(BaseCommand):
    help = "Recompute a draw's winners from its published record and check them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("item_id", type=int)

    def handle(self, *args, item_id: int, **options) -> None:
        page = Page.objects.filter(pk=item_id).first()
        record = selectors.draw_record(page.specific) if page is not None else None
        if record is None:
            raise CommandError(f"item {item_id} has no draw")
        if not record["seed"]:
            raise CommandError("the draw has not run yet: the seed is still secret")
        problems = []
        if hashlib.sha256(bytes.fromhex(record["seed"])).hexdigest() != record["commitment"]:
            problems.append("SHA-256 of the seed is not the published commitment")
        entries = [(item["entry"], item["weight"]) for item in record["entries"]]
        if services.entries_digest(entries) != record["entries_digest"]:
            problems.append("the entry list does not match its digest")
        order = services.draw_order(record["seed"], entries)
        if order != record["order"] or order[: record["units"]] != record["winners"]:
            problems.append("the recomputed order or winners differ from the published ones")
        if problems:
            raise CommandError("; ".join(problems))
        self.stdout.write(
            f"OK: {len(entries)} entries, {record['units']} won: {', '.join(record['winners'])}"
        )
