"""Prove the audit trail is intact: every entry's HMAC and its link to the previous one, and the
chain against the newest signed checkpoint kept outside the database."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.audit import audit_check, audit_latest_checkpoint, audit_seal


class Command(BaseCommand):
    help = (
        "Seal, then verify the keyed hash chain of the audit trail against the newest signed "
        "checkpoint; exit 1 listing altered entries and what disagrees with the checkpoint."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--checkpoint",
            metavar="FILE",
            help="verify against this checkpoint (a JSON file, or a log line saved from the "
            "core.audit.checkpoint logger; '-' reads standard input) instead of the newest "
            "one in the checkpoint storage",
        )

    def handle(self, *args, checkpoint: str | None = None, **options) -> None:
        audit_seal()  # chain what ended transactions wrote, so little is left pending
        if checkpoint:
            text = self.stdin.read() if checkpoint == "-" else Path(checkpoint).read_text()
            signed = _checkpoint_from_text(text)
        else:
            signed = audit_latest_checkpoint()
        result = audit_check(checkpoint=signed)
        total = result.sealed + result.pending
        problems = []
        if result.broken:
            problems.append(
                f"audit trail altered: {len(result.broken)} of {total} entries fail verification "
                f"(first ids: {', '.join(map(str, result.broken[:20]))})"
            )
        problems += [f"checkpoint: {problem}" for problem in result.checkpoint_problems]
        if problems:
            raise CommandError("\n".join(problems))
        against = (
            f"; matches the checkpoint of {signed['created_at']} ({signed['sealed']} entries)"
            if signed
            else "; no checkpoint yet"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"audit trail intact: {result.sealed} entries verified"
                f", {result.pending} pending (written by transactions still open){against}"
            )
        )


def _checkpoint_from_text(text: str) -> dict:
    """A checkpoint from a file or a log line: the JSON object itself, or a JSON log record
    whose message is that object."""
    for line in reversed([line for line in text.splitlines() if line.strip()] or [text]):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("kind") == "audit-checkpoint":
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            try:
                inner = json.loads(value["message"])
            except ValueError:
                continue
            if isinstance(inner, dict) and inner.get("kind") == "audit-checkpoint":
                return inner
    raise CommandError("no audit checkpoint found in the given text")
