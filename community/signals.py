"""Adapters from Wagtail's publishing signal to our tasks (no business rules here)."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver
from wagtail.signals import page_published

from community.models import GatedPage


@receiver(page_published)
def announce_on_publish(sender, instance, **kwargs):
    if isinstance(instance, GatedPage):
        from community.tasks import announce_item

        page_id = instance.pk
        transaction.on_commit(lambda: announce_item.delay(page_id))
