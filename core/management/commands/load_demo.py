"""Load the demo club, idempotently: run it as often as you like, it converges."""

from __future__ import annotations

from importlib import import_module

from django.core.management.base import BaseCommand
from django.db import transaction

# Each app contributes its own demo data, in dependency order.
DEMO_MODULES = ["members.demo", "loyalty.demo", "partners.demo", "community.demo"]


class Command(BaseCommand):
    help = "Create or update the demo club (tiers, members, pages, staff logins)."

    def handle(self, *args, **options) -> None:
        logins: list[str] = []
        for module_name in DEMO_MODULES:
            module = import_module(module_name)
            with transaction.atomic():
                logins += module.load() or []
        self.stdout.write(self.style.SUCCESS("Demo data is in place."))
        for line in logins:
            self.stdout.write(f"  {line}")
