"""Adapters that copy Wagtail's own action log into our hash-chained audit trail.

Wagtail records page and snippet actions (create, edit, publish, unpublish, delete, workflow
steps, privacy changes) in its log tables; we mirror each entry so the one 留痕 trail covers
them too. No business rules here.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver
from wagtail.models import ModelLogEntry, PageLogEntry

from core.audit import AuditTarget, audit_record


@receiver(post_save, sender=PageLogEntry)
@receiver(post_save, sender=ModelLogEntry)
def mirror_wagtail_log_entry(sender, instance, created, **kwargs):
    if not created:
        return
    content_type = instance.content_type
    model = content_type.model_class()
    # The object's label (a page title, a user's name) goes to the pseudonym mapping; the data
    # Wagtail logged (datetimes of a scheduled go-live, ...) is made plain JSON by audit_record.
    audit_record(
        action=f"wagtail.{instance.action}",
        actor=instance.user,
        target=AuditTarget(
            type=model._meta.label if model else f"{content_type.app_label}.{content_type.model}",
            id=str(instance.object_id),
            label=str(instance.label or ""),
        ),
        after={"data": instance.data or {}, "revision": instance.revision_id},
        rule="" if instance.user_id else "wagtail",
    )
