"""Scheduled jobs and the demo partner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from config.celery import app as celery_app
from partners import demo
from partners.models import PartnerKey, PartnerRequest
from partners.services import partner_requests_prune
from tests.partners.conftest import PartnerClient

pytestmark = pytest.mark.django_db


def test_stored_answers_are_forgotten_after_30_days(partner_client, linked):
    partner_client.post(f"/members/{linked.public_id}/accruals", {"amount": 5}, key="old")
    partner_client.post(f"/members/{linked.public_id}/accruals", {"amount": 5}, key="new")
    PartnerRequest.objects.filter(idempotency_key="old").update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert partner_requests_prune() == 1
    assert list(PartnerRequest.objects.values_list("idempotency_key", flat=True)) == ["new"]


def test_partner_jobs_are_scheduled_and_registered():
    celery_app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in ("loyalty.expire_partner_holds", "partners.prune_requests"):
        assert task in names and task in celery_app.tasks


def test_the_demo_partner_loads_twice_and_its_key_signs(tiers):
    assert demo.load() == demo.load()
    key = PartnerKey.objects.get()
    response = PartnerClient(key.key_id, demo.DEMO_SECRET).get("/link-requests/1")
    assert response.status_code == 404  # signed and accepted; there is no such request yet
