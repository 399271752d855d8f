"""System checks for settings that only matter in production (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from core.audit import AuditKeyError, audit_current_key_id


@register(Tags.security, deploy=True)
def audit_keys_check(app_configs, **kwargs) -> list:
    """The audit chain must be sealed with a key of its own, not one derived from SECRET_KEY:
    whoever learns SECRET_KEY (or rotates it) would otherwise rewrite or break the chain."""
    try:
        audit_current_key_id()
    except AuditKeyError as error:
        return [Error(str(error), id="core.E001")]
    if not getattr(settings, "AUDIT_KEYS", ""):
        return [
            Warning(
                "AUDIT_KEYS is not set: the audit chain is sealed with a key derived from "
                "SECRET_KEY.",
                hint="Set AUDIT_KEYS (python manage.py audit_key new) and keep it apart from "
                "the database; see docs/operations.md.",
                id="core.W001",
            )
        ]
    return []
