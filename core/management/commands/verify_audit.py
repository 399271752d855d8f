"""Prove the audit trail is intact: every entry's hash and its link to the previous one."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.audit import audit_verify
from core.models import AuditEntry


class Command(BaseCommand):
    help = "Verify the hash chain of the audit trail; exit 1 listing entries that were altered."

    def handle(self, *args, **options) -> None:
        broken = audit_verify()
        total = AuditEntry.objects.count()
        if broken:
            raise CommandError(
                f"audit trail altered: {len(broken)} of {total} entries fail verification "
                f"(first ids: {', '.join(map(str, broken[:20]))})"
            )
        self.stdout.write(self.style.SUCCESS(f"audit trail intact: {total} entries verified"))
