"""Prove that every member's cached points equal the ledger: ``manage.py reconcile_points``.

Exits with status 1 and lists every discrepancy when one is found, so cron, CI or an operator's
shell notices. The same check runs nightly as the ``loyalty.reconcile`` beat task.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from loyalty.models import PointsAccount
from loyalty.selectors import reconcile


class Command(BaseCommand):
    help = "Check balance = Σ entries = Σ lots (and pending, lifetime, lots, redemptions)."

    def handle(self, *args, **options) -> None:
        found = reconcile()
        accounts = PointsAccount.objects.count()
        if not found:
            self.stdout.write(self.style.SUCCESS(f"OK: {accounts} accounts reconcile."))
            return
        for discrepancy in found:
            self.stderr.write(str(discrepancy))
        self.stderr.write(self.style.ERROR(f"{len(found)} discrepancies in {accounts} accounts."))
        sys.exit(1)
