"""Adapters that copy Wagtail's own action log into our hash-chained audit trail.

Wagtail records page and snippet actions (create, edit, publish, unpublish, delete, workflow
steps, privacy changes) in its log tables; we mirror each entry so the one 留痕 trail covers
them too. No business rules here.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver
from wagtail.models import ModelLogEntry, PageLogEntry


@receiver(post_save, sender=PageLogEntry)
@receiver(post_save, sender=ModelLogEntry)
def mirror_wagtail_log_entry(sender, instance, created, **kwargs):
    if not created:
        return
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    from core.audit import audit_record

    # Wagtail's log data may hold datetimes (a scheduled go-live) and other non-JSON values:
    # stored as Wagtail's own JSON encoder would write them.
    data = json.loads(json.dumps(instance.data, cls=DjangoJSONEncoder, default=str))
    audit_record(
        action=f"wagtail.{instance.action}",
        actor=instance.user,
        target=f"{instance.content_type.app_label}.{instance.content_type.model}:"
        f"{instance.object_id}",
        after={"label": instance.label, "data": data, "revision": instance.revision_id},
        rule="" if instance.user_id else "wagtail",
    )
