"""Tasks enqueued on commit run in a real Celery worker; rolled-back work never runs."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from core.models import WorkerHeartbeat
from core.tasks import record_worker_heartbeat
from tests.conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_task_enqueued_on_commit_is_executed_by_a_real_worker(celery_worker_process):
    token = uuid.uuid4().hex
    with transaction.atomic():
        transaction.on_commit(lambda: record_worker_heartbeat.delay(token))
        assert not WorkerHeartbeat.objects.filter(token=token).exists()

    assert wait_until(lambda: WorkerHeartbeat.objects.filter(token=token).exists(), timeout=30)


def test_task_of_a_rolled_back_transaction_never_runs(celery_worker_process):
    rolled_back, committed = uuid.uuid4().hex, uuid.uuid4().hex

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        transaction.on_commit(lambda: record_worker_heartbeat.delay(rolled_back))
        raise Abort
    # A later committed task proves the worker is alive and has drained the queue in order.
    with transaction.atomic():
        transaction.on_commit(lambda: record_worker_heartbeat.delay(committed))

    assert wait_until(lambda: WorkerHeartbeat.objects.filter(token=committed).exists(), timeout=30)
    assert not WorkerHeartbeat.objects.filter(token=rolled_back).exists()
