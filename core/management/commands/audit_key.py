"""Print an audit key for ``AUDIT_KEYS``: a new random one, or the one derived from SECRET_KEY."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from core.audit import DERIVED_KEY_ID, audit_derived_key, audit_keys


class Command(BaseCommand):
    help = (
        "Print an AUDIT_KEYS entry (id:base64key): 'new' makes a random 32-byte key; 'derived' "
        "prints the key derived from SECRET_KEY, to keep verifying entries sealed with it after "
        "AUDIT_KEYS is set."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("which", choices=["new", "derived"])
        parser.add_argument("--id", default="", help="key id for 'new' (default: k + date)")

    def handle(self, *args, which: str, id: str, **options) -> None:
        if which == "derived":
            key = audit_derived_key(settings.SECRET_KEY)
            key_id = DERIVED_KEY_ID
        else:
            key = secrets.token_bytes(32)
            key_id = id or f"k{timezone.localdate():%Y%m%d}"
            if key_id in audit_keys():
                self.stderr.write(f"note: {key_id} is already in AUDIT_KEYS; pick another --id")
        self.stdout.write(f"{key_id}:{base64.b64encode(key).decode()}")
